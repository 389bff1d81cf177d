import { PassThrough } from 'node:stream'
import type http from 'node:http'
import type { JoinReply, JoinRequest, ManagerReply, ManagerTransport, StatusUpdate, WatchHandlers, WatchStream } from '../../../src/worker/index.ts'
import type { FakeClock } from '../../support/fake-clock.ts'

/** One watch stream the link opened; the test opens, feeds and drops it. */
export interface FakeStream {
  credential: string
  /** Virtual time when the link asked for it. */
  at: number
  open(): void
  send(m: unknown): void
  badLine(): void
  refuse(status: number): void
  drop(): void
  closedByLink: boolean
}

/**
 * An in-memory manager behind the ManagerTransport role: records joins, status batches and watch attempts, and
 * answers status posts from a script (`statusAnswers`: a status code, or 'down' for an unreachable manager).
 */
export class FakeManager implements ManagerTransport {
  readonly address = '10.0.0.1:7947'
  readonly joins: { token: string; req: JoinRequest }[] = []
  readonly batches: { credential: string; updates: StatusUpdate[]; at: number }[] = []
  readonly streams: FakeStream[] = []
  readonly uploads: { credential: string; path: string }[] = []
  joinAnswer: ManagerReply<JoinReply> = { status: 200, body: { nodeId: 'n1', credential: 'secret-1', role: 'worker' }, message: 'HTTP 200' }
  statusAnswers: (number | 'down')[] = []
  /** When set, every watch attempt fails (ECONNREFUSED) just after it is made. */
  down = false

  constructor(readonly clock: FakeClock) {}

  async join(token: string, req: JoinRequest): Promise<ManagerReply<JoinReply>> {
    this.joins.push({ token, req })
    return this.joinAnswer
  }

  async postStatus(credential: string, updates: StatusUpdate[]): Promise<ManagerReply<unknown>> {
    this.batches.push({ credential, updates, at: this.clock.now() })
    const a = this.statusAnswers.shift() ?? 200
    if (a === 'down') throw new Error('connect ECONNREFUSED')
    return { status: a, body: {}, message: `HTTP ${a}` }
  }

  readonly gossipAcks: { credential: string; version: number }[] = []

  async postGossipKeysAck(credential: string, version: number): Promise<ManagerReply<unknown>> {
    this.gossipAcks.push({ credential, version })
    return { status: 200, body: { version }, message: 'HTTP 200' }
  }

  watch(credential: string, h: WatchHandlers): WatchStream {
    let over = false
    const end = () => {
      if (over) return
      over = true
      h.closed()
    }
    const s: FakeStream = {
      credential, at: this.clock.now(), closedByLink: false,
      open: () => h.opened(),
      send: (m) => h.message(m),
      badLine: () => h.badLine(),
      refuse: (status) => { h.refused(status); end() },
      drop: end,
    }
    this.streams.push(s)
    if (this.down) queueMicrotask(end)
    return { close: () => { s.closedByLink = true; end() } }
  }

  upload(credential: string, path: string): http.ClientRequest {
    this.uploads.push({ credential, path })
    return new PassThrough() as unknown as http.ClientRequest
  }
}
