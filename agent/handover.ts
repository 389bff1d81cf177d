import type { Clock, TimerHandle } from '../src/base/clock.ts'

/**
 * Handover: a new `mesh agent` process started on the data dir of a running one takes over without a gap in
 * service (a restart or an upgrade under systemd, as nginx's binary upgrade or HAProxy's reload). The protocol,
 * pure (clock and transport injected); agent/handover-socket.ts carries it over `<data-dir>/handover.sock`.
 *
 *   new → old  hello     the new process found the old one's socket answering
 *   old        release   frees what cannot be shared: gossip 7946, the manager (store, reconcile loop, API 7947,
 *                        manager.sock), the worker link, the task runner, metrics, the control socket. It KEEPS
 *                        its published-port listeners and DNS open (they and the new ones bind with reusePort)
 *                        and leaves overlay, routes, rules and containers as they are.
 *   old → new  released  the new process starts: binds gossip and the control socket, adopts the overlay, rules and
 *                        containers, opens every data-plane listener beside the old ones
 *   new → old  up        its data plane serves: the old one lets go (closes its listeners, drains its open
 *                        connections, bounded) and exits 0 without tearing anything down
 *
 * A new process that goes away (or says `failed`) before `up`, or stays silent past `upTimeoutMs`, leaves the old
 * one to resume: it starts its control plane again and keeps serving.
 */

export type HandoverMessage =
  | { type: 'hello'; pid: number; name?: string }
  | { type: 'released' }
  | { type: 'up' }
  | { type: 'failed'; reason: string }
  | { type: 'refused'; reason: string }

/** One connection between the two processes; messages in order, `close` when the other side went away. */
export interface HandoverTransport {
  send(msg: HandoverMessage): void
  close(): void
}

export type OutgoingState = 'serving' | 'releasing' | 'waiting' | 'letting-go' | 'resuming' | 'done'

/** What the old process does at each step (the agent's wiring). */
export interface OutgoingSteps {
  release(): Promise<void>
  /** Close the data-plane listeners, drain, and end the process (exit 0). */
  letGo(): Promise<void>
  /** The new process did not come up: serve again (why: one line for the log). */
  resume(why: string): Promise<void>
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void
}

/** The old process's side. One handover at a time; a second `hello` is refused. */
export class Outgoing {
  #state: OutgoingState = 'serving'
  #timer: TimerHandle | null = null
  #peer: HandoverTransport | null = null
  #gone: string | null = null
  readonly #clock: Clock
  readonly #steps: OutgoingSteps
  readonly #upTimeoutMs: number
  readonly #name: string | undefined

  /** `name`: this node's name; a new process that says another one is refused (the data dir is this node's). */
  constructor(o: { clock: Clock; steps: OutgoingSteps; upTimeoutMs: number; name?: string }) {
    this.#clock = o.clock
    this.#steps = o.steps
    this.#upTimeoutMs = o.upTimeoutMs
    this.#name = o.name
  }

  get state(): OutgoingState {
    return this.#state
  }

  /** A message from a new process on `from`. */
  async onMessage(from: HandoverTransport, msg: HandoverMessage): Promise<void> {
    if (msg.type === 'hello') {
      if (this.#state !== 'serving') {
        from.send({ type: 'refused', reason: `a handover is already ${this.#state}` })
        from.close()
        return
      }
      if (this.#name !== undefined && msg.name !== undefined && msg.name !== this.#name) {
        from.send({ type: 'refused', reason: `this data dir is node "${this.#name}"'s; a new process taking over must keep its name (got --name "${msg.name}"): use another --data-dir for another node` })
        from.close()
        return
      }
      this.#peer = from
      this.#state = 'releasing'
      this.#steps.log('info', 'a new agent process takes over: releasing gossip, manager, link and control socket; published ports and DNS stay open', { newPid: msg.pid })
      try {
        await this.#steps.release()
      } catch (err) {
        return this.#resume(`release failed: ${(err as Error).message}`)
      }
      if (this.#gone) return this.#resume(this.#gone) // the new process went away while we released
      this.#state = 'waiting'
      this.#timer = this.#clock.setTimeout(() => void this.#resume(`the new agent was not up within ${this.#upTimeoutMs} ms`), this.#upTimeoutMs)
      from.send({ type: 'released' })
      return
    }
    if (from !== this.#peer) return
    if (msg.type === 'up' && this.#state === 'waiting') {
      this.#clock.clearTimeout(this.#timer)
      this.#state = 'letting-go'
      this.#steps.log('info', 'the new agent process serves: closing listeners, draining, exiting')
      await this.#steps.letGo()
      this.#state = 'done'
      return
    }
    if (msg.type === 'failed') {
      if (this.#state === 'releasing') this.#gone = `the new agent failed: ${msg.reason}`
      else await this.#resume(`the new agent failed: ${msg.reason}`)
    }
  }

  /** The connection to `from` closed. */
  async onClose(from: HandoverTransport): Promise<void> {
    if (from !== this.#peer) return
    const why = 'the new agent went away before its data plane was up'
    if (this.#state === 'releasing') this.#gone = why // resumed once the release step has finished
    else if (this.#state === 'waiting') await this.#resume(why)
  }

  async #resume(why: string): Promise<void> {
    if (this.#state === 'resuming' || this.#state === 'done' || this.#state === 'letting-go') return
    this.#clock.clearTimeout(this.#timer)
    this.#state = 'resuming'
    this.#peer?.close()
    this.#peer = null
    this.#steps.log('warn', `handover abandoned (${why}): resuming`)
    await this.#steps.resume(why)
    this.#state = 'done'
  }
}

export type IncomingResult =
  | { type: 'released' }
  | { type: 'refused'; reason: string }

/**
 * The new process's side: after `hello`, wait for `released` (or a refusal, or the old process going away, which
 * also frees everything: it exited) at most `releaseTimeoutMs`.
 */
export class Incoming {
  readonly #clock: Clock
  readonly #releaseTimeoutMs: number
  #settle: ((r: IncomingResult) => void) | null = null
  #timer: TimerHandle | null = null

  constructor(o: { clock: Clock; releaseTimeoutMs: number }) {
    this.#clock = o.clock
    this.#releaseTimeoutMs = o.releaseTimeoutMs
  }

  /** Send hello on `to`; resolves once the old process has released (or refused). */
  begin(to: HandoverTransport, pid: number, name?: string): Promise<IncomingResult> {
    const result = new Promise<IncomingResult>((resolve) => { this.#settle = resolve })
    this.#timer = this.#clock.setTimeout(() => this.#end({ type: 'refused', reason: `the running agent did not release within ${this.#releaseTimeoutMs} ms` }), this.#releaseTimeoutMs)
    to.send({ type: 'hello', pid, ...(name !== undefined ? { name } : {}) })
    return result
  }

  onMessage(msg: HandoverMessage): void {
    if (msg.type === 'released') this.#end({ type: 'released' })
    else if (msg.type === 'refused') this.#end({ type: 'refused', reason: msg.reason })
  }

  /** The old process closed the connection: it is gone, so nothing is held any more. */
  onClose(): void {
    this.#end({ type: 'released' })
  }

  #end(r: IncomingResult): void {
    this.#clock.clearTimeout(this.#timer)
    const s = this.#settle
    this.#settle = null
    s?.(r)
  }
}
