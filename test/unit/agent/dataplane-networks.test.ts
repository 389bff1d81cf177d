import t from 'tap'
import pino from 'pino'
import type { Registry } from 'prom-client'
import { DataPlane, type DnsPart } from '../../../agent/dataplane.ts'
import type { CatalogSnapshot, CatalogStore } from '../../../src/catalog/index.ts'
import { defaultDataPlaneConfig } from '../../../src/config/index.ts'
import type { DnsStatus, ListenAddress } from '../../../src/dns/index.ts'
import type { IngressOptions, PortStatus } from '../../../src/ingress/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

/** A DNS that binds only the addresses in `up` (the bridges that exist), as the real one fails on the others. */
class FakeDns implements DnsPart {
  readonly up = new Set<string>()
  calls: string[][] = []
  bound: ListenAddress[] = []
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  registerMetrics(_r: Registry): void {}
  status(): DnsStatus {
    return { running: true, listen: this.bound } as unknown as DnsStatus
  }
  async setExtraListen(addrs: readonly ListenAddress[]): Promise<void> {
    this.calls.push(addrs.map((a) => `${a.host}:${a.port}`))
    this.bound = addrs.filter((a) => this.up.has(a.host))
  }
}

const store: CatalogStore = { load: () => null, save: () => {} }
const snap = (revision: number, slices: Array<{ nodeId: string; subnet: string }>): CatalogSnapshot => ({
  revision, nodes: [], services: [],
  networks: [
    { id: 'na', name: 'a_default', subnet: '10.80.0.0/20', encrypted: true, internal: false, attachable: true, vni: 4097, slices },
    { id: 'nb', name: 'b_default', subnet: '10.80.16.0/20', encrypted: true, internal: false, attachable: false, vni: 4098, slices: [{ nodeId: 'n2', subnet: '10.80.16.64/26' }] },
  ],
})

t.test("user networks: the ingress gets this node's bridges, the DNS listens on their gateways (retried until up)", async (t) => {
  const clock = new FakeClock()
  const dns = new FakeDns()
  let ingress: IngressOptions | null = null
  let nodeId: string | null = null
  const dp = new DataPlane({
    config: defaultDataPlaneConfig(), dataDir: '/nonexistent', gossip: { on: () => () => {} }, overlayRange: '10.77.0.0/16',
    vipRange: '10.78.0.0/16', log: pino({ level: 'silent' }), clock, catalogStore: store, nodeId: () => nodeId,
    createIngress: (io) => { ingress = io; return { start: async () => {}, stop: async () => {}, status: () => [] as PortStatus[], registerMetrics: () => {} } },
    createDns: () => dns,
  })
  t.teardown(() => dp.stop())
  await dp.start('10.77.3.1')
  const s1 = snap(1, [{ nodeId: 'n1', subnet: '10.80.0.64/26' }, { nodeId: 'n2', subnet: '10.80.0.128/26' }])
  t.same(ingress!.networkBridges!(s1), [], 'node id not known yet: no networks here')
  nodeId = 'n1'
  t.same(ingress!.networkBridges!(s1), [{ bridge: 'mbr-4097', gateway: '10.80.0.65', subnet: '10.80.0.0/20' }], "only networks with a slice on this node")
  dp.apply(s1)
  await new Promise((r) => setImmediate(r))
  t.same(dns.calls.at(-1), ['10.80.0.65:53'], 'the DNS is asked to answer on the gateway')
  const n = dns.calls.length
  await clock.advance(2000)
  t.equal(dns.calls.length, n + 1, 'not bound (bridge not up): asked again')
  dns.up.add('10.80.0.65')
  await clock.advance(2000)
  await new Promise((r) => setImmediate(r))
  await clock.advance(10_000)
  t.equal(dns.calls.length, n + 2, 'bound: no more retries')
  dp.apply(snap(2, [{ nodeId: 'n2', subnet: '10.80.0.128/26' }]))
  await new Promise((r) => setImmediate(r))
  t.same(dns.calls.at(-1), [], 'the slice left this node: the gateway is let go')
  await dp.stop()
  dp.apply(snap(3, [{ nodeId: 'n1', subnet: '10.80.0.64/26' }]))
  await clock.advance(10_000)
  t.same(dns.calls.at(-1), [], 'after stop: nothing more')
})
