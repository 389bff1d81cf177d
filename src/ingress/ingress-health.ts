import type { CatalogSnapshot, Endpoint } from '../catalog/index.ts'
import { isServing, type Balancer } from './balancer.ts'
import type { HealthTarget } from './health-check.ts'
import type { EndpointTarget, NodeTarget } from './probe-policy.ts'
import type { Prober } from './prober.ts'

/**
 * What takes an endpoint out of the kernel rules besides the catalog and the balancers' ejections: its node is down
 * (a node probe failed, or gossip suspects it: probe-policy.ts) or its task is known gone on this node (the local
 * runtime reported it no longer running, before the manager's catalog says so). Also picks the probe targets from
 * the published ports. No sockets, no timers (the Prober holds them).
 */
export interface HealthPorts {
  spec: { protocol: 'tcp' | 'udp' }
  balancer: Balancer
}

export class IngressHealth {
  readonly prober: Prober | null
  readonly #localNode: string | undefined
  readonly #nodeAddress: ((node: string) => HealthTarget | undefined) | undefined
  /** Task ids this node's runtime reported gone, until the catalog no longer lists them. */
  readonly #gone = new Set<string>()

  constructor(o: { prober: Prober | null; localNode?: string; nodeAddress?: (node: string) => HealthTarget | undefined }) {
    this.prober = o.prober
    this.#localNode = o.localNode
    this.#nodeAddress = o.nodeAddress
  }

  /** Whether `e` is out of the kernel rules for a reason of its own (a down node, a task gone here). */
  readonly out = (e: Endpoint): boolean => this.#gone.has(e.taskId) || (this.prober?.schedule.isDown(e.node) ?? false)

  /** A task of this node is no longer running: true when that is news. */
  taskGone(taskId: string): boolean {
    if (this.#gone.has(taskId)) return false
    this.#gone.add(taskId)
    return true
  }

  /** After each reconcile: forget gone tasks the catalog dropped; probe the ports' endpoints and their remote nodes. */
  follow(snap: CatalogSnapshot, ports: Iterable<HealthPorts>): void {
    if (this.#gone.size > 0) {
      const listed = new Set(snap.services.flatMap((s) => s.endpoints.map((e) => e.taskId)))
      for (const id of this.#gone) if (!listed.has(id)) this.#gone.delete(id)
    }
    if (!this.prober) return
    const endpoints = new Map<string, EndpointTarget>()
    const nodes = new Map<string, NodeTarget>()
    for (const p of ports) {
      for (const b of p.balancer.backends()) {
        if (!isServing(b.endpoint)) continue
        if (p.spec.protocol === 'tcp') endpoints.set(b.key, { key: b.key, ip: b.ip, port: b.port })
        const node = b.endpoint.node
        if (node === this.#localNode || nodes.has(node)) continue
        const at = this.#nodeAddress?.(node)
        if (at) nodes.set(node, { name: node, ip: at.ip, port: at.port })
      }
    }
    this.prober.setTargets(nodes.values(), endpoints.values())
  }
}
