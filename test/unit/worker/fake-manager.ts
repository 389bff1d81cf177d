import { PassThrough } from 'node:stream'
import type http from 'node:http'
import type { NodeOverlay } from '../../../src/api/types.ts'
import type { JoinReply, JoinRequest, ManagerReply, ManagerTransport, NodeTls, RenewReply, StatusUpdate, WatchHandlers, WatchStream } from '../../../src/worker/index.ts'
import { caDigest, createClusterCa, createNodeKeyAndCsr, formatJoinToken, signNodeCsr } from '../../../src/pki/index.ts'
import type { FakeClock } from '../../support/fake-clock.ts'

/** The fake manager's cluster CA (real certificates: the link parses them for renewal times). */
export const FAKE_CLUSTER_ID = 'fa6ec1a5'.repeat(4)
export const fakeCa = await createClusterCa({ clusterId: FAKE_CLUSTER_ID, now: Date.now() })
/** A worker join token pinning the fake manager's CA. */
export const FAKE_TOKEN = formatJoinToken({ caDigest: caDigest(fakeCa.certPem), secret: '5e'.repeat(16) })

/** A certificate for node `nodeId` of the fake CA, with its key, as a node holds it (tls/). */
export async function fakeNodeTls(nodeId = 'n1', role: 'worker' | 'manager' = 'worker'): Promise<NodeTls> {
  const k = await createNodeKeyAndCsr()
  const cert = await signNodeCsr(fakeCa, k.csrPem, { nodeId, role, clusterId: FAKE_CLUSTER_ID, now: Date.now() })
  return { ca: [fakeCa.certPem], cert, key: k.keyPem }
}

/** One watch stream the link opened; the test opens, feeds and drops it. */
export interface FakeStream {
  /** The certificate the link authenticated with. */
  cert: string | undefined
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
 * An in-memory manager behind the ManagerTransport role: hands out its CA, records joins (answered with a real
 * certificate for the CSR, node `n1`, unless `joinAnswer` is set), renewals, status batches and watch attempts, and
 * answers status posts from a script (`statusAnswers`: a status code, or 'down' for an unreachable manager).
 */
export class FakeManager implements ManagerTransport {
  readonly address: string = '10.0.0.1:7947'
  caPem = fakeCa.certPem
  readonly joins: { token: string; caPem: string; req: JoinRequest }[] = []
  readonly renewals: string[] = []
  readonly batches: { cert: string | undefined; updates: StatusUpdate[]; at: number }[] = []
  readonly streams: FakeStream[] = []
  readonly uploads: { cert: string | undefined; path: string }[] = []
  /** The TLS material the link handed over last (setTls). */
  tls: NodeTls | null = null
  joinAnswer: ManagerReply<JoinReply> | null = null
  /** A gossip keyring the default join reply carries (the cluster's, as the manager sends it), or none. */
  joinGossipKeys: unknown = undefined
  /** A managers list the default join reply carries (as a manager sends it, or something hostile), or none. */
  joinManagers: unknown = undefined
  joinAs = { nodeId: 'n1', role: 'worker' as 'worker' | 'manager' }
  statusAnswers: (number | 'down')[] = []
  /** Overlay registrations: the certificate the link authenticated with, what it registered, when. */
  readonly overlayPuts: { cert: string | undefined; reg: NodeOverlay; at: number }[] = []
  /** Answers to overlay registrations, in order (then 200): a status, or 'down'. */
  overlayAnswers: (number | 'down')[] = []
  /** When set, every watch attempt fails (ECONNREFUSED) just after it is made. */
  down = false

  readonly clock: FakeClock

  constructor(clock: FakeClock) { this.clock = clock }

  async fetchCa(): Promise<string> {
    return this.caPem
  }

  async join(token: string, caPem: string, req: JoinRequest): Promise<ManagerReply<JoinReply>> {
    this.joins.push({ token, caPem, req })
    if (this.joinAnswer) return this.joinAnswer
    const certificate = await signNodeCsr(fakeCa, req.csr, { ...this.joinAs, clusterId: FAKE_CLUSTER_ID, now: Date.now() })
    return { status: 200, body: { ...this.joinAs, certificate, ca: [fakeCa.certPem], ...(this.joinGossipKeys !== undefined ? { gossipKeys: this.joinGossipKeys } : {}),
      ...(this.joinManagers !== undefined ? { managers: this.joinManagers as JoinReply['managers'] } : {}) }, message: 'HTTP 200' }
  }

  setTls(tls: NodeTls): void {
    this.tls = tls
  }

  async renew(csr: string): Promise<ManagerReply<RenewReply>> {
    this.renewals.push(csr)
    const certificate = await signNodeCsr(fakeCa, csr, { ...this.joinAs, clusterId: FAKE_CLUSTER_ID, now: Date.now() })
    return { status: 200, body: { certificate, ca: [fakeCa.certPem] }, message: 'HTTP 200' }
  }

  async postStatus(updates: StatusUpdate[]): Promise<ManagerReply<unknown>> {
    this.batches.push({ cert: this.tls?.cert, updates, at: this.clock.now() })
    const a = this.statusAnswers.shift() ?? 200
    if (a === 'down') throw new Error('connect ECONNREFUSED')
    return { status: a, body: {}, message: `HTTP ${a}` }
  }

  async putOverlay(reg: NodeOverlay): Promise<ManagerReply<unknown>> {
    this.overlayPuts.push({ cert: this.tls?.cert, reg, at: this.clock.now() })
    const a = this.overlayAnswers.shift() ?? 200
    if (a === 'down') throw new Error('connect ECONNREFUSED')
    return { status: a, body: {}, message: a === 409 ? 'overlay subnet 10.77.1.0/24 is registered to node "w9"' : `HTTP ${a}` }
  }

  readonly gossipAcks: { version: number }[] = []

  async postGossipKeysAck(version: number): Promise<ManagerReply<unknown>> {
    this.gossipAcks.push({ version })
    return { status: 200, body: { version }, message: 'HTTP 200' }
  }

  watch(h: WatchHandlers): WatchStream {
    let over = false
    const end = () => {
      if (over) return
      over = true
      h.closed()
    }
    const s: FakeStream = {
      cert: this.tls?.cert, at: this.clock.now(), closedByLink: false,
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

  upload(path: string): http.ClientRequest {
    this.uploads.push({ cert: this.tls?.cert, path })
    return new PassThrough() as unknown as http.ClientRequest
  }
}
