import http from 'node:http'
import { ConfigError } from '../base/errors.ts'
import { JsonLines } from '../base/ndjson.ts'
import { NotJsonError, errorOf, jsonRequest } from '../api/index.ts'
import type { JoinReply, JoinRequest, ManagerReply, ManagerTransport, StatusUpdate, WatchHandlers, WatchStream } from './transport.ts'

/** The manager's HTTP API (port 7947) as a ManagerTransport: translation only, no retries or timers of its own. */
export class HttpManagerTransport implements ManagerTransport {
  readonly address: string
  readonly #host: string
  readonly #port: number

  constructor(manager: { host: string; port: number }) {
    this.#host = manager.host
    this.#port = manager.port
    this.address = `${manager.host}:${manager.port}`
  }

  async join(token: string, req: JoinRequest): Promise<ManagerReply<JoinReply>> {
    return this.#call<JoinReply>('/v1/agent/join', token, req)
  }

  async postStatus(credential: string, updates: StatusUpdate[]): Promise<ManagerReply<unknown>> {
    return this.#call('/v1/agent/status', credential, { updates })
  }

  async postGossipKeysAck(credential: string, version: number): Promise<ManagerReply<unknown>> {
    return this.#call('/v1/agent/gossip-keys', credential, { version })
  }

  watch(credential: string, h: WatchHandlers): WatchStream {
    let closed = false
    const close = () => {
      if (closed) return
      closed = true
      h.closed()
    }
    const req = http.request({
      host: this.#host, port: this.#port, path: '/v1/agent/watch', method: 'GET',
      headers: { authorization: `Bearer ${credential}` },
    }, (res) => {
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
    req.on('error', close)
    req.on('close', close)
    req.end()
    return { close: () => req.destroy() }
  }

  upload(credential: string, path: string): http.ClientRequest {
    return http.request({
      host: this.#host, port: this.#port, path, method: 'POST',
      headers: { authorization: `Bearer ${credential}` },
    })
  }

  async #call<T>(path: string, token: string, body: unknown): Promise<ManagerReply<T>> {
    try {
      const r = await jsonRequest({ host: this.#host, port: this.#port },
        { method: 'POST', path, body, headers: { authorization: `Bearer ${token}` }, timeoutMs: 10_000 })
      return { status: r.status, body: r.body as T, message: errorOf(r).message }
    } catch (err) {
      if (err instanceof NotJsonError) return { status: err.status, body: null, message: `HTTP ${err.status}` }
      throw new ConfigError(`cannot reach the manager at ${this.address}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
}
