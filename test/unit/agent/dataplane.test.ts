import t, { type Test } from 'tap'
import pino from 'pino'
import { Registry } from 'prom-client'
import { DataPlane, type DataPlanePart, type DataPlaneOptions } from '../../../agent/dataplane.ts'
import type { CatalogSnapshot, CatalogStore } from '../../../src/catalog/index.ts'
import { defaultDataPlaneConfig, type DataPlaneConfig } from '../../../src/config/index.ts'
import type { DnsServerOptions, DnsStatus } from '../../../src/dns/index.ts'
import type { GossipEvent, SerfMember } from '../../../src/gossip/index.ts'
import type { IngressOptions, PortStatus } from '../../../src/ingress/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

/** Gossip as the data plane sees it: member events, and who is subscribed. */
class FakeGossip {
  readonly listeners = new Set<(e: GossipEvent) => void>()
  on(fn: (e: GossipEvent) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }
  emit(type: 'join' | 'alive' | 'fail' | 'leave' | 'suspect' | 'update', name: string, at?: { ip: string; port: number }): void {
    for (const fn of this.listeners) fn({ type, member: { name, ...at } as SerfMember })
  }
}

class FakePart<O, S> implements DataPlanePart<S> {
  started = 0
  stopped = 0
  registries: Registry[] = []
  readonly options: O
  readonly answer: S
  constructor(options: O, answer: S) {
    this.options = options
    this.answer = answer
  }
  async start(): Promise<void> { this.started++ }
  async stop(): Promise<void> { this.stopped++ }
  status(): S { return this.answer }
  registerMetrics(r: Registry): void { this.registries.push(r) }
}

class MemoryStore implements CatalogStore {
  saved: CatalogSnapshot[] = []
  cached: CatalogSnapshot | null
  constructor(cached: CatalogSnapshot | null = null) { this.cached = cached }
  load(): CatalogSnapshot | null { return this.cached }
  save(snap: CatalogSnapshot): void { this.saved.push(snap) }
}

const snapshot = (revision: number): CatalogSnapshot => ({
  revision,
  nodes: [{ id: 'n1', hostname: 'a', addr: '10.0.0.1', state: 'ready' }, { id: 'n2', hostname: 'b', addr: '10.0.0.2', state: 'ready' }],
  services: [{
    id: 's1', name: 'web', shortName: 'web', vip: '10.78.0.2', endpointMode: 'vip', stopGracePeriodMs: 10_000,
    ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }],
    endpoints: [
      { taskId: 't1', slot: 1, taskName: 'web.1', nodeId: 'n1', node: 'a', ip: '10.77.1.2', state: 'running', health: 'none' },
      { taskId: 't2', slot: 2, taskName: 'web.2', nodeId: 'n2', node: 'b', ip: '10.77.2.2', state: 'running', health: 'none' },
    ],
  }],
})

const dnsStatus: DnsStatus = { running: true, listen: [], upstreams: [], domain: 'mesh.' } as unknown as DnsStatus

/** The ingress as the data plane drives it, recording the health hooks. */
class FakeIngress extends FakePart<IngressOptions, PortStatus[]> {
  readonly calls: string[] = []
  taskGone(id: string): void { this.calls.push(`gone ${id}`) }
  nodeSuspected(node: string): void { this.calls.push(`suspect ${node}`) }
  membersChanged(): void { this.calls.push('members') }
  downNodes(): string[] { return ['b'] }
}

function harness(t: Test, o: { config?: Partial<DataPlaneConfig>; cached?: CatalogSnapshot; nodeId?: () => string | null; kernelPath?: string | null } = {}) {
  const clock = new FakeClock()
  const gossip = new FakeGossip()
  const store = new MemoryStore(o.cached ?? null)
  const parts: { ingress?: FakeIngress; dns?: FakePart<DnsServerOptions, DnsStatus> } = {}
  const opts: DataPlaneOptions = {
    config: { ...defaultDataPlaneConfig(), ...o.config }, dataDir: '/nonexistent', gossip, overlayRange: '10.77.0.0/16',
    vipRange: '10.78.0.0/16', log: pino({ level: 'silent' }), clock, catalogStore: store,
    createIngress: (io) => (parts.ingress = new FakeIngress(io, [] as PortStatus[])),
    kernelPath: async () => (o.kernelPath === undefined ? null : o.kernelPath), localNode: 'a',
    createDns: (d) => (parts.dns = new FakePart(d, dnsStatus)),
    ...(o.nodeId ? { nodeId: o.nodeId } : {}),
  }
  const dp = new DataPlane(opts)
  t.teardown(() => dp.stop())
  return { clock, gossip, store, parts, dp }
}

