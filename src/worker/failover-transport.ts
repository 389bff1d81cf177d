import type http from 'node:http'
import { failoverOrder } from '../api/index.ts'
import type { NodeOverlay } from '../api/types.ts'
import type { ManagerAddress } from '../api/watch.ts'
import type { TrafficReport } from '../api/traffic.ts'
import { ConfigError } from '../base/errors.ts'
import { managerAddress } from './managers.ts'
import type { NodeTls } from './tls-files.ts'
import type { JoinReply, JoinRequest, ManagerReply, ManagerTransport, RenewReply, StatusUpdate, WatchHandlers, WatchStream } from './transport.ts'

/** One manager's transport, with the two calls the agent makes beside the link's (traffic reports, `mesh leave`). */
export interface ManagerEndpoint extends ManagerTransport {
  postTraffic(report: TrafficReport): Promise<ManagerReply<unknown>>
  leave(): Promise<ManagerReply<{ nodeId: string; hostname: string; state: string }>>
}

export interface FailoverTransportOptions {
  /** The managers to try (`HOST:PORT`), in order; the first one is used first. At least one. */
  managers: readonly string[]
  /** The transport to one manager (HttpManagerTransport; a fake in tests). Made once per address, when first used. */
  connect(address: string): ManagerEndpoint
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void
}

/**
 * Every call of the worker link (and the agent's traffic reports and `mesh leave`) to whichever manager answers:
 * the policy half of the link's transport, with no socket or timer of its own. A call goes to the current manager;
 * when it gets no answer (refused, unreachable, timed out, failed the TLS check) it goes to the others in their
 * listed order, and the first that answers becomes the current one. Every agent call is safe to send twice (task
 * reports carry the latest state, renewals a fresh CSR, registrations the whole value), so a timeout fails over too.
 * An HTTP answer, whatever its status ("not leader", "no quorum"), is handed back as is: that manager is alive.
 * The watch stream is held by the caller (the link reconnects with its backoff): when a stream could not be opened
 * or dropped, the next one goes to the next manager. Server identity stays pinned to the cluster CA by each
 * manager's transport (a manager certificate of this cluster, whatever its address).
 */
export class FailoverTransport implements ManagerTransport {
  readonly #o: FailoverTransportOptions
  #addresses: string[]
  #current = 0
  readonly #endpoints = new Map<string, ManagerEndpoint>()
  #tls: NodeTls | null = null

  constructor(o: FailoverTransportOptions) {
    const list = [...new Set(o.managers)]
    if (list.length === 0) throw new ConfigError('no manager to register with: pass --join MANAGER or --manager HOST[:PORT]')
    this.#o = o
    this.#addresses = list
  }

  /** The current manager, `HOST:PORT`. */
  get address(): string {
    return this.#addresses[this.#current] as string
  }

  /** Every manager known, in the order they are tried from the first. */
  get managers(): readonly string[] {
    return this.#addresses
  }

  /** The cluster's managers (pushed on the watch stream, already checked): the current one stays current while listed. */
  useManagers(list: readonly ManagerAddress[]): void {
    const next = [...new Set(list.map(managerAddress))]
    if (next.length === 0) return // never left with no manager (the link refuses an empty list before this)
    const current = this.address
    this.#addresses = next
    this.#current = Math.max(0, next.indexOf(current))
    for (const a of [...this.#endpoints.keys()]) if (!next.includes(a)) this.#endpoints.delete(a)
  }

  setTls(tls: NodeTls): void {
    this.#tls = tls
    for (const e of this.#endpoints.values()) e.setTls(tls)
  }

  fetchCa(): Promise<string> {
    return this.#call((e) => e.fetchCa())
  }

  join(token: string, caPem: string, req: JoinRequest): Promise<ManagerReply<JoinReply>> {
    return this.#call((e) => e.join(token, caPem, req))
  }

  renew(csr: string): Promise<ManagerReply<RenewReply>> {
    return this.#call((e) => e.renew(csr))
  }

  postStatus(updates: StatusUpdate[]): Promise<ManagerReply<unknown>> {
    return this.#call((e) => e.postStatus(updates))
  }

  putOverlay(reg: NodeOverlay): Promise<ManagerReply<unknown>> {
    return this.#call((e) => e.putOverlay(reg))
  }

  postGossipKeysAck(version: number): Promise<ManagerReply<unknown>> {
    return this.#call((e) => e.postGossipKeysAck(version))
  }

  postTraffic(report: TrafficReport): Promise<ManagerReply<unknown>> {
    return this.#call((e) => e.postTraffic(report))
  }

  leave(): Promise<ManagerReply<{ nodeId: string; hostname: string; state: string }>> {
    return this.#call((e) => e.leave())
  }

  watch(h: WatchHandlers): WatchStream {
    const address = this.address
    let opened = false
    let refused = false
    return this.#endpoint(address).watch({
      opened: () => {
        opened = true
        h.opened()
      },
      message: (m) => h.message(m),
      badLine: () => h.badLine(),
      refused: (status) => {
        refused = true // an answer: this manager is alive, the next stream asks it again
        h.refused(status)
      },
      closed: () => {
        if (!refused) this.#moveOn(address, opened ? 'the assignment stream dropped' : 'cannot reach the manager')
        h.closed()
      },
    })
  }

  /** Log uploads go to the current manager (a failed upload is asked for again by the manager that wants it). */
  upload(path: string): http.ClientRequest {
    return this.#endpoint(this.address).upload(path)
  }

  #endpoint(address: string): ManagerEndpoint {
    let e = this.#endpoints.get(address)
    if (!e) {
      e = this.#o.connect(address)
      if (this.#tls) e.setTls(this.#tls)
      this.#endpoints.set(address, e)
    }
    return e
  }

  /** `address` failed: the next call or stream goes to the manager after it (unless another call moved on already). */
  #moveOn(address: string, why: string): void {
    if (this.address !== address || this.#addresses.length < 2) return
    this.#current = (this.#current + 1) % this.#addresses.length
    this.#o.log?.('warn', `${why}; trying the next manager`, { from: address, to: this.address })
  }

  async #call<T>(send: (e: ManagerEndpoint) => Promise<T>): Promise<T> {
    const addresses = this.#addresses
    const first = this.#current
    let last: unknown
    for (const i of failoverOrder(addresses.length, first)) {
      const address = addresses[i] as string
      try {
        const r = await send(this.#endpoint(address))
        const now = this.#addresses.indexOf(address)
        if (i !== first && now >= 0 && this.#current !== now) {
          this.#o.log?.('info', 'switched to another manager', { from: addresses[first], to: address })
          this.#current = now
        }
        return r
      } catch (err) {
        last = err
      }
    }
    throw last
  }
}
