import http from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ConnectionOptions } from 'node:tls'
import { MeshError } from '../base/errors.ts'
import { JsonLines } from '../base/ndjson.ts'

/**
 * JSON and NDJSON over HTTP, on TCP or a unix socket — the one transport under the CLI's clients (manager API,
 * control socket) and the worker link's calls to its manager. `jsonRequest` resolves with the status and the parsed
 * body (null when empty) and rejects with `NotJsonError` for a body that is not JSON, or with the socket's own error
 * (ENOENT, ECONNREFUSED, EACCES, a timeout); callers turn those into their one-line messages. `ndjsonStream` reads
 * a stream of JSON lines (watch, events, logs) with the one line splitter of src/base.
 */
export type HttpTarget = { socketPath: string } | { host: string; port: number; tls?: ClientTls } | { dial: Dialer }

/**
 * Opens a fresh connection for one request (an `ssh://` host: a CommandConn over `ssh … mesh dial-stdio`). Such a
 * request says `Connection: close`, so the server ends the connection after its answer and the command exits.
 */
export type Dialer = () => Duplex & { setTimeout(ms: number): unknown }

/**
 * TLS for a TCP target (the manager API is TLS 1.3 only): the roots to trust, our certificate chain and key when we
 * have one, and the check of the server's certificate (src/api/tls.ts managerCertificateCheck). `rejectUnauthorized:
 * false` only for the one unauthenticated fetch of a CA that is pinned by digest right after (a joining node).
 */
export type ClientTls = Pick<ConnectionOptions, 'ca' | 'cert' | 'key' | 'checkServerIdentity' | 'rejectUnauthorized'>

/** http.request or https.request for a target, with TLS 1.3 when the target has TLS options. */
export function requestFor(target: HttpTarget, o: http.RequestOptions, cb?: (res: http.IncomingMessage) => void): http.ClientRequest {
  if ('tls' in target && target.tls) {
    const { tls, ...rest } = target
    return https.request({ ...rest, ...tls, ...o, minVersion: 'TLSv1.3' }, cb)
  }
  if ('dial' in target) {
    // node:http hands the request's `timeout` to the connection factory (net.createConnection applies it itself)
    const createConnection = (opts: { timeout?: number }): Socket => {
      const conn = target.dial() as Socket
      if (opts.timeout) conn.setTimeout(opts.timeout)
      return conn
    }
    return http.request({ ...o, headers: { ...o.headers, connection: 'close' }, createConnection }, cb)
  }
  return http.request({ ...target, ...o }, cb)
}

export interface JsonReply {
  status: number
  body: unknown
  /** The manager answered from a view that may be stale (`Mesh-Stale: true`: it lost its quorum, or knows no leader). */
  stale?: boolean
}

/** An HTTP answer whose body is not JSON (a proxy's error page, a server that is not mesh). */
export class NotJsonError extends MeshError {
  readonly status: number
  constructor(status: number, options?: { cause?: unknown }) {
    super('MESH_ERR_NOT_JSON', `HTTP ${status} with a body that is not JSON`, options)
    this.status = status
  }
}

/** The response to a stream ended while it was being read (the server closed or reset the connection). */
export class StreamClosedError extends MeshError {
  constructor(message = 'the server closed the stream', options?: { cause?: unknown }) {
    super('MESH_ERR_STREAM_CLOSED', message, options)
  }
}

/**
 * `connectTimeoutMs`: give up on a connection not made by then with an ETIMEDOUT error whose `syscall` is `connect`
 * (nothing was sent: a client that knows another manager may send it there, src/api failover.ts). `timeoutMs`: the
 * socket's idle limit for the whole exchange.
 */