t.test('--ingress-prefer-local on: the balancer prefers tasks on this node (its id as the agent learns it)', async (t) => {
  let id: string | null = null
  const h = harness(t, { config: { ingressPreferLocal: true, ingressBalancer: 'least-connections' }, nodeId: () => id })
  await h.dp.start(null)
  const b = h.parts.ingress!.options.balancer as { policy: string; localNodeId: () => string | null }
  t.equal(b.policy, 'least-connections')
  t.equal(b.localNodeId(), null, 'not known yet: no preference')
  id = 'n7'
  t.equal(b.localNodeId(), 'n7', 'read at each pick, so a node id learnt later applies')
})

t.test('start: the cached catalog is served at once; ingress and DNS get the wiring they need', async (t) => {
  const h = harness(t, { cached: snapshot(4) })
  await h.dp.start('10.77.3.1')
  t.equal(h.dp.catalog.current().revision, 4, 'cache served before the manager answers')
  const io = h.parts.ingress!.options
  t.equal(h.parts.ingress!.started, 1)
  t.equal(io.catalog, h.dp.catalog, 'ingress reads the catalog')
  t.same({ mode: io.mode, snat: io.snatAddr, max: io.maxConnections, idle: io.idleTimeoutMs, balancer: io.balancer },
    { mode: 'nft', snat: '10.77.3.1', max: 16_384, idle: 3_600_000, balancer: 'round-robin' })
  t.equal(io.localNode, 'a', 'no node check of itself')
  t.equal(io.clock, h.clock, 'ingress runs on the injected clock')
  const d = h.parts.dns!.options
  t.equal(h.parts.dns!.started, 1)
  t.same(d.listen, [{ host: '127.0.0.11', port: 53 }, { host: '10.77.3.1', port: 53 }], 'host-local address and the overlay gateway')
  t.same({ allow: d.allowCidrs, reverse: d.reverseCidrs, domain: d.domain, ttl: d.ttlSec },
    { allow: ['10.77.0.0/16', '10.78.0.0/16', '127.0.0.0/8'], reverse: ['10.77.0.0/16', '10.78.0.0/16'], domain: 'mesh.', ttl: 5 })
  t.equal(d.clock, h.clock)
  t.same(h.dp.resolvers('10.77.3.1'), ['10.77.3.1'], 'task containers resolve through the gateway DNS')
})

t.test('without a gateway or with DNS off', async (t) => {
  const cases = [
    { name: 'no gateway: no SNAT, DNS on the host-local address only', config: {}, gateway: null, listen: [{ host: '127.0.0.11', port: 53 }], resolvers: [] },
    { name: 'DNS off: no server, no resolvers', config: { dns: false }, gateway: '10.77.3.1', listen: null, resolvers: [] },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const h = harness(t, { config: c.config })
      await h.dp.start(c.gateway)
      t.equal(h.parts.ingress!.options.snatAddr, c.gateway ?? undefined)
      t.same(h.parts.dns?.options.listen ?? null, c.listen)
      t.same(h.dp.resolvers(c.gateway), c.resolvers)
      t.equal(h.dp.status().dns, c.listen ? dnsStatus : null)
    })
  }
})

