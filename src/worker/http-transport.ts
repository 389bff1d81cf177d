import type http from 'node:http'
import { ConfigError } from '../base/errors.ts'
import { JsonLines } from '../base/ndjson.ts'
import { NotJsonError, errorOf, jsonRequest, managerCertificateCheck, requestFor, type ClientTls, type HttpTarget } from '../api/index.ts'
import type { NodeOverlay } from '../api/types.ts'
import type { NodeTls } from './tls-files.ts'
import type { JoinReply, JoinRequest, ManagerReply, ManagerTransport, RenewReply, StatusUpdate, WatchHandlers, WatchStream } from './transport.ts'
import type { TrafficReport } from '../api/traffic.ts'

/** A watch stream that brings nothing for this long (the manager sends `{}` every 10 s) is closed as dead. */
export const WATCH_IDLE_MS = 30_000

/** A manager that has not accepted the connection by then is given up on (the link's transport tries the next one). */
const CONNECT_TIMEOUT_MS = 5_000

/**
 * The manager's HTTP API (port 7947, TLS 1.3) as a ManagerTransport: translation only, no retries or timers of its
 * own. Every call but `fetchCa` verifies the server: a chain to the cluster roots and a manager certificate
 * (src/api managerCertificateCheck). After `setTls` calls authenticate with this node's certificate.
 */
export class HttpManagerTransport implements ManagerTransport {
  readonly address: string
  readonly #host: string
  readonly #port: number
  readonly #watchIdleMs: number
  #tls: ClientTls | null = null

  /** `watchIdleMs`: how long a silent watch stream is kept (default WATCH_IDLE_MS; tests shorten it). */
  constructor(manager: { host: string; port: number; watchIdleMs?: number }) {
    this.#host = manager.host
    this.#port = manager.port
    this.#watchIdleMs = manager.watchIdleMs ?? WATCH_IDLE_MS
    this.address = `${manager.host}:${manager.port}`
  }

  setTls(t: NodeTls): void {
    this.#tls = { ca: t.ca, cert: t.cert, key: t.key, checkServerIdentity: managerCertificateCheck }
  }

  #target(tls: ClientTls | null = this.#tls): HttpTarget {
    if (!tls) throw new ConfigError('this node has no certificate yet: it must join first')
    return { host: this.#host, port: this.#port, tls }
  }

  async fetchCa(): Promise<string> {
    // Unauthenticated on purpose: the answer is checked against the join token's digest before anything is sent.
    const r = await this.#call<{ certificate?: unknown }>(this.#target({ rejectUnauthorized: false }), 'GET', '/v1/ca', undefined, {})
    if (r.status !== 200 || typeof r.body?.certificate !== 'string') throw new ConfigError(`the manager at ${this.address} did not hand out its CA: ${r.message}`)
    return r.body.certificate
  }

  async join(token: string, caPem: string, req: JoinRequest): Promise<ManagerReply<JoinReply>> {
    const pinned: ClientTls = { ca: [caPem], checkServerIdentity: managerCertificateCheck }
    return this.#call<JoinReply>(this.#target(pinned), 'POST', '/v1/agent/join', req, { authorization: `Bearer ${token}` })
  }

  async renew(csr: string): Promise<ManagerReply<RenewReply>> {
    return this.#call<RenewReply>(this.#target(), 'POST', '/v1/agent/renew', { csr }, {})
  }

  async postStatus(updates: StatusUpdate[]): Promise<ManagerReply<unknown>> {
    return this.#call(this.#target(), 'POST', '/v1/agent/status', { updates }, {})
  }

  async putOverlay(reg: NodeOverlay): Promise<ManagerReply<unknown>> {
    return this.#call(this.#target(), 'PUT', '/v1/agent/overlay', reg, {})
  }

  async postGossipKeysAck(version: number): Promise<ManagerReply<unknown>> {
    return this.#call(this.#target(), 'POST', '/v1/agent/gossip-keys', { version }, {})
  }

  /** `POST /v1/agent/traffic`: this node's cumulative ingress and tunnel counters (traffic-reporter.ts). */
  async postTraffic(report: TrafficReport): Promise<ManagerReply<unknown>> {
    return this.#call(this.#target(), 'POST', '/v1/agent/traffic', report, {})
  }

  /** `POST /v1/agent/leave` (`mesh leave`): the manager marks this node down and revokes its overlay registration. */
  async leave(): Promise<ManagerReply<{ nodeId: string; hostname: string; state: string }>> {
    return this.#call(this.#target(), 'POST', '/v1/agent/leave', {}, {})
  }

  watch(h: WatchHandlers): WatchStream {
    let closed = false
    const close = () => {
      if (closed) return
      closed = true
      h.closed()
    }
    const req = requestFor(this.#target(), { path: '/v1/agent/watch', method: 'GET', timeout: this.#watchIdleMs }, (res) => {
      if (res.statusCode !== 200) {
        h.refused(res.statusCode ?? 0)
        res.resume()
        return
      }
      h.opened()
      const lines = new JsonLines({ onBad: () => h.badLine() })
      res.setEncoding('utf8') // a character split across chunks stays whole
      res.on('data', (chunk: string) => {
        for (const m of lines.push(chunk)) h.message(m)
      })
    })
    // No connection, or nothing (not even the 10 s heartbeat) for watchIdleMs: the manager is gone, the link moves on.
    req.on('timeout', () => req.destroy())
    req.on('error', close)
    req.on('close', close)
    req.end()
    return { close: () => req.destroy() }
  }

  upload(path: string): http.ClientRequest {
    return requestFor(this.#target(), { path, method: 'POST' })
  }

  async #call<T>(target: HttpTarget, method: string, path: string, body: unknown, headers: Record<string, string>): Promise<ManagerReply<T>> {
    try {
      const r = await jsonRequest(target, { method, path, body, headers, timeoutMs: 10_000, connectTimeoutMs: CONNECT_TIMEOUT_MS })
      return { status: r.status, body: r.body as T, message: errorOf(r).message }
    } catch (err) {
      if (err instanceof NotJsonError) return { status: err.status, body: null, message: `HTTP ${err.status}` }
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /certificate/i.test(e.message)) {
        throw new ConfigError(`the manager at ${this.address} failed the TLS check: ${e.message}`)
      }
      throw new ConfigError(`cannot reach the manager at ${this.address}: ${e.code ?? e.message}`)
    }
  }
}
