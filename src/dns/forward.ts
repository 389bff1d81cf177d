/**
 * Forwarding core: queries for foreign names go to the upstream resolvers over UDP under a fresh random id, one
 * upstream at a time (the next after `attemptMs`), until an answer arrives or `timeoutMs` passes (then the caller
 * answers SERVFAIL). The in-flight table is bounded; an answer is accepted only from a configured upstream, with an id
 * we are waiting for and the same question. Pure: time and randomness are injected, sending is a callback.
 */
import type { Clock, Random } from '../base/clock.ts'
import { HEADER_BYTES } from './wire.ts'

export interface Upstream {
  host: string
  port: number
}

export interface ForwarderDeps {
  upstreams: readonly Upstream[]
  attemptMs: number
  timeoutMs: number
  maxInflight: number
  clock: Clock
  random: Random
  /** Send a query to upstream number `i`. Must not throw. */
  send(i: number, bytes: Buffer): void
}

/** The upstream's answer with the client's id restored, or null (timeout, stopped). */
export type ForwardReply = (answer: Buffer | null) => void

interface Pending {
  origId: number
  query: Buffer
  qEnd: number
  reply: ForwardReply
  attempt: number
  deadline: number
  timer: ReturnType<Clock['setTimeout']> | null
}

export type ForwardStart = 'sent' | 'full' | 'no-upstreams'

export class Forwarder {
  readonly #d: ForwarderDeps
  readonly #inflight = new Map<number, Pending>()
  /** Answers ignored: unknown id, wrong source or question (late, duplicate or spoofed). */
  unmatched = 0
  timeouts = 0

  constructor(deps: ForwarderDeps) {
    this.#d = deps
  }

  get inflight(): number {
    return this.#inflight.size
  }

  /** Forward `msg` (a query whose question ends at qEnd); `reply` is called exactly once unless this returns early. */
  forward(msg: Buffer, qEnd: number, reply: ForwardReply): ForwardStart {
    const d = this.#d
    if (d.upstreams.length === 0) return 'no-upstreams'
    if (this.#inflight.size >= d.maxInflight) return 'full'
    let id = Math.floor(d.random.next() * 65536)
    while (this.#inflight.has(id)) id = (id + 1) & 0xffff
    const query = Buffer.from(msg)
    const origId = query.readUInt16BE(0)
    query.writeUInt16BE(id, 0)
    const p: Pending = { origId, query, qEnd, reply, attempt: 0, deadline: d.clock.now() + d.timeoutMs, timer: null }
    this.#inflight.set(id, p)
    d.send(0, query)
    this.#arm(id, p)
    return 'sent'
  }

  #arm(id: number, p: Pending): void {
    const d = this.#d
    const wait = Math.max(0, Math.min(d.attemptMs, p.deadline - d.clock.now()))
    p.timer = d.clock.setTimeout(() => this.#tick(id, p), wait)
  }

  #tick(id: number, p: Pending): void {
    if (this.#inflight.get(id) !== p) return
    const d = this.#d
    if (d.clock.now() >= p.deadline) {
      this.#inflight.delete(id)
      this.timeouts++
      p.reply(null)
      return
    }
    p.attempt++
    d.send(p.attempt % d.upstreams.length, p.query)
    this.#arm(id, p)
  }

  /** An answer arrived from host:port. Returns true when it completed a pending query. */
  receive(answer: Buffer, host: string, port: number): boolean {
    if (answer.length < HEADER_BYTES || ((answer[2] as number) & 0x80) === 0) return this.#miss()
    const id = answer.readUInt16BE(0)
    const p = this.#inflight.get(id)
    if (p === undefined) return this.#miss()
    if (!this.#d.upstreams.some((u) => u.port === port && sameHost(u.host, host))) return this.#miss()
    if (answer.length < p.qEnd || !sameQuestion(answer, p.query, p.qEnd)) return this.#miss()
    this.#inflight.delete(id)
    this.#d.clock.clearTimeout(p.timer)
    answer.writeUInt16BE(p.origId, 0)
    p.reply(answer)
    return true
  }

  /** Fail everything in flight (server stopping). */
  stop(): void {
    for (const [id, p] of this.#inflight) {
      this.#inflight.delete(id)
      this.#d.clock.clearTimeout(p.timer)
      p.reply(null)
    }
  }

  #miss(): false {
    this.unmatched++
    return false
  }
}

function sameHost(a: string, b: string): boolean {
  return a === b || (b.startsWith('::ffff:') && b.slice(7) === a)
}

/** Question sections equal, ignoring ASCII case (some servers answer in their own case). */
function sameQuestion(a: Buffer, b: Buffer, qEnd: number): boolean {
  if (a[4] !== b[4] || a[5] !== b[5]) return false
  for (let i = HEADER_BYTES; i < qEnd; i++) {
    const x = a[i] as number
    const y = b[i] as number
    if (x !== y && ((x | 0x20) !== (y | 0x20) || (x | 0x20) < 97 || (x | 0x20) > 122)) return false
  }
  return true
}
