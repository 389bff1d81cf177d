import type { LocalNetwork, NetworkPlan, VxlanDevice } from './net-plan.ts'
import type { NetworkSpec } from './docker-net.ts'

/**
 * Brings this node's networks in line with a plan (net-plan.ts): one Docker bridge network per network with a slice
 * here (created before any task needs it, removed when the network left the catalog and nothing is attached), one
 * VXLAN device per unencrypted one with its FDB, neighbour and route entries, and nothing else — a device, entry or
 * Docker network that mesh made and the plan no longer holds goes. Adopts what an earlier run left (live restore):
 * equal state is kept as is. The system calls go through `NetOps` (the real one: docker-net.ts, vxlan.ts, links.ts).
 */

export interface NetOps {
  listDockerNetworks(): Promise<{ name: string; networkId: string; containers: number }[]>
  ensureDockerNetwork(spec: NetworkSpec): Promise<'created' | 'kept' | 'replaced'>
  removeDockerNetwork(name: string): Promise<boolean>
  enableProxyArp(bridge: string): Promise<void>
  listVxlans(): Promise<{ name: string; vni: number; mac: string; mtu: number; local: string }[]>
  ensureVxlan(d: { name: string; vni: number; mac: string; mtu: number; local: string }, existing?: { vni: number; mac: string; mtu: number; local: string }): Promise<'kept' | 'created'>
  deleteVxlan(name: string): Promise<void>
  fdb(dev: string): Promise<{ mac: string; dst: string }[]>
  replaceFdb(dev: string, mac: string, dst: string): Promise<void>
  deleteFdb(dev: string, mac: string, dst: string): Promise<void>
  neighbours(dev: string): Promise<{ ip: string; mac: string }[]>
  replaceNeighbour(dev: string, ip: string, mac: string): Promise<void>
  deleteNeighbour(dev: string, ip: string): Promise<void>
  routes(dev: string): Promise<{ dst: string; via?: string }[]>
  replaceRoute(dst: string, via: string, dev: string, src: string): Promise<void>
  deleteRoute(dst: string, dev: string): Promise<void>
  /** Routes of a network's own table (replies to peers' hosts): destination and next hop. */
  tableRoutes(table: number): Promise<{ dst: string; via?: string }[]>
  replaceTableRoute(dst: string, via: string, dev: string, table: number): Promise<void>
  deleteTableRoute(dst: string, table: number): Promise<void>
  /** The `from <slice> lookup <table>` rules mesh made (tables from VXLAN_TABLE_BASE on). */
  rules(): Promise<{ from: string; table: number }[]>
  addRule(from: string, table: number): Promise<void>
  deleteRule(from: string, table: number): Promise<void>
}

export type NetLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

export class NodeNetworks {
  readonly #ops: NetOps
  readonly #log: NetLog
  readonly #underlay: string
  /** Names of the Docker networks that are up as the last plan wants them. */
  #ready = new Set<string>()

  constructor(o: { ops: NetOps; log: NetLog; underlay: string }) {
    this.#ops = o.ops
    this.#log = o.log
    this.#underlay = o.underlay
  }

  /** Whether the Docker network `name` is up (a task may be created on it). */
  isReady(name: string): boolean {
    return this.#ready.has(name)
  }

