import { join } from 'node:path'
import { ControlError, MeshError } from '../base/errors.ts'
import { socketPermissionMessage } from '../base/unix-socket.ts'
import { NotJsonError, errorOf, jsonRequest, ndjsonStream, type ClientTls, type HttpTarget } from './http.ts'
import { clientTlsFromDir } from './tls.ts'

/**
 * The client of the manager API, for the CLI. Local: the unix socket `<data-dir>/manager.sock` (root, or the `mesh`
 * group). Remote, as DOCKER_HOST and DOCKER_CERT_PATH work for docker: `MESH_HOST=tcp://host:7947` with
 * `MESH_CERT_PATH=<dir>` holding an admin client certificate bundle (ca.pem, cert.pem, key.pem) made by
 * `mesh ca issue-client NAME --out DIR`; TLS 1.3, the server must present a manager certificate of that CA.
 * Every failure is one line: ApiError (what the manager answered) or ControlError (could not reach it).
 */
export const MANAGER_SOCKET = 'manager.sock'

/** An error the manager answered with (`{error: {code, message}}`); its message is shown as is. */
export class ApiError extends MeshError {
  readonly status: number
  constructor(status: number, code: string, message: string) {
    super(code, message)
    this.status = status
  }
}

export interface ClientOptions {
  /** `tcp://HOST:PORT`; default MESH_HOST; without one, the local manager socket. */
  host?: string
  /** A client certificate bundle for a remote manager (ca.pem, cert.pem, key.pem); default MESH_CERT_PATH. */
  certPath?: string
  /** TLS options given directly (tests); wins over certPath. */
  tls?: ClientTls
  /** Data dir holding manager.sock; default MESH_DATA_DIR. Needed when there is no host (the CLI passes src/config's default). */
  dataDir?: string
  timeoutMs?: number
}

/** `tcp://10.0.0.1:7947`, `tcp://[fd00::1]:7947` → host and port. */
export function parseManagerHost(host: string): { host: string; port: number } {
  const m = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(host)
  if (!m) throw new ControlError(`MESH_HOST "${host}": want tcp://HOST:PORT, e.g. tcp://10.0.0.1:7947`)
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) }
}

export class ManagerClient {
  readonly #target: HttpTarget
  readonly #timeoutMs: number
  readonly where: string

  constructor(o: ClientOptions = {}) {
    const host = o.host ?? process.env.MESH_HOST
    this.#timeoutMs = o.timeoutMs ?? 30_000
    if (host) {
      const certPath = o.certPath ?? process.env.MESH_CERT_PATH
      if (!o.tls && !certPath) {
        throw new ControlError(`MESH_HOST ${host} needs a client certificate: on a manager run \`mesh ca issue-client NAME --out DIR\`, ` +
          'copy DIR here and set MESH_CERT_PATH=DIR (a join token is not an admin credential)')
      }
      this.#target = { ...parseManagerHost(host), tls: o.tls ?? clientTlsFromDir(certPath as string) }
      this.where = host
    } else {
      const dir = o.dataDir ?? process.env.MESH_DATA_DIR
      if (dir === undefined) throw new ControlError('no manager to talk to: set MESH_HOST, or MESH_DATA_DIR for the local manager socket')
      this.#target = { socketPath: join(dir, MANAGER_SOCKET) }
      this.where = this.#target.socketPath
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let reply
    try {
      reply = await jsonRequest(this.#target, { method, path, body, timeoutMs: this.#timeoutMs })
    } catch (err) {
      if (err instanceof NotJsonError) throw new ControlError(`manager at ${this.where} answered ${err.status} with something that is not JSON`)
      throw this.#unreachable(err)
    }
    if (reply.status >= 400) {
      const e = errorOf(reply)
      throw new ApiError(reply.status, e.code ?? 'MESH_ERR_API', e.message)
    }
    return reply.body as T
  }

  /**
   * GET an NDJSON stream (`service logs`, `events`): `onValue` gets each parsed line; resolves when the manager ends
   * the stream or `signal` cancels it (the result says which). An error answer rejects like request().
   */
  async stream(path: string, onValue: (v: unknown) => void, signal?: AbortSignal): Promise<'ended' | 'cancelled'> {
    let end
    try {
      end = await ndjsonStream(this.#target, { path, onValue, ...(signal ? { signal } : {}) })
    } catch (err) {
      if (err instanceof MeshError) throw new ControlError(`the manager at ${this.where} closed the stream`, { cause: err })
      throw this.#unreachable(err)
    }
    if (end.kind !== 'refused') return end.kind
    const e = errorOf(end.reply)
    throw new ApiError(end.reply.status, e.code ?? 'MESH_ERR_API', e.message)
  }

  #unreachable(err: unknown): ControlError {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' && 'socketPath' in this.#target) return new ControlError(socketPermissionMessage(this.where), { cause: err })
    const why = code === 'ENOENT' || code === 'ECONNREFUSED'
      ? 'is this a manager node running `mesh agent --init` (or set MESH_HOST)?'
      : (err as Error).message
    return new ControlError(`cannot reach the manager at ${this.where}: ${why}`, { cause: err })
  }
}
