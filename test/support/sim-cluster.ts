import { lanGossipConfig, type GossipConfig } from '../../src/config/gossip.ts'
import { seededRandom } from '../../src/base/clock.ts'
import { Gossip, type MemberInfo } from '../../src/gossip/index.ts'
import type { Address } from '../../src/gossip/transport.ts'
import { FakeClock } from './fake-clock.ts'
import { FakeNetwork } from './fake-network.ts'

/**
 * N gossip nodes in one process on a FakeNetwork with virtual time: the real Gossip (memberlist + serf layers,
 * real codec), only the clock, random and transport are fakes.
 */
export interface SimNode {
  name: string
  addr: Address
  gossip: Gossip
  alive: boolean
}

export interface SimOptions {
  nodes: number
  seed?: number
  loss?: number
  latencyMs?: number
  config?: Partial<GossipConfig>
}

export class SimCluster {
  readonly clock = new FakeClock()
  readonly net: FakeNetwork
  readonly nodes: SimNode[] = []
  readonly #seed: number
  readonly #config: Partial<GossipConfig>

  constructor(o: SimOptions) {
    this.#seed = o.seed ?? 1
    this.#config = o.config ?? {}
    this.net = new FakeNetwork({ clock: this.clock, random: seededRandom(this.#seed * 7919), loss: o.loss ?? 0, latencyMs: o.latencyMs ?? 1 })
    for (let i = 0; i < o.nodes; i++) this.nodes.push(this.#makeNode(i))
  }

  static address(i: number): Address {
    return { ip: `127.${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 7946 }
  }

  #makeNode(i: number, nameOverride?: string): SimNode {
    const name = nameOverride ?? `n${i}`
    const addr = SimCluster.address(i)
    const config: GossipConfig = {
      ...lanGossipConfig(), name, bindAddr: addr.ip, advertiseAddr: addr.ip, ...this.#config,
    }
    const gossip = new Gossip(config, {
      clock: this.clock, random: seededRandom(this.#seed * 1_000_003 + i), transport: this.net.transport(addr),
    })
    return { name, addr, gossip, alive: false }
  }

  /** Start every node; node i joins through node 0 (and i−1), staggered by `staggerMs` of virtual time. */
  async startAll(staggerMs = 10): Promise<void> {
    for (const [i, n] of this.nodes.entries()) {
      await n.gossip.start()
      n.alive = true
      if (i > 0) {
        const seeds = [`${SimCluster.address(0).ip}:7946`]
        await this.settle(n.gossip.join(seeds).catch(() => 0))
      }
      await this.clock.advance(staggerMs)
    }
  }

  /** Await a promise that needs virtual time to pass (network round trips), advancing the clock meanwhile. */
  async settle<T>(p: Promise<T>, stepMs = 1, maxMs = 60_000): Promise<T> {
    let done = false
    let value: T | undefined
    let error: unknown
    p.then((v) => { done = true; value = v }, (e: unknown) => { done = true; error = e ?? new Error('rejected') })
    const start = this.clock.now()
    while (!done && this.clock.now() - start < maxMs) await this.clock.advance(stepMs)
    if (!done) throw new Error(`promise did not settle within ${maxMs} virtual ms`)
    if (error !== undefined) throw error
    return value as T
  }

  /** kill -9: the node stops answering at once, no leave. */
  async kill(i: number): Promise<void> {
    const n = this.nodes[i] as SimNode
    n.alive = false
    await n.gossip.stop()
  }

  /** Start node i again (same name and address) after a kill, joining through node 0 (or 1 if i is 0). */
  async restart(i: number): Promise<void> {
    const n = this.#makeNode(i)
    this.nodes[i] = n
    await n.gossip.start()
    n.alive = true
    const seed = SimCluster.address(i === 0 ? 1 : 0)
    await this.settle(n.gossip.join([`${seed.ip}:7946`]))
  }

  /** A node outside the list (index used only for its address), e.g. an impostor with a taken name. */
  extraNode(name: string, i: number): SimNode {
    return this.#makeNode(i, name)
  }

  live(): SimNode[] {
    return this.nodes.filter((n) => n.alive)
  }

  view(observer: SimNode, name: string): MemberInfo | undefined {
    return observer.gossip.member(name)
  }

  /** Advance in steps until `cond` holds or `maxMs` of virtual time passes; returns the virtual ms it took or -1. */
  async until(cond: () => boolean, maxMs: number, stepMs = 100): Promise<number> {
    const start = this.clock.now()
    while (this.clock.now() - start <= maxMs) {
      if (cond()) return this.clock.now() - start
      await this.clock.advance(stepMs)
    }
    return cond() ? this.clock.now() - start : -1
  }

  everyLiveNodeSees(name: string, states: MemberInfo['state'][]): boolean {
    return this.live().every((n) => n.name === name || states.includes(this.view(n, name)?.state ?? ('none' as MemberInfo['state'])))
  }

  fullyConverged(): boolean {
    const live = this.live()
    return live.every((n) => {
      return n.gossip.aliveCount() === live.length
    })
  }

  async stopAll(): Promise<void> {
    for (const n of this.nodes) if (n.alive) await n.gossip.stop()
  }
}
