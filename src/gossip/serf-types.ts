import type { Member } from './state.ts'

/** serf's layer: the member view, events, config and counters it exposes, and its Lamport clock (see serf.ts). */

export type SerfStatus = 'alive' | 'leaving' | 'left' | 'failed'

export interface SerfMember {
  name: string
  ip: string
  port: number
  tags: Record<string, string>
  status: SerfStatus
  /** memberlist's own view: alive, suspect, dead or left. */
  state: Member['state']
  incarnation: number
  vsn: number[]
  statusLTime: number
  /** Clock time of the last change we saw, ms. */
  changedMs: number
}

export type SerfEvent =
  | { type: 'join' | 'update' | 'suspect' | 'alive' | 'fail' | 'leave' | 'reap'; member: SerfMember }
  | { type: 'user'; name: string; payload: Uint8Array; ltime: number }
  | { type: 'direct'; payload: Uint8Array }
  | { type: 'conflict'; name: string; existing: string; other: string }
  | { type: 'refuted'; incarnation: number; accusedBy: string }

/** serf's Lamport clock: witness(v) moves past v; time() is the current value. Starts at 1. */
export class LamportClock {
  #t = 1
  time(): number { return this.#t }
  increment(): number { return ++this.#t }
  witness(v: number): void { if (v >= this.#t) this.#t = v + 1 }
}

export interface SerfConfig {
  name: string
  tags: Record<string, string>
  retransmitMult: number
  reconnectIntervalMs: number
  /** Failed members are forgotten after this long, ms (serf: 24 h). */
  reconnectTimeoutMs: number
  /** Left members are forgotten after this long, ms (serf: 24 h). */
  tombstoneTimeoutMs: number
  /** Most members kept, any status; failed and left ones are reaped oldest first to stay under it. */
  maxMembers: number
  /** Most failed or left members kept; beyond it the oldest are reaped. */
  maxDeadMembers: number
}

export interface SerfCounters {
  /** Members whose metadata held tags we refuse (tagsProblem); their tags were not taken. */
  tagsRefused: number
  /** Relays and query acks not sent because the destination is not a member at that address. */
  relaysRefused: number
  /** Failed or left members forgotten early because of maxMembers or maxDeadMembers. */
  membersReaped: number
}
