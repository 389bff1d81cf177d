/**
 * src/overlay — the WireGuard container overlay.
 *
 * What it does: each node claims one subnet of the overlay range through gossip (subnet-claim.ts), runs a
 * WireGuard interface (kernel or wireguard-go, tunnel.ts) with one peer per other live node (endpoint = the
 * node's underlay address, allowed-ips = its subnet), routes the other nodes' subnets into the tunnel, and
 * gives Docker a bridge network on its own subnet (docker-net.ts). Containers of any node then reach containers of
 * every other node by IP, encrypted. Peers and routes follow gossip: added on join, removed on fail/leave.
 * On an agent that belongs to a cluster (`membership: 'manager'`), a member becomes a peer only when the manager's
 * registered list (`setPeers`, kept by peer-list-file.ts) holds its name, key and subnet (authorised.ts); the node
 * registers its own once it holds a subnet (`onHeld`). A bare agent trusts gossip alone (its trust: the gossip key).
 *
 * Who calls it: agent/ after gossip has joined. Node facts travel as gossip tags (tags.ts).
 * Stop is not leave: `detach()` (SIGTERM, a handover) leaves interface, wireguard-go, routes, firewall, network and
 * lease in place; the next start adopts them (the interface as is, routes replaced in place, the firewall replaced in
 * one nft transaction, its lease's subnet held at once: `resumeTags`, subnet-claim.ts). `stop()` tears down (leave).
 * Invariants: a subnet is used only once its claim has settled (or was held by this node's previous run); restarts are idempotent (same key, same subnet,
 * no duplicate peers, routes or rules); overlay ↔ overlay traffic is never NATed.
 * Never: touch a route, rule or network it did not create; start without saying why when a prerequisite is missing.
 */
import { join } from 'node:path'
import type { OverlayConfig } from '../config/overlay.ts'
import { ConfigError } from '../base/errors.ts'
import type { NodeOverlay, OverlayPeer, OverlayStatus } from '../api/index.ts'
import { mathRandom, realClock } from '../base/clock.ts'
import type { Gossip } from '../gossip/index.ts'
import { dockerAnswers, dockerClient, ensureNetwork, removeNetworkIfUnused } from './docker-net.ts'
import { applyFirewall, removeFirewall, type FirewallSpec } from './firewall.ts'
import { createNftRunner, type NftRunner } from '../base/nft.ts'
import { SubnetPool } from './ipam.ts'
import { parseCidr } from '../base/cidr.ts'
import { deleteRoute, mtuOfAddress, replaceRoute, routesVia } from './links.ts'
import { desiredPeers, planPeers, planRoutes, type DesiredPeer, type PeerRejection } from './peers.ts'
import { SubnetClaim, type ClaimEvent } from './subnet-claim.ts'
import { TAG_SUBNET, TAG_SUBNET_HELD, TAG_WG_KEY, TAG_WG_PORT, claimsFromMembers } from './tags.ts'
import { WireGuardTunnel } from './tunnel.ts'
import { wgGoAdvice } from './wg-impl.ts'
import type { WireGuardImpl } from '../api/index.ts'
import { loadOrCreateKey, type WgKeyPair } from './wg-keys.ts'
import { readLease, writeLease } from './lease.ts'
import { authorisedPeers, checkPeerList, registeredClaims } from './authorised.ts'
import { readPeerList, writePeerList } from './peer-list-file.ts'
import type { CatalogSnapshot } from '../api/catalog.ts'
import { NodeNetworks } from './networks.ts'
import { checkOverlaps } from './overlaps.ts'
import { syncNetworks, systemNetOps } from './net-sync.ts'
import { nftRuleset } from './firewall.ts'
import type { NetworkPlan } from './net-plan.ts'

export { SubnetPool } from './ipam.ts'
export { PEERS_FILE } from './peer-list-file.ts'
export { LEASE_FILE } from './lease.ts'
export { resumeTags } from './resume.ts'
export { TAG_SUBNET, TAG_WG_KEY } from './tags.ts'
export type { OverlayPeerStatus, OverlayStatus } from '../api/index.ts'
export { NodeNetworks, type NetOps } from './networks.ts'
export { BRIDGE_PREFIX, planNetworks, type NetworkPlan } from './net-plan.ts'
export { registerOverlayMetrics, cachedOverlayStatus, type OverlayStatusSource } from './metrics.ts'

/** A network step left undone (containers still attached, a failed command) is tried again after this long. */
const NETWORK_RETRY_MS = 10_000

