import { join } from 'node:path'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { CONTROL_SOCKET, ManagerClient, SSH_REQUEST_TIMEOUT_MS, sshTarget, type AgentTarget, type ClientOptions } from '../src/api/index.ts'
import { ControlError } from '../src/base/errors.ts'
import { ContextStore, configDir } from './context-store.ts'
import { resolveEndpoint, type Endpoint } from './endpoint.ts'

/**
 * The CLI's connections. The manager API: src/api's ManagerClient for the endpoint in effect (mesh/endpoint.ts:
 * --context, --host, MESH_HOST, MESH_CONTEXT, the current context) — the local manager socket under MESH_DATA_DIR or
 * src/config's default data dir (/var/lib/mesh), `tcp://` with an admin client certificate (MESH_CERT_PATH or the
 * context's bundle; several, tried in order when one does not answer), or `ssh://` through `mesh dial-stdio` there. The agent's control socket (`mesh status`,
 * `mesh dns lookup`): local, or over ssh with `mesh dial-stdio --control`; a tcp:// endpoint (the manager API only)
 * cannot reach an agent's socket and says so.
 */
export function currentEndpoint(env: NodeJS.ProcessEnv = process.env): Endpoint {
  return resolveEndpoint(env, new ContextStore(configDir(env)))
}

/** What the CLI prints on stderr, once per client, when the manager says its answer may be stale (no quorum). */
export const STALE_WARNING = 'warning: no quorum: this answer may be stale\n'

function warnStaleOnce(): () => void {
  let warned = false
  return () => {
    if (!warned) process.stderr.write(STALE_WARNING)
    warned = true
  }
}

export function managerClient(o: ClientOptions = {}): ManagerClient {
  o = { onStale: warnStaleOnce(), ...o }
  const dataDir = o.dataDir ?? process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR
  if (o.host !== undefined) return new ManagerClient({ ...o, dataDir })
  const e = currentEndpoint()
  if (!e.host) return new ManagerClient({ ...o, dataDir })
  // several tcp:// managers: the client tries them in order when one does not answer
  const host = (e.hosts ?? [e.host]).map((h) => h.url).join(',')
  return new ManagerClient({ ...o, dataDir, host, ...(e.certPath && !o.certPath ? { certPath: e.certPath } : {}) })
}

/**
 * The agent a `status`/`dns lookup` talks to: `--data-dir DIR` names a local socket outright; otherwise the endpoint
 * in effect (local, or ssh:// with `dial-stdio --control`). `command` names the command in the tcp:// refusal.
 */
export function agentTarget(command: string, dataDirFlag?: string, env: NodeJS.ProcessEnv = process.env): AgentTarget {
  const local = (dir: string): string => join(dir, CONTROL_SOCKET)
  if (dataDirFlag !== undefined) return local(dataDirFlag)
  const e = currentEndpoint(env)
  if (!e.host) return local(env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR)
  if (e.host.scheme === 'ssh') {
    return { target: sshTarget(e.host, { sshCommand: env.MESH_SSH_COMMAND, control: true }), where: e.host.url, timeoutMs: SSH_REQUEST_TIMEOUT_MS }
  }
  throw new ControlError(`${command} reads an agent's control socket, which ${e.host.url} (the manager API) does not serve: run it on that node, ` +
    `or reach the node over ssh (MESH_HOST=ssh://root@${e.host.host}, or a context with --host ssh://…)`)
}

/** The part of ManagerClient the list commands use (a fake in tests). */
export interface ApiClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}