t.test('manager pushes and gossip deaths both reach the catalog', async (t) => {
  const h = harness(t)
  await h.dp.start('10.77.3.1')
  await h.clock.advance(1234)
  h.dp.apply(snapshot(7))
  t.equal(h.dp.catalog.appliedAt, 1234, 'the catalog runs on the injected clock')
  t.same(h.store.saved.map((s) => s.revision), [7], 'a push is cached')
  t.equal(h.dp.status().vips[0]?.endpoints, 2)
  h.gossip.emit('fail', 'b')
  t.same(h.dp.catalog.current().services[0]?.endpoints.map((e) => e.taskId), ['t1'], 'a dead node leaves rotation at once')
  t.same(h.dp.status().downNodes, ['b'])
  h.gossip.emit('alive', 'b')
  t.equal(h.dp.catalog.current().services[0]?.endpoints.length, 2, 'back when gossip sees it alive')
  h.gossip.emit('leave', 'a')
  t.same(h.dp.status().downNodes, ['a'], 'a node that left is out too')
  h.gossip.emit('join', 'a')
  t.same(h.dp.status().downNodes, [])
  h.dp.apply(snapshot(6))
  t.equal(h.dp.catalog.current().revision, 7, 'an older push never wins')
})

t.test('status, lookup, metrics and stop', async (t) => {
  const h = harness(t)
  await h.dp.start('10.77.3.1')
  h.dp.apply(snapshot(9))
  t.same(h.dp.status(), {
    catalogRevision: 9, services: 1, downNodes: [],
    vips: [{ service: 'web', vip: '10.78.0.2', endpointMode: 'vip', endpoints: 2, serving: 2, ports: 'all' }],
    ingress: { mode: 'nft', downNodes: ['b'], ports: [] }, dns: dnsStatus,
  })
  const a = h.dp.lookup('web.mesh.', 'A', '10.77.3.5')
  t.equal(a.rcode, 'NOERROR')
  t.same(a.answers.map((r) => r.data), ['10.78.0.2'], 'the VIP, as the DNS would answer a container')
  const r = new Registry()
  h.dp.registerMetrics(r)
  t.same([h.parts.ingress!.registries, h.parts.dns!.registries], [[r], [r]])
  t.equal(h.gossip.listeners.size, 1)
  await h.dp.stop()
  t.equal(h.gossip.listeners.size, 0, 'no longer follows gossip')
  t.same([h.parts.ingress!.stopped, h.parts.dns!.stopped], [1, 1])
})

t.test('--ingress-mode: auto takes the kernel path where it is usable, userspace otherwise (with the reason)', async (t) => {
  const cases = [
    { name: 'auto, kernel path usable', mode: 'auto', kernelPath: null, want: 'nft', reason: undefined },
    { name: 'auto, not root', mode: 'auto', kernelPath: 'not root', want: 'userspace', reason: 'auto: not root' },
    { name: 'nft asked: not probed', mode: 'nft', kernelPath: 'not root', want: 'nft', reason: undefined },
    { name: 'userspace asked', mode: 'userspace', kernelPath: null, want: 'userspace', reason: undefined },
  ] as const
  for (const c of cases) {
    const h = harness(t, { config: { ingressMode: c.mode }, kernelPath: c.kernelPath })
    await h.dp.start('10.77.3.1')
    t.equal(h.parts.ingress!.options.mode, c.want, `${c.name}: the ingress runs in ${c.want}`)
    t.equal(h.dp.status().ingress.modeReason, c.reason, `${c.name}: status says why`)
    await h.dp.stop()
  }
})

t.test('health wiring: gossip addresses feed node checks, suspicion and local task deaths reach the ingress', async (t) => {
  const h = harness(t)
  await h.dp.start('10.77.3.1')
  const io = h.parts.ingress!.options
  t.equal(io.nodeAddress?.('b'), undefined, 'no address before gossip gives one')
  h.gossip.emit('join', 'b', { ip: '192.168.50.12', port: 7946 })
  t.same(io.nodeAddress?.('b'), { ip: '192.168.50.12', port: 7946 }, "a member's gossip address is where its node check goes")
  h.gossip.emit('alive', 'b', { ip: '192.168.50.12', port: 7946 })
  h.gossip.emit('suspect', 'b')
  h.dp.taskGone('t1')
  t.same(h.parts.ingress!.calls, ['members', 'suspect b', 'gone t1'], 'an unchanged address is no news; suspicion and a gone task are')
})
