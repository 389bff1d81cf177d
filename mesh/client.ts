import http from 'node:http'
import { join } from 'node:path'
import { DEFAULT_DATA_DIR } from '../src/config/index.ts'
import { ControlError, MeshError } from '../src/errors.ts'

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

  request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    return new Promise<T>((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/json' }
      if (payload) headers['content-type'] = 'application/json'
      if (this.#token && !('socketPath' in this.#target)) headers.authorization = `Bearer ${this.#token}`
      const req = http.request({ ...this.#target, method, path, headers, timeout: this.#timeoutMs }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let parsed: unknown = null
          try {
            parsed = text === '' ? null : JSON.parse(text)
          } catch {
            reject(new ControlError(`manager at ${this.where} answered ${res.statusCode} with something that is not JSON`))
            return
          }
          const status = res.statusCode ?? 500
          if (status >= 400) {
            const e = (parsed as { error?: { code?: string; message?: string } } | null)?.error
            reject(new ApiError(status, e?.code ?? 'MESH_ERR_API', e?.message ?? `HTTP ${status}`))
          } else resolve(parsed as T)
        })
      })
      req.on('timeout', () => req.destroy(new Error(`no answer in ${this.#timeoutMs} ms`)))
      req.on('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? 'is this a manager node running `mesh agent --init` (or set MESH_HOST)?'
          : err.code === 'EACCES' ? 'permission denied (the manager socket is root-only)' : err.message
        reject(new ControlError(`cannot reach the manager at ${this.where}: ${why}`))
      })
      req.end(payload)
    })
  }

  /**
   * GET an NDJSON stream (`service logs`): `onLine` gets each parsed line; resolves when the manager ends the
   * stream. No timeout (a followed stream lasts as long as the user wants). An error answer rejects like request().
   */
  stream(path: string, onLine: (msg: unknown) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/x-ndjson' }
      if (this.#token && !('socketPath' in this.#target)) headers.authorization = `Bearer ${this.#token}`
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