export function jsonRequest(target: HttpTarget, o: { method: string; path: string; body?: unknown; headers?: Record<string, string>; timeoutMs: number; connectTimeoutMs?: number }): Promise<JsonReply> {
  const payload = o.body === undefined ? undefined : Buffer.from(JSON.stringify(o.body))
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers }
  if (payload) {
    headers['content-type'] = 'application/json'
    // Node sends a GET body neither chunked nor with a length: the server would read it as a second request.
    headers['content-length'] = String(payload.length)
  }
  return new Promise<JsonReply>((resolve, reject) => {
    const req = requestFor(target, { method: o.method, path: o.path, headers, timeout: o.timeoutMs }, (res) => {
      collect(res).then((text) => {
        const status = res.statusCode ?? 500
        try {
          const stale = res.headers['mesh-stale'] === 'true'
          resolve({ status, body: text === '' ? null : JSON.parse(text) as unknown, ...(stale ? { stale } : {}) })
        } catch {
          reject(new NotJsonError(status))
        }
      }, reject)
    })
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' })))
    req.on('error', reject)
    if (o.connectTimeoutMs !== undefined) connectDeadline(req, o.connectTimeoutMs)
    req.end(payload)
  })
}

/** Destroy `req` with a connect ETIMEDOUT when its socket has not connected within `ms`. */
function connectDeadline(req: http.ClientRequest, ms: number): void {
  req.once('socket', (socket: Socket) => {
    if (!socket.connecting) return // a kept-alive or already connected socket
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no connection in ${ms} ms`), { code: 'ETIMEDOUT', syscall: 'connect' }))
    }, ms)
    const done = (): void => clearTimeout(timer)
    socket.once('connect', done)
    socket.once('close', done)
  })
}

function collect(res: http.IncomingMessage): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    res.on('data', (c: Buffer) => chunks.push(c))
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    res.on('error', reject)
  })
}

/** The message of an `{error: {code, message}}` answer (or `HTTP <status>`). */
export function errorOf(reply: JsonReply): { code?: string; message: string } {
  const e = (reply.body as { error?: { code?: string; message?: string } } | null)?.error
  return { ...(e?.code ? { code: e.code } : {}), message: e?.message ?? `HTTP ${reply.status}` }
}

/** How a stream ended: the server finished it, the caller's signal cancelled it, or it was refused (status ≥ 400). */
export type StreamEnd = { kind: 'ended' } | { kind: 'cancelled' } | { kind: 'refused'; reply: JsonReply }

/**
 * GET an NDJSON stream: `onValue` gets each parsed line (blank and non-JSON lines are skipped). No timeout (a
 * followed stream lasts as long as the caller wants); `signal` cancels it. An answer ≥ 400 is read whole and
 * returned as `refused`. Rejects with the socket's error, or StreamClosedError when the connection drops mid-stream.
 */
export function ndjsonStream(target: HttpTarget, o: { path: string; headers?: Record<string, string>; signal?: AbortSignal; onValue: (v: unknown) => void }): Promise<StreamEnd> {
  return new Promise<StreamEnd>((resolve, reject) => {
    const cancelled = (): void => resolve({ kind: 'cancelled' })
    if (o.signal?.aborted) return cancelled()
    const headers: Record<string, string> = { accept: 'application/x-ndjson', ...o.headers }
    const req = requestFor(target, { method: 'GET', path: o.path, headers }, (res) => {
      const status = res.statusCode ?? 500
      if (status >= 400) {
        collect(res).then((text) => {
          let body: unknown = null
          try { body = JSON.parse(text) } catch { /* not JSON: errorOf says HTTP <status> */ }
          resolve({ kind: 'refused', reply: { status, body } })
        }, reject)
        return
      }
      const lines = new JsonLines()
      res.on('data', (chunk: Buffer) => { for (const v of lines.push(chunk)) o.onValue(v) })
      res.on('end', () => resolve(o.signal?.aborted ? { kind: 'cancelled' } : { kind: 'ended' }))
      res.on('close', () => {
        if (!res.complete && !o.signal?.aborted) reject(new StreamClosedError())
      })
      res.on('error', () => undefined) // 'close' (or the signal) settles the promise
    })
    o.signal?.addEventListener('abort', () => {
      req.destroy()
      cancelled()
    }, { once: true })
    req.on('error', (err) => (o.signal?.aborted ? cancelled() : reject(err)))
    req.end()
  })
}