  /**
   * Apply a plan; resolves true when the host is exactly as planned, false when something is left to do later (a
   * step failed, or a network that left still has containers attached): the caller applies again after a while.
   */
  async apply(plan: NetworkPlan): Promise<boolean> {
    let settled = true
    const ready = new Set<string>()
    for (const n of plan.local) {
      try {
        await this.#network(n)
        ready.add(n.name)
      } catch (err) {
        settled = false
        this.#log('error', 'network setup failed', { network: n.name, err: (err as Error).message })
      }
    }
    this.#ready = ready
    const wanted = new Set(plan.local.map((n) => n.name))
    for (const d of await this.#ops.listDockerNetworks()) {
      if (wanted.has(d.name)) continue
      if (d.containers > 0) {
        settled = false
        this.#log('info', 'network left this node but containers are still attached; removed once they are gone', { network: d.name, containers: d.containers })
        continue
      }
      if (await this.#ops.removeDockerNetwork(d.name)) this.#log('info', 'network removed from this node', { network: d.name })
      else settled = false
    }
    return await this.#vxlans(plan.vxlans) && await this.#rules(plan.vxlans) && settled
  }

  /** Remove everything mesh made for the networks (leave): Docker networks without containers, every VXLAN device. */
  async teardown(): Promise<boolean> {
    return this.apply({ local: [], vxlans: [], allowedIps: new Map(), tunnelRoutes: [], vipRoutes: [], ranges: [], gateways: [], multiHomed: [], vxlanPeers: [] })
  }

  async #network(n: LocalNetwork): Promise<void> {
    const outcome = await this.#ops.ensureDockerNetwork({
      name: n.name, subnet: n.subnet, ipRange: n.slice, gateway: n.gateway, mtu: n.mtu, bridgeName: n.bridge, networkId: n.id,
    })
    await this.#ops.enableProxyArp(n.bridge)
    if (outcome !== 'kept') this.#log('info', 'network up on this node', { network: n.name, slice: n.slice, bridge: n.bridge, mtu: n.mtu, docker: outcome })
  }

  async #vxlans(want: readonly VxlanDevice[]): Promise<boolean> {
    let settled = true
    const have = new Map((await this.#ops.listVxlans()).map((v) => [v.name, v]))
    for (const v of want) {
      try {
        const outcome = await this.#ops.ensureVxlan({ name: v.name, vni: v.vni, mac: v.mac, mtu: v.mtu, local: this.#underlay }, have.get(v.name))
        if (outcome === 'created') this.#log('info', 'vxlan device up', { dev: v.name, vni: v.vni, mtu: v.mtu })
        await this.#entries(v)
      } catch (err) {
        settled = false
        this.#log('error', 'vxlan setup failed', { dev: v.name, err: (err as Error).message })
      }
    }
    const names = new Set(want.map((v) => v.name))
    for (const name of have.keys()) {
      if (names.has(name)) continue
      await this.#ops.deleteVxlan(name)
      this.#log('info', 'vxlan device removed', { dev: name })
    }
    return settled
  }

  /**
   * FDB, neighbour and route entries of one device: exactly one of each per peer slice (routes in the main table)
   * and per peer host (routes in the network's table).
   */
  async #entries(v: VxlanDevice): Promise<void> {
    const ops = this.#ops
    const fdb = await ops.fdb(v.name)
    const neigh = await ops.neighbours(v.name)
    const routes = await ops.routes(v.name)
    const all = [...v.neighbours, ...v.hosts]
    for (const n of all) {
      if (!fdb.some((e) => e.mac === n.mac && e.dst === n.underlay)) await ops.replaceFdb(v.name, n.mac, n.underlay)
      if (!neigh.some((e) => e.ip === n.gateway && e.mac === n.mac)) await ops.replaceNeighbour(v.name, n.gateway, n.mac)
    }
    for (const n of v.neighbours) {
      if (!routes.some((r) => r.dst === n.slice && r.via === n.gateway)) await ops.replaceRoute(n.slice, n.gateway, v.name, v.gateway)
    }
    for (const e of fdb) if (!all.some((n) => n.mac === e.mac && n.underlay === e.dst)) await ops.deleteFdb(v.name, e.mac, e.dst)
    for (const e of neigh) if (!all.some((n) => n.gateway === e.ip)) await ops.deleteNeighbour(v.name, e.ip)
    for (const r of routes) if (!v.neighbours.some((n) => n.slice === r.dst)) await ops.deleteRoute(r.dst, v.name)
    const inTable = await ops.tableRoutes(v.table)
    for (const h of v.hosts) {
      const dst = h.slice.replace(/\/32$/, '')
      if (!inTable.some((r) => (r.dst === dst || r.dst === h.slice) && r.via === h.gateway)) await ops.replaceTableRoute(h.slice, h.gateway, v.name, v.table)
    }
    for (const r of inTable) if (!v.hosts.some((h) => h.slice === r.dst || h.slice === `${r.dst}/32`)) await ops.deleteTableRoute(r.dst, v.table)
  }

  /** One `from <slice> lookup <table>` rule per device with a slice here, none else (host-only devices have none). */
  async #rules(want: readonly VxlanDevice[]): Promise<boolean> {
    try {
      const have = await this.#ops.rules()
      const wanted = want.flatMap((v) => (v.slice ? [{ from: v.slice, table: v.table }] : []))
      for (const w of wanted) if (!have.some((r) => r.from === w.from && r.table === w.table)) await this.#ops.addRule(w.from, w.table)
      for (const r of have) if (!wanted.some((w) => w.from === r.from && w.table === r.table)) await this.#ops.deleteRule(r.from, r.table)
      return true
    } catch (err) {
      this.#log('error', 'vxlan policy rules failed', { err: (err as Error).message })
      return false
    }
  }
}