export type Log = (level: 'info' | 'warn' | 'error' | 'debug', msg: string, fields?: Record<string, unknown>) => void

/**
 * Who decides which members become WireGuard peers: 'manager' (the agent belongs to a cluster: only what the
 * manager registered, pushed with setPeers) or 'gossip' (a bare agent: every member whose tags pass the checks).
 */
export type OverlayMembership = 'manager' | 'gossip'

export class Overlay {
  readonly #c: Readonly<OverlayConfig>
  readonly #gossip: Gossip
  readonly #dataDir: string
  readonly #advertise: string
  readonly #log: Log
  readonly #nft: NftRunner
  #enabled = false
  #reason = 'not started'
  #pool: SubnetPool | null = null
  #key: WgKeyPair | null = null
  #mtu = 0
  #underlayMtu = 1500
  /** The catalog's networks on this node (null until `setCatalog`; bare agents never get one). */
  #catalog: CatalogSnapshot | null = null
  #nets: NodeNetworks | null = null
  #rulesetText = ''
  #planText = ''
  #tunnel: WireGuardTunnel | null = null
  #impl: WireGuardImpl | null = null
  #claim: SubnetClaim | null = null
  #docker: ReturnType<typeof dockerClient> | null = null
  #ready = false
  #unsubscribe: (() => void) | null = null
  #reconciling: Promise<void> | null = null
  #again = false
  /** Why each currently skipped member is skipped (logged once per new reason), and how many rejections so far. */
  #rejected = new Map<string, string>()
  #rejectedCount = 0
  readonly #membership: OverlayMembership
  /** The manager's registered list (manager membership; empty until it is pushed or read from overlay-peers.json). */
  #registered: OverlayPeer[] = []
  #registeredText = ''
  #onHeld: ((reg: NodeOverlay) => void) | null = null

  /**
   * `nft`: runs the firewall's rulesets (src/base/nft.ts; the agent's `--nft-exec`). Default: libnftables in-process
   * when the addon loads, else `nft -f -` (logged once).
   */
  constructor(c: Readonly<OverlayConfig>, o: { gossip: Gossip; dataDir: string; advertiseAddr: string; log: Log; membership?: OverlayMembership; nft?: NftRunner }) {
    this.#c = c
    this.#nft = o.nft ?? createNftRunner('auto', { onFallback: (why) => o.log('info', 'nft rules go through nft -f -: libnftables unavailable', { why }) })
    this.#membership = o.membership ?? 'gossip'
    this.#gossip = o.gossip
    this.#dataDir = o.dataDir
    this.#advertise = o.advertiseAddr
    this.#log = o.log
  }

  get enabled(): boolean {
    return this.#enabled
  }

