import type { Command } from 'commander'
import { parseFileReference, type FileReference, type ServiceSpecRequest } from '../src/api/index.ts'

/**
 * The `mesh service create|update` flags for secrets and configs, as docker's: `--secret` / `--config` on create,
 * `--secret-add` / `--secret-rm` / `--config-add` / `--config-rm` on update. A value is `NAME` or
 * `source=NAME,target=PATH,uid=N,gid=N,mode=0444` (src/api/file-refs.ts parses it); `-rm` takes a name. They only
 * translate: the manager resolves names to ids (an unknown one is refused, nothing changed) and validates.
 */
export interface FileRefFlags {
  secret?: string[]
  secretAdd?: string[]
  secretRm?: string[]
  config?: string[]
  configAdd?: string[]
  configRm?: string[]
}

const many = (v: string, p: string[] = []) => p.concat(v)

export function fileRefOptions(c: Command, forUpdate: boolean): Command {
  const add = forUpdate ? '-add' : ''
  c.option(`--secret${add} <secret>`, 'give tasks a secret: NAME, or source=NAME,target=FILE,uid=0,gid=0,mode=0444 (a file under /run/secrets unless FILE is absolute; repeatable)', many)
  if (forUpdate) c.option('--secret-rm <name>', 'take a secret away from the tasks (repeatable)', many)
  c.option(`--config${add} <config>`, 'give tasks a config: NAME, or source=NAME,target=PATH,uid=0,gid=0,mode=0444 (default path /NAME; repeatable)', many)
  if (forUpdate) c.option('--config-rm <name>', 'take a config away from the tasks (repeatable)', many)
  return c
}

/**
 * Apply the flags to a spec request (pure). Create sets `secrets`/`configs` only when given; update removes the
 * named ones first, then adds (docker's order, so `--secret-rm old --secret-add new,target=old` swaps a file), and
 * sends the lists whole (`[]` when the last one goes).
 */
export function applyFileRefFlags(s: ServiceSpecRequest, f: FileRefFlags, forUpdate: boolean): void {
  for (const kind of ['secret', 'config'] as const) {
    const key = kind === 'secret' ? 'secrets' : 'configs'
    const added = ((forUpdate ? f[`${kind}Add`] : f[kind]) ?? []).map((v) => parseFileReference(v, kind))
    const removed = new Set(forUpdate ? f[`${kind}Rm`] ?? [] : [])
    if (added.length === 0 && removed.size === 0) continue
    const kept: FileReference[] = (s[key] ?? []).filter((r) => !removed.has(r.name))
    s[key] = [...kept, ...added]
  }
}
