import http from 'node:http'

/**
 * One JSON request over HTTP, on TCP or a unix socket — the transport under the CLI's clients (control socket,
 * manager API) and the agent's calls to its manager. It resolves with the status and the parsed body (null when
 * empty) and rejects with `NotJsonError` for a body that is not JSON, or with the socket's own error (ENOENT,
 * ECONNREFUSED, EACCES, a timeout); callers turn those into their one-line messages.
 */
export type HttpTarget = { socketPath: string } | { host: string; port: number }

export interface JsonReply {
  status: number
  body: unknown
}

export class NotJsonError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status} with a body that is not JSON`)
  }
}

export function jsonRequest(target: HttpTarget, o: { method: string; path: string; body?: unknown; headers?: Record<string, string>; timeoutMs: number }): Promise<JsonReply> {
  const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body))
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers }
  if (payload) headers['content-type'] = 'application/json'
  return new Promise<JsonReply>((resolve, reject) => {
    const req = http.request({ ...target, method: o.method, path: o.path, headers, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const status = res.statusCode ?? 500
        try {
          resolve({ status, body: text === '' ? null : JSON.parse(text) as unknown })
        } catch {
          reject(new NotJsonError(status))
        }
      })
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    req.end(payload)
  })
}

/** The message of an `{error: {code, message}}` answer (or `HTTP <status>`). */
export function errorOf(reply: JsonReply): { code?: string; message: string } {
  const e = (reply.body as { error?: { code?: string; message?: string } } | null)?.error
  return { ...(e?.code ? { code: e.code } : {}), message: e?.message ?? `HTTP ${reply.status}` }
}