  /** Check prerequisites, bring up the tunnel and start claiming a subnet. */
  async start(): Promise<void> {
    const c = this.#c
    if (c.mode === 'off') {
      this.#reason = 'disabled (--overlay off)'
      return
    }
    const docker = dockerClient(c.dockerSocket)
    if (!(await dockerAnswers(docker))) {
      if (c.mode === 'auto') {
        this.#reason = `no Docker engine at ${c.dockerSocket}`
        this.#log('warn', 'overlay disabled: no Docker engine answers', { socket: c.dockerSocket })
        return
      }
      throw new ConfigError(`overlay: no Docker engine answers at ${c.dockerSocket}; start dockerd, or run with --overlay off`)
    }
    this.#docker = docker
    const range = parseCidr(c.range, 'overlay range')
    this.#pool = new SubnetPool(range, c.subnetPrefix)
    await checkOverlaps(docker, range, this.#c)
    if (this.#membership === 'manager') this.#keep(readPeerList(this.#dataDir, this.#pool) ?? []) // corrupt: one line naming it
    this.#key = loadOrCreateKey(this.#dataDir)
    const underlayMtu = (await mtuOfAddress(this.#advertise)) ?? 1500
    this.#underlayMtu = underlayMtu
    this.#mtu = c.mtu > 0 ? c.mtu : underlayMtu - 80
    this.#nets = new NodeNetworks({ ops: systemNetOps(docker), underlay: this.#advertise, log: (level, msg, fields) => this.#log(level, msg, fields) })
    this.#tunnel = new WireGuardTunnel({
      ifname: c.ifname, mtu: this.#mtu, runDir: c.wgRunDir, dataDir: this.#dataDir, wireguardGo: c.wireguardGo,
      log: (msg, fields) => this.#log('info', msg, fields),
    })
    await this.#tunnel.start()
    const resume = this.#tunnel.adopted && this.#c.mode !== 'off'
    await this.#tunnel.control.set({ privateKey: this.#key.privateKey, listenPort: c.wgPort })
    this.#impl = await this.#tunnel.describe(c.wgPort)
    this.#log('info', 'wireguard in use', { ...this.#impl })
    const advice = this.#impl && wgGoAdvice(this.#impl)
    if (advice) this.#log('warn', advice, { binary: this.#impl?.binary })
    this.#enabled = true
    this.#reason = ''
    this.#gossip.updateTags({ [TAG_WG_KEY]: this.#key.publicKey, [TAG_WG_PORT]: String(c.wgPort) })
    this.#claim = new SubnetClaim({
      pool: this.#pool, self: this.#gossip.config.name, clock: realClock(), random: mathRandom, settleMs: c.settleMs,
      preferred: readLease(this.#dataDir, this.#c.range, this.#pool), resume,
      publish: (subnet, held) => this.#gossip.updateTags({ [TAG_SUBNET]: subnet, [TAG_SUBNET_HELD]: held ? '1' : '0' }),
      emit: (e) => this.#onClaim(e),
    })
    this.#unsubscribe = this.#gossip.on((e) => {
      if (e.type === 'user' || e.type === 'direct' || e.type === 'refuted') return
      this.#claim?.update(this.#claims())
      this.reconcile()
    })
    this.#claim.start(this.#claims())
  }

  /**
   * The manager's list of registered overlay members (`{peers}` on the watch stream): checked (a bad entry is
   * skipped and logged), kept in overlay-peers.json when it changed, then peers and routes follow it.
   */
  setPeers(peers: readonly OverlayPeer[]): void {
    if (this.#membership !== 'manager' || !this.#pool) return
    const pool = this.#pool
    const checked = checkPeerList(peers, pool, (problem) => this.#log('warn', 'overlay peer list entry skipped', { problem }))
    if (!this.#keep(checked)) return
    try {
      writePeerList(this.#dataDir, checked)
    } catch (err) {
      this.#log('error', 'cannot keep the overlay peer list', { err: (err as Error).message })
    }
    this.#claim?.update(this.#claims())
    this.reconcile()
  }

  /**
   * The catalog (every change): the networks with a slice on this node get their Docker bridge network and (when
   * unencrypted) a VXLAN device; peers' slices join their allowed-ips and routes; the isolation rules follow.
   */
  setCatalog(snap: CatalogSnapshot): void {
    this.#catalog = snap
    this.reconcile()
  }

  /** Resolves once every one of `names` is up as a Docker network on this node; rejects naming the first missing one. */
  async networksReady(names: readonly string[], timeoutMs: number): Promise<void> {
    const start = Date.now()
    for (;;) {
      const missing = names.find((n) => n !== this.#c.network && !this.#nets?.isReady(n))
      if (missing === undefined) return
      if (Date.now() - start > timeoutMs) throw new ConfigError(`network "${missing}" is not set up on this node after ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Called with this node's key and subnet once it holds one (and at once if it already does): to register them. */
  onHeld(cb: (reg: NodeOverlay) => void): void {
    this.#onHeld = cb
    const subnet = this.#gateway() ? this.#claim?.subnet : null
    if (this.#ready && subnet && this.#key) cb({ publicKey: this.#key.publicKey, subnet })
  }

  /** Take `peers` as the registered list; false when it is the list already held. */
  #keep(peers: OverlayPeer[]): boolean {
    const text = JSON.stringify(peers)
    if (text === this.#registeredText) return false
    this.#registered = peers
    this.#registeredText = text
    return true
  }

  /** Subnet claims gossip shows, plus (manager membership) the subnets registered to other nodes. */
  #claims() {
    const claims = claimsFromMembers(this.#gossip.members(), this.#pool as SubnetPool)
    return this.#membership === 'manager' ? [...claims, ...registeredClaims(this.#registered, this.#gossip.config.name)] : claims
  }

  /** Resolves once this node holds a subnet and its network is up (or rejects after `timeoutMs`). */
  async ready(timeoutMs: number): Promise<void> {
    const start = Date.now()
    while (!this.#ready) {
      if (!this.#enabled) throw new ConfigError(`overlay: ${this.#reason}`)
      if (Date.now() - start > timeoutMs) throw new ConfigError(`overlay: no subnet held after ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  /**
   * Stop without leaving (live restore): stop following gossip and claiming; the interface, wireguard-go, peers,
   * routes, firewall, Docker network and lease stay for the next start to adopt.
   */
  async detach(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = null
    this.#claim?.stop()
    await this.#reconciling?.catch(() => undefined)
    this.#ready = false
    this.#enabled = false
    this.#reason = 'stopped (state kept for the next start)'
  }

  /** Graceful stop (leave): peers, routes, rules, tunnel and (if unused) the Docker network go; key and lease stay. */
  async stop(): Promise<void> {
    this.#unsubscribe?.()
    this.#claim?.stop()
    await this.#reconciling?.catch(() => undefined)
    const spec = this.#firewallSpec()
    if (this.#tunnel) {
      for (const dst of await routesVia(this.#c.ifname).catch(() => [] as string[])) await deleteRoute(dst, this.#c.ifname)
      await this.#tunnel.stop()
    }
    await this.#nets?.teardown().catch((err: Error) => this.#log('error', 'network teardown failed', { err: err.message }))
    if (spec) await removeFirewall(spec, this.#nft)
    if (this.#docker) await removeNetworkIfUnused(this.#docker, this.#c.network).catch(() => false)
    this.#ready = false
    this.#enabled = false
    this.#reason = 'stopped'
  }

  /** Bring WireGuard peers and routes in line with gossip; serialized, coalesced. */
  reconcile(): void {
    if (!this.#ready) return
    if (this.#reconciling) {
      this.#again = true
      return
    }
    this.#reconciling = this.#reconcileOnce()
      .catch((err: Error) => this.#log('error', 'overlay reconcile failed', { err: err.message }))
      .finally(() => {
        this.#reconciling = null
        if (this.#again) {
          this.#again = false
          this.reconcile()
        }
      })
  }

  async status(): Promise<OverlayStatus> {
    const base: OverlayStatus = {
      enabled: this.#enabled, subnet: this.#claim?.subnet ?? null, held: this.#claim?.held ?? false,
      gateway: this.#claim?.subnet && this.#pool ? this.#pool.gateway(this.#claim.subnet) : null,
      ifname: this.#c.ifname, kind: this.#tunnel?.kind ?? null, mtu: this.#mtu, publicKey: this.#key?.publicKey ?? null, peers: [],
      rejectedPeers: this.#rejectedCount, wireguard: this.#impl,
    }
    if (!this.#enabled) return { ...base, reason: this.#reason }
    const dev = await this.#tunnel?.control.get().catch(() => null)
    const desired = this.#desired()
    const byKey = new Map(desired.map((d) => [d.publicKey, d]))
    base.peers = (dev?.peers ?? []).map((p) => ({
      node: byKey.get(p.publicKey)?.node ?? '?', subnet: p.allowedIps.join(','), endpoint: p.endpoint ?? '',
      lastHandshakeS: p.lastHandshakeS, rxBytes: p.rxBytes, txBytes: p.txBytes,
    }))
    return base
  }

  async #reconcileOnce(): Promise<void> {
    const tunnel = this.#tunnel
    const gw = this.#gateway()
    if (!tunnel || !gw) return
    const sync = this.#sync()
    const desired = sync.peers
    const dev = await tunnel.control.get()
    const ops = planPeers(desired, dev.peers, this.#c.keepaliveS)
    if (ops.length > 0) {
      await tunnel.control.set({ peers: ops })
      for (const op of ops) this.#log('info', op.remove ? 'wireguard peer removed' : 'wireguard peer set', { key: op.publicKey, endpoint: op.endpoint })
    }
    // `ip route` prints a host route without its /32.
    const current = (await routesVia(this.#c.ifname)).map((r) => (r.includes('/') || r === 'default' ? r : `${r}/32`))
    const plan = planRoutes(desired, current, [...sync.plan.tunnelRoutes, ...sync.plan.vipRoutes])
    for (const dst of plan.add) await replaceRoute(dst, this.#c.ifname, gw)
    for (const dst of plan.remove) await deleteRoute(dst, this.#c.ifname)
    // A node resuming (live restore) keeps the rules it left until its first catalog says what the networks are.
    if (this.#catalog || this.#membership === 'gossip') {
      await this.#applyNetworks(sync.plan)
      await this.#applyFirewall(sync.rules)
    }
  }

  /** The networks' bridges and devices, when the plan changed or the last one is not settled yet (retried). */
  async #applyNetworks(plan: NetworkPlan): Promise<void> {
    const text = JSON.stringify({ ...plan, allowedIps: [...plan.allowedIps] })
    if (text === this.#planText || !this.#nets) return
    this.#planText = ''
    if (await this.#nets.apply(plan)) this.#planText = text
    else setTimeout(() => this.reconcile(), NETWORK_RETRY_MS).unref()
  }

  #sync(): ReturnType<typeof syncNetworks> {
    const fw = this.#firewallSpec() as FirewallSpec
    return syncNetworks({
      snap: this.#catalog, self: this.#gossip.config.name, peers: this.#desired(), tunnelMtu: this.#mtu, underlayMtu: this.#underlayMtu,
      default: { bridge: fw.bridgeName, slice: fw.subnet, gateway: fw.gateway, range: fw.range, tunnel: fw.ifname },
      reject: (network, reason) => this.#log('warn', 'network skipped: the catalog entry failed a check', { network, reason }),
    })
  }

  /** Replace the nft table when its text changed (one transaction). */
  async #applyFirewall(nets: FirewallSpec['nets']): Promise<void> {
    const spec = { ...(this.#firewallSpec() as FirewallSpec), ...(nets ? { nets } : {}) }
    const text = nftRuleset(spec)
    if (text === this.#rulesetText) return
    await applyFirewall(spec, this.#nft)
    this.#rulesetText = text
  }

  /**
   * Peers gossip asks for, each checked and (manager membership) matched against the registered list; a member
   * skipped is counted and logged once per new reason.
   */
  #desired(): DesiredPeer[] {
    const seen = new Map<string, string>()
    const reject = (msg: string) => (r: PeerRejection) => {
      seen.set(r.node, r.reason)
      if (this.#rejected.get(r.node) === r.reason) return
      this.#rejectedCount++
      this.#log('warn', msg, { node: r.node, reason: r.reason })
    }
    const gossiped = desiredPeers(this.#gossip.members(), this.#gossip.config.name, this.#pool as SubnetPool, reject('overlay peer skipped: a gossip tag failed a check'))
    const peers = this.#membership === 'manager'
      ? authorisedPeers(gossiped, this.#registered, reject('overlay peer skipped: not as the manager registered it'))
      : gossiped
    this.#rejected = seen
    return peers
  }

  #gateway(): string | null {
    const s = this.#claim?.subnet
    return s && this.#claim?.held && this.#pool ? this.#pool.gateway(s) : null
  }

  #firewallSpec(): FirewallSpec | null {
    const s = this.#claim?.subnet
    const gw = this.#gateway()
    if (!s || !gw) return null
    return { ifname: this.#c.ifname, bridgeName: this.#c.bridgeName, range: this.#c.range, subnet: s, gateway: gw }
  }

  #onClaim(e: ClaimEvent): void {
    switch (e.type) {
      case 'claiming':
        this.#log('info', 'claiming overlay subnet', { subnet: e.subnet })
        return
      case 'exhausted':
        this.#log('error', 'overlay range exhausted: every subnet is held', { range: this.#c.range })
        return
      case 'lost':
        this.#ready = false
        this.#log('error', 'overlay subnet lost to another node (after a partition?); moving', { subnet: e.subnet, to: e.to })
        return
      case 'held':
        void this.#becomeReady(e.subnet).catch((err: Error) => this.#log('error', 'overlay setup failed', { subnet: e.subnet, err: err.message }))
    }
  }

  async #becomeReady(subnet: string): Promise<void> {
    const pool = this.#pool as SubnetPool
    const gateway = pool.gateway(subnet)
    writeLease(this.#dataDir, this.#c.range, subnet)
    const outcome = await ensureNetwork(this.#docker as ReturnType<typeof dockerClient>, {
      name: this.#c.network, subnet, gateway, mtu: this.#mtu, bridgeName: this.#c.bridgeName,
    })
    // Resuming on a cluster node: the table left by the earlier run (with its networks' rules) stays until the catalog.
    if (!this.#tunnel?.adopted || this.#membership === 'gossip' || this.#catalog) await this.#applyFirewall(this.#sync().rules)
    this.#ready = true
    this.#log('info', 'overlay subnet held', { subnet, gateway, network: this.#c.network, docker: outcome, mtu: this.#mtu })
    if (this.#key) this.#onHeld?.({ publicKey: this.#key.publicKey, subnet })
    this.reconcile()
  }

}
