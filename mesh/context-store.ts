import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { MeshError } from '../src/base/errors.ts'
import { readJsonState, writeFileAtomic } from '../src/base/state-file.ts'
import { parseHostUrls } from '../src/api/index.ts'

/**
 * The CLI's contexts (`mesh context …`), stored as docker stores its own under ~/.docker:
 *   <config-dir>/config.json                                   {"currentContext": "prod"}  (absent: `default`)
 *   <config-dir>/contexts/meta/<sha256(name)>/meta.json        {Name, Metadata: {Description}, Endpoints: {mesh: {Host}}}
 *     (Host: one URL, or several tcp:// managers comma-separated, tried in order when one does not answer)
 *   <config-dir>/contexts/tls/<sha256(name)>/mesh/ca.pem …     a tcp:// context's admin client bundle, copied in
 * <config-dir> is MESH_CONFIG_DIR, else ~/.mesh (as DOCKER_CONFIG, ~/.docker). Directories 0700, files 0600: a
 * context's key is an admin credential. `default` is built in (the local sockets, or MESH_HOST) and never stored.
 */

/** A context name or operation is refused (no such context, bad name, exists, in use). */
export class ContextError extends MeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MESH_ERR_CONTEXT', message, options)
  }
}

export const DEFAULT_CONTEXT = 'default'
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$/
const TLS_FILES = ['ca.pem', 'cert.pem', 'key.pem'] as const

/** docker's shape of `context inspect` (Endpoints.docker → Endpoints.mesh). */
export interface ContextMeta {
  Name: string
  Metadata: { Description?: string }
  Endpoints: { mesh: { Host?: string } }
}

export interface StoredContext extends ContextMeta {
  /** The admin client bundle's directory when the context has one (tcp://). */
  tlsDir?: string
}

/** The directory of the CLI's own files. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MESH_CONFIG_DIR || join(env.HOME || homedir(), '.mesh')
}

/** One ContextError line for a name docker would refuse too. */
export function checkContextName(name: string): void {
  if (name === '') throw new ContextError('context name cannot be empty')
  if (!NAME.test(name)) throw new ContextError(`context name "${name}" is invalid: names are letters, digits and _ . + - (first a letter or digit)`)
}

export class ContextStore {
  readonly dir: string

  constructor(dir: string) {
    this.dir = dir
  }

  #id(name: string): string {
    return createHash('sha256').update(name).digest('hex')
  }

  /** Where a context's meta.json is (docker: contexts/meta/<sha256 of the name>). */
  metaDir(name: string): string { return join(this.dir, 'contexts', 'meta', this.#id(name)) }
  /** Where a context's admin client bundle is. */
  tlsDir(name: string): string { return join(this.dir, 'contexts', 'tls', this.#id(name), 'mesh') }

  /** The context stored under `name`, or undefined. */
  get(name: string): StoredContext | undefined {
    const meta = readJsonState(join(this.metaDir(name), 'meta.json')) as ContextMeta | undefined
    if (!meta) return undefined
    const tlsDir = this.tlsDir(name)
    const hasTls = TLS_FILES.every((f) => { try { readFileSync(join(tlsDir, f)); return true } catch { return false } })
    return { ...meta, ...(hasTls ? { tlsDir } : {}) }
  }

  /** Every stored context, by name (natural order is the caller's). */
  list(): StoredContext[] {
    let ids: string[]
    try {
      ids = readdirSync(join(this.dir, 'contexts', 'meta'))
    } catch {
      return []
    }
    const out: StoredContext[] = []
    for (const id of ids) {
      const meta = readJsonState(join(this.dir, 'contexts', 'meta', id, 'meta.json')) as ContextMeta | undefined
      if (meta?.Name) out.push(this.get(meta.Name) ?? meta)
    }
    return out
  }

  /**
   * Store a new context. Checked first, written after: a bad name, a taken name, a host that does not parse or an
   * unreadable certificate file leaves nothing behind.
   */
  create(name: string, o: { host: string | readonly string[]; description?: string; tls?: { ca: string; cert: string; key: string } }): StoredContext {
    checkContextName(name)
    if (name === DEFAULT_CONTEXT) throw new ContextError(`context "${DEFAULT_CONTEXT}" is built in and cannot be created`)
    if (this.get(name)) throw new ContextError(`context "${name}" already exists`)
    const urls = parseHostUrls(typeof o.host === 'string' ? o.host : o.host.join(','))
    const url = urls[0] as (typeof urls)[number]
    if (o.tls && url.scheme !== 'tcp') throw new ContextError(`context "${name}": --tls-ca/--tls-cert/--tls-key are for tcp:// hosts; ${url.url} uses ssh's own keys`)
    if (url.scheme === 'tcp' && !o.tls) {
      throw new ContextError(`context "${name}": a tcp:// host needs the admin client bundle: --tls-ca DIR/ca.pem --tls-cert DIR/cert.pem --tls-key DIR/key.pem ` +
        '(made on a manager by `mesh ca issue-client NAME --out DIR`)')
    }
    const pem: Record<string, string> = {}
    if (o.tls) {
      for (const [file, path] of [['ca.pem', o.tls.ca], ['cert.pem', o.tls.cert], ['key.pem', o.tls.key]] as const) {
        try {
          pem[file] = readFileSync(path, 'utf8')
        } catch (err) {
          throw new ContextError(`context "${name}": cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err })
        }
      }
    }
    const host = urls.map((u) => u.url).join(',')
    const meta: ContextMeta = { Name: name, Metadata: o.description ? { Description: o.description } : {}, Endpoints: { mesh: { Host: host } } }
    mkdirSync(this.metaDir(name), { recursive: true, mode: 0o700 })
    if (o.tls) {
      mkdirSync(this.tlsDir(name), { recursive: true, mode: 0o700 })
      for (const f of TLS_FILES) writeFileAtomic(join(this.tlsDir(name), f), pem[f] as string, 0o600)
    }
    writeFileAtomic(join(this.metaDir(name), 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`, 0o600)
    return this.get(name) as StoredContext
  }

  /** Remove a stored context (its metadata and its certificates). */
  remove(name: string): void {
    rmSync(join(this.dir, 'contexts', 'tls', this.#id(name)), { recursive: true, force: true })
    rmSync(this.metaDir(name), { recursive: true, force: true })
  }

  /** The name config.json selects (`default` when none). */
  current(): string {
    const cfg = readJsonState(join(this.dir, 'config.json')) as { currentContext?: string } | undefined
    return cfg?.currentContext || DEFAULT_CONTEXT
  }

  /** Select a context for later commands (`default`: drop the selection). Other keys of config.json are kept. */
  setCurrent(name: string): void {
    const path = join(this.dir, 'config.json')
    const cfg = { ...(readJsonState(path) as Record<string, unknown> | undefined) }
    if (name === DEFAULT_CONTEXT) delete cfg.currentContext
    else cfg.currentContext = name
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    writeFileAtomic(path, `${JSON.stringify(cfg, null, 2)}\n`, 0o600)
  }
}
