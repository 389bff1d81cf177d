/**
 * A service's secrets and configs (FileReference, src/api/secrets.ts), as users write them and as the one validation
 * checks them (pure). The CLI's `--secret`/`--config` flags and the compose loader parse with `parseFileReference`;
 * a request's partial references get docker's defaults with `withFileRefDefaults`; `fileRefProblems` is part of
 * validateServiceSpec; `fileRefPath` is where a reference's file appears in the task's container.
 *
 * Docker's rules (docker/cli opts/secret.go and opts/config.go): `NAME` alone, or `source=NAME,target=…,uid=…,gid=…,
 * mode=…` (`src` for source; mode read as Go's ParseUint base 0: `0400` and `0o400` octal, `400` decimal). Defaults:
 * target = the name, uid and gid "0", mode 0444. A secret's relative target is a file under /run/secrets; a config's
 * is relative to `/`; an absolute one is used as it is. Two references of one service may not share a file path.
 */
import { ConfigError } from '../base/errors.ts'
import type { FileReference } from './secrets.ts'

export type FileRefKind = 'secret' | 'config'

/** Where a secret with a relative target appears in a container. */
export const SECRETS_DIR = '/run/secrets'
/** docker's default file mode for secrets and configs. */
export const DEFAULT_FILE_MODE = 0o444

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Go's strconv.ParseUint(text, 0, 32) for the small numbers a mode is: `0o…`/`0…` octal, `0x…` hex, `0b…` binary, else decimal. */
function parseMode(text: string): number | null {
  const s = text.trim().toLowerCase()
  const m = /^(?:0x([0-9a-f]+)|0b([01]+)|0o?([0-7]+)|([1-9][0-9]*|0))$/.exec(s)
  if (!m) return null
  if (m[1] !== undefined) return parseInt(m[1], 16)
  if (m[2] !== undefined) return parseInt(m[2], 2)
  if (m[3] !== undefined) return parseInt(m[3], 8)
  return Number(m[4])
}

/** Docker's defaults for a reference to `name`: target the name, uid/gid "0", mode 0444; id filled by the manager. */
export function defaultFileRef(name: string): FileReference {
  return { id: '', name, target: name, uid: '0', gid: '0', mode: DEFAULT_FILE_MODE }
}

/** `--secret db` or `--secret source=db,target=pw,uid=33,gid=33,mode=0400` (likewise `--config`) → a reference (id ''). */
export function parseFileReference(text: string, kind: FileRefKind): FileReference {
  const flag = `--${kind}`
  const s = text.trim()
  if (s === '') throw new ConfigError(`${flag} "": want NAME or source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444]`)
  if (!s.includes('=') && !s.includes(',')) return defaultFileRef(s)
  const ref = defaultFileRef('')
  let target: string | undefined
  for (const field of s.split(',')) {
    const i = field.indexOf('=')
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase()
    if (i <= 0) throw new ConfigError(`${flag} "${text}": invalid field "${field}": must be a key=value pair`)
    const value = field.slice(i + 1).trim()
    switch (key) {
      case 'source': case 'src': ref.name = value; break
      case 'target': target = value; break
      case 'uid': ref.uid = value; break
      case 'gid': ref.gid = value; break
      case 'mode': {
        const mode = parseMode(value)
        if (mode === null) throw new ConfigError(`${flag} "${text}": invalid mode "${value}" (want e.g. 0444 or 0o400)`)
        ref.mode = mode
        break
      }
      default: throw new ConfigError(`${flag} "${text}": unknown field "${key}" (use source, target, uid, gid, mode)`)
    }
  }
  if (ref.name === '') throw new ConfigError(`${flag} "${text}": source is required`)
  ref.target = target === undefined || target === '' ? ref.name : target
  return ref
}

/**
 * A request's references with docker's defaults filled in where a field is missing (a client may send only
 * `{name}`); anything that is not a list of objects is returned as it is, for the validation to refuse.
 */
export function withFileRefDefaults(list: unknown): unknown {
  if (!Array.isArray(list)) return list
  return list.map((r) => (isObject(r) && typeof r.name === 'string' ? { ...defaultFileRef(r.name), ...stripUndefined(r) } : r))
}

function stripUndefined(r: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined && v !== null))
}

/** The file's absolute path in the container: a secret's relative target under /run/secrets, a config's under `/`. */
export function fileRefPath(kind: FileRefKind, target: string): string {
  if (target.startsWith('/')) return target
  return kind === 'secret' ? `${SECRETS_DIR}/${target}` : `/${target}`
}

/** The problems of one reference's own fields (shape already checked). */
function refProblems(kind: FileRefKind, r: FileReference): string[] {
  const p: string[] = []
  const what = `${kind} "${r.name}"`
  if (r.name === '') p.push(`${kind} reference: name must not be empty`)
  if (r.target === '') p.push(`${what}: target must not be empty`)
  // eslint-disable-next-line no-control-regex
  else if (/[\u0000-\u001f]/.test(r.target)) p.push(`${what}: target must not contain control characters`)
  else if (r.target.split('/').includes('..')) p.push(`${what}: target "${r.target}" must not contain ".."`)
  else if (r.target === '/' || r.target.endsWith('/')) p.push(`${what}: target "${r.target}" must name a file`)
  for (const [k, v] of [['uid', r.uid], ['gid', r.gid]] as const) {
    if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) p.push(`${what}: ${k} "${v}" must be a number`)
  }
  if (!Number.isInteger(r.mode) || r.mode < 0 || r.mode > 0o777) p.push(`${what}: mode ${r.mode} must be a file mode between 0 and 0777`)
  return p
}

/**
 * Everything wrong with a spec's `secrets` and `configs` (one message each): the shape (a list of {name, target,
 * uid, gid, mode}), each field, and two references that would put files at one path (swarmkit refuses the same).
 */
export function fileRefProblems(spec: { secrets?: unknown; configs?: unknown }): string[] {
  const p: string[] = []
  const paths = new Map<string, string>()
  for (const kind of ['secret', 'config'] as const) {
    const list = kind === 'secret' ? spec.secrets : spec.configs
    if (list === undefined) continue
    const shaped = Array.isArray(list) && list.every((r) => isObject(r) && typeof r.id === 'string' && typeof r.name === 'string' &&
      typeof r.target === 'string' && typeof r.uid === 'string' && typeof r.gid === 'string' && typeof r.mode === 'number')
    if (!shaped) {
      p.push(`${kind}s must be a list of {name, target, uid, gid, mode}`)
      continue
    }
    for (const r of list as FileReference[]) {
      const own = refProblems(kind, r)
      p.push(...own)
      if (own.length > 0) continue
      const path = fileRefPath(kind, r.target)
      const other = paths.get(path)
      if (other) p.push(`${other} and ${kind} "${r.name}" have a conflicting target: ${path}`)
      else paths.set(path, `${kind} "${r.name}"`)
    }
  }
  return p
}
