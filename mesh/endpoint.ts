import { parseHostUrls, type HostUrl } from '../src/api/index.ts'
import { ConfigError } from '../src/base/errors.ts'
import { ContextError, DEFAULT_CONTEXT, checkContextName, type StoredContext } from './context-store.ts'

/**
 * Which manager/agent a command talks to, decided as docker decides it (pure: the environment and the stored
 * contexts come in):
 *   1. `--context NAME` (with `--host` too: docker's "conflicting options" error)
 *   2. `--host URL` / MESH_HOST      → the `default` context with that host
 *   3. MESH_CONTEXT
 *   4. the current context (`mesh context use`, in <config-dir>/config.json)
 *   5. `default`: MESH_HOST if set, else the local sockets under MESH_DATA_DIR (/var/lib/mesh)
 * The global flags become the environment of this one run (globalOptionsEnv), so everything below reads one place.
 */

export interface Endpoint {
  /** The context that decided (`default` when none did). */
  context: string
  /** The remote host (the first of `hosts`); undefined: this host's sockets. */
  host?: HostUrl
  /** Every remote host, in the order they are tried: several tcp:// managers (`tcp://a:7947,tcp://b:7947`), else one. */
  hosts?: HostUrl[]
  /** The admin client bundle for a tcp:// host (a context's copy, or MESH_CERT_PATH). */
  certPath?: string
}

/** What resolveEndpoint needs of the store. */
export interface ContextReader {
  get(name: string): StoredContext | undefined
  current(): string
}

/** The environment with `--host`/`--context` applied, as DOCKER_HOST/DOCKER_CONTEXT would be. */
export function globalOptionsEnv(o: { host?: string; context?: string }, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (o.host !== undefined && o.context !== undefined) throw new ConfigError('conflicting options: either specify --host or --context, not both')
  const out = { ...env }
  if (o.host !== undefined) {
    parseHostUrls(o.host, '--host')
    out.MESH_HOST = o.host
    delete out.MESH_CONTEXT
  }
  if (o.context !== undefined) {
    checkContextName(o.context)
    out.MESH_CONTEXT = o.context
    // the default context is "MESH_HOST or the local sockets": an explicit other context replaces MESH_HOST
    if (o.context !== DEFAULT_CONTEXT) delete out.MESH_HOST
  }
  return out
}

/** The name of the context in effect and what selected it (for messages). */
export function contextName(env: NodeJS.ProcessEnv, store: ContextReader): { name: string; by: string } {
  if (env.MESH_HOST) return { name: DEFAULT_CONTEXT, by: 'MESH_HOST' }
  if (env.MESH_CONTEXT) return { name: env.MESH_CONTEXT, by: 'MESH_CONTEXT or --context' }
  return { name: store.current(), by: 'mesh context use' }
}

export function resolveEndpoint(env: NodeJS.ProcessEnv, store: ContextReader): Endpoint {
  const { name, by } = contextName(env, store)
  if (name === DEFAULT_CONTEXT) {
    if (!env.MESH_HOST) return { context: name }
    return { context: name, ...remote(parseHostUrls(env.MESH_HOST, 'MESH_HOST')), ...(env.MESH_CERT_PATH ? { certPath: env.MESH_CERT_PATH } : {}) }
  }
  const c = store.get(name)
  if (!c) {
    const fix = by === 'mesh context use' ? ' (it is the current context: `mesh context use default` or create it)' : ''
    throw new ContextError(`context "${name}": no such context${fix}`)
  }
  const url = c.Endpoints.mesh.Host
  if (!url) throw new ContextError(`context "${name}" has no mesh endpoint: remove it and create it again with --host`)
  return { context: name, ...remote(parseHostUrls(url, `context "${name}": host`)), ...(c.tlsDir ? { certPath: c.tlsDir } : {}) }
}

function remote(hosts: HostUrl[]): { host: HostUrl; hosts: HostUrl[] } {
  return { host: hosts[0] as HostUrl, hosts }
}
