/**
 * The synthetic catalog of bench/agent-scale.ts: `services` services of `perService` endpoints each, every service
 * with a VIP and one published TCP port, endpoints spread over 10 nodes; and the churn that replaces a share of the
 * endpoints per tick (a rescheduled task: new task id, new address), seeded so runs repeat.
 */
import { seededRandom, type Random } from '../src/base/index.ts'
import type { CatalogService, CatalogSnapshot, Endpoint } from '../src/catalog/index.ts'

export interface ScaleOptions {
  services: number
  perService: number
  /** First published port; service i publishes portBase + i. */
  portBase: number
}

const NODES = 10

/** 10.77.0.0/16 host k (skipping .0 and .255 of each /24 is not needed: the catalog takes any host address). */
function overlayIp(k: number): string {
  const n = 256 + (k % 65_000)
  return `10.77.${n >> 8}.${n & 255}`
}

function vip(i: number): string {
  const n = 256 + i
  return `10.78.${n >> 8}.${n & 255}`
}

export class ScaleCatalog {
  readonly #o: ScaleOptions
  readonly #random: Random
  #services: CatalogService[] = []
  #revision = 1
  #nextIp = 0
  #nextTask = 0

  constructor(o: ScaleOptions, seed = 21) {
    this.#o = o
    this.#random = seededRandom(seed)
    for (let i = 0; i < o.services; i++) {
      const name = `svc${i}`
      const endpoints: Endpoint[] = []
      for (let slot = 1; slot <= o.perService; slot++) endpoints.push(this.#endpoint(name, slot))
      this.#services.push({
        id: `s${i}`, name, shortName: name, vip: vip(i), endpointMode: 'vip', stopGracePeriodMs: 10_000, endpoints,
        ports: [{ protocol: 'tcp', target: 80, published: o.portBase + i, mode: 'ingress' }],
      })
    }
  }

  get endpoints(): number {
    return this.#o.services * this.#o.perService
  }

  /** Service names, in order. */
  name(i: number): string {
    return `svc${i}`
  }

  /** Add a service (the idle-connection phase's, with a real backend). */
  add(s: CatalogService): CatalogSnapshot {
    this.#services = [...this.#services, s]
    this.#revision++
    return this.snapshot()
  }

  snapshot(): CatalogSnapshot {
    const nodes = Array.from({ length: NODES }, (_, n) => ({ id: `n${n}`, hostname: `node${n}`, addr: `192.168.50.${n + 10}`, state: 'ready' as const }))
    return { revision: this.#revision, epoch: 'bench', services: this.#services, nodes }
  }

  /**
   * Replace `count` endpoints picked at random (each a task rescheduled: new id and address). Returns the next
   * snapshot and one changed service with the address it gained (what the timers look for).
   */
  churn(count: number): { snap: CatalogSnapshot; service: string; ip: string } {
    const touched = new Map<number, CatalogService>()
    let last = { service: '', ip: '' }
    for (let c = 0; c < count; c++) {
      const i = Math.floor(this.#random.next() * this.#o.services)
      const s = touched.get(i) ?? { ...(this.#services[i] as CatalogService), endpoints: [...(this.#services[i] as CatalogService).endpoints] }
      const j = Math.floor(this.#random.next() * s.endpoints.length)
      const e = this.#endpoint(s.name, (s.endpoints[j] as Endpoint).slot)
      s.endpoints[j] = e
      touched.set(i, s)
      last = { service: s.name, ip: e.ip }
    }
    const services = [...this.#services]
    for (const [i, s] of touched) services[i] = s
    this.#services = services
    this.#revision++
    return { snap: this.snapshot(), ...last }
  }

  /** A hosts file of the same names dnsmasq serves in the peer run: the VIP and every task address. */
  hostsFile(): string {
    const lines: string[] = []
    for (const s of this.#services) {
      if (s.vip) lines.push(`${s.vip} ${s.name} ${s.name}.mesh`)
      for (const e of s.endpoints) lines.push(`${e.ip} tasks.${s.name}`)
    }
    return `${lines.join('\n')}\n`
  }

  #endpoint(service: string, slot: number): Endpoint {
    const k = this.#nextIp++
    const node = k % NODES
    return {
      taskId: `t${this.#nextTask++}`, slot, taskName: `${service}.${slot}`, nodeId: `n${node}`, node: `node${node}`,
      ip: overlayIp(k), state: 'running', health: 'none',
    }
  }
}
