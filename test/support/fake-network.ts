import type { Clock, Random } from '../../src/base/clock.ts'
import { addressKey, type Address, type Framer, type Transport, type TransportHandler } from '../../src/gossip/transport.ts'

/**
 * An in-memory network on virtual time (memberlist's MockNetwork, plus loss, delay and partitions). Every
 * transport is keyed by "ip:port"; packets and streams are delivered through the clock so a test controls time.
 */
export interface FakeNetworkOptions {
  clock: Clock
  random: Random
  /** One-way latency, ms. */
  latencyMs?: number
  /** Probability in [0, 1) that a UDP packet is lost. Streams are never lost, but fail across a partition. */
  loss?: number
}

export class FakeNetwork {
  readonly clock: Clock
  readonly #random: Random
  readonly #transports = new Map<string, FakeTransport>()
  latencyMs: number
  loss: number
  /** Group id per address; packets only flow inside one group. Empty = no partition. */
  #partition = new Map<string, number>()
  packets = 0
  bytes = 0
  readonly bytesByNode = new Map<string, number>()

  constructor(o: FakeNetworkOptions) {
    this.clock = o.clock
    this.#random = o.random
    this.latencyMs = o.latencyMs ?? 1
    this.loss = o.loss ?? 0
  }

  transport(addr: Address): FakeTransport {
    const t = new FakeTransport(this, addr)
    return t
  }

  /** Split the network: each listed group only hears itself; unlisted addresses form one more group. */
  partition(groups: Address[][]): void {
    this.#partition = new Map()
    groups.forEach((g, i) => g.forEach((a) => this.#partition.set(addressKey(a), i + 1)))
  }

  heal(): void {
    this.#partition = new Map()
  }

  reachable(a: string, b: string): boolean {
    return (this.#partition.get(a) ?? 0) === (this.#partition.get(b) ?? 0)
  }

  register(key: string, t: FakeTransport | null): void {
    if (t) this.#transports.set(key, t)
    else this.#transports.delete(key)
  }

  lookup(key: string): FakeTransport | undefined {
    return this.#transports.get(key)
  }

  lost(): boolean {
    return this.loss > 0 && this.#random.next() < this.loss
  }

  account(from: string, n: number): void {
    this.packets++
    this.bytes += n
    this.bytesByNode.set(from, (this.bytesByNode.get(from) ?? 0) + n)
  }
}

export class FakeTransport implements Transport {
  readonly localAddress: Address
  readonly #net: FakeNetwork
  readonly #key: string
  #handler: TransportHandler<unknown> | null = null

  constructor(net: FakeNetwork, addr: Address) {
    this.#net = net
    this.localAddress = addr
    this.#key = addressKey(addr)
  }

  async listen<T>(handler: TransportHandler<T>): Promise<void> {
    this.#handler = handler as TransportHandler<unknown>
    this.#net.register(this.#key, this)
  }

  sendPacket(to: Address, data: Uint8Array): void {
    const net = this.#net
    if (!this.#handler) return
    net.account(this.#key, data.length)
    const toKey = addressKey(to)
    if (!net.reachable(this.#key, toKey) || net.lost()) return
    const copy = data.slice()
    const from = this.localAddress
    net.clock.setTimeout(() => {
      const dst = net.lookup(toKey)
      if (dst && net.reachable(this.#key, toKey)) dst.#handler?.onPacket(copy, from)
    }, net.latencyMs)
  }

  async request<T>(to: Address, data: Uint8Array, frame: Framer<T>, timeoutMs: number): Promise<T> {
    const reply = await this.#exchange(to, data, true, timeoutMs)
    if (!reply) throw new Error('connection closed without a reply')
    const r = frame(reply)
    if (!r) throw new Error('truncated reply')
    return r.value
  }

  async send(to: Address, data: Uint8Array, timeoutMs: number): Promise<void> {
    await this.#exchange(to, data, false, timeoutMs)
  }

  async close(): Promise<void> {
    this.#net.register(this.#key, null)
    this.#handler = null
  }

  #exchange(to: Address, data: Uint8Array, wantReply: boolean, timeoutMs: number): Promise<Uint8Array | null> {
    const net = this.#net
    const toKey = addressKey(to)
    net.account(this.#key, data.length)
    return new Promise((resolve, reject) => {
      let settled = false
      const finish = (err: Error | null, v: Uint8Array | null) => {
        if (settled) return
        settled = true
        net.clock.clearTimeout(timer)
        if (err) reject(err)
        else resolve(v)
      }
      const timer = net.clock.setTimeout(() => finish(new Error('i/o timeout'), null), timeoutMs)
      net.clock.setTimeout(() => {
        const dst = net.lookup(toKey)
        if (!dst || !dst.#handler || !net.reachable(this.#key, toKey)) {
          finish(new Error(`dial ${toKey}: connection refused`), null)
          return
        }
        const h = dst.#handler
        let req: { value: unknown; bytes: number } | null
        try {
          req = h.frame(data)
        } catch (err) {
          const errReply = h.onStreamError(err, this.localAddress)
          net.clock.setTimeout(() => finish(null, errReply), net.latencyMs)
          return
        }
        if (!req) {
          finish(new Error('remote closed: truncated request'), null)
          return
        }
        h.onStream(req.value, this.localAddress).then(
          (reply) => {
            if (reply) net.account(toKey, reply.length)
            net.clock.setTimeout(() => {
              if (!net.reachable(this.#key, toKey)) finish(new Error('connection reset'), null)
              else finish(null, wantReply ? reply : null)
            }, net.latencyMs)
          },
          (err: Error) => finish(err, null),
        )
      }, net.latencyMs)
    })
  }
}
