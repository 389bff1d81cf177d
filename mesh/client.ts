import http from 'node:http'
import { join } from 'node:path'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { ControlError, MeshError } from '../src/base/errors.ts'
import { NotJsonError, errorOf, jsonRequest } from '../agent/json-http.ts'

/**
 * The CLI's client for the manager API. Local: the root-only unix socket `<data-dir>/manager.sock` (no token).
 * Remote, as DOCKER_HOST works for docker: `MESH_HOST=tcp://host:7947` with `MESH_TOKEN=<api token>`.
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
  host?: string
  token?: string
  dataDir?: string
  timeoutMs?: number
}

export class ManagerClient {
  readonly #target: { socketPath: string } | { host: string; port: number }
  readonly #token: string | undefined
  readonly #timeoutMs: number
  readonly where: string

  constructor(o: ClientOptions = {}) {
    const host = o.host ?? process.env.MESH_HOST
    this.#token = o.token ?? process.env.MESH_TOKEN
    this.#timeoutMs = o.timeoutMs ?? 30_000
    if (host) {
      const m = /^tcp:\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(host)
      if (!m) throw new ControlError(`MESH_HOST "${host}": want tcp://HOST:PORT, e.g. tcp://10.0.0.1:7947`)
      this.#target = { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) }
      this.where = host
    } else {
      const dir = o.dataDir ?? process.env.MESH_DATA_DIR ?? DEFAULT_DATA_DIR
      this.#target = { socketPath: join(dir, MANAGER_SOCKET) }
      this.where = this.#target.socketPath
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let reply
    try {
      reply = await jsonRequest(this.#target, { method, path, body, headers: this.#auth(), timeoutMs: this.#timeoutMs })
    } catch (err) {
      if (err instanceof NotJsonError) throw new ControlError(`manager at ${this.where} answered ${err.status} with something that is not JSON`)
      const code = (err as NodeJS.ErrnoException).code
      const why = code === 'ENOENT' || code === 'ECONNREFUSED'
        ? 'is this a manager node running `mesh agent --init` (or set MESH_HOST)?'
        : code === 'EACCES' ? 'permission denied (the manager socket is root-only)' : (err as Error).message
      throw new ControlError(`cannot reach the manager at ${this.where}: ${why}`)
    }
    if (reply.status >= 400) {
      const e = errorOf(reply)
      throw new ApiError(reply.status, e.code ?? 'MESH_ERR_API', e.message)
    }
    return reply.body as T
  }

  #auth(): Record<string, string> {
    return this.#token && !('socketPath' in this.#target) ? { authorization: `Bearer ${this.#token}` } : {}
  }

  /**
   * GET an NDJSON stream (`service logs`): `onLine` gets each parsed line; resolves when the manager ends the
   * stream. No timeout (a followed stream lasts as long as the user wants). An error answer rejects like request().
   */
  stream(path: string, onLine: (msg: unknown) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/x-ndjson', ...this.#auth() }
      const req = http.request({ ...this.#target, method: 'GET', path, headers }, (res) => {
        const status = res.statusCode ?? 500
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buf += chunk
          if (status >= 400) return
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i)
            buf = buf.slice(i + 1)
            if (line.trim() !== '') {
              try { onLine(JSON.parse(line)) } catch { /* not JSON: skip */ }
            }
          }
        })
        res.on('end', () => {
          if (status < 400) return resolve()
          let e: { code?: string; message?: string } | undefined
          try { e = (JSON.parse(buf) as { error?: { code?: string; message?: string } }).error } catch { /* not JSON */ }
          reject(new ApiError(status, e?.code ?? 'MESH_ERR_API', e?.message ?? `HTTP ${status}`))
        })
        res.on('error', reject)
        res.on('aborted', () => reject(new ControlError(`the manager at ${this.where} closed the stream`)))
      })
      req.on('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'is this a manager node (or set MESH_HOST)?' : err.message
        reject(new ControlError(`cannot reach the manager at ${this.where}: ${why}`))
      })
      req.end()
    })
  }
}
