import t from 'tap'
import { Catalog, type CatalogService, type CatalogSnapshot, type Endpoint } from '../../../src/catalog/index.ts'
import type { CatalogNetwork } from '../../../src/api/network.ts'

/**
 * Network values in a manager snapshot, re-checked by every agent: a task's address on a user network lies in that
 * network's range (the pool), not the overlay's; a network VIP in its network's range; aliases are names. A bad one
 * is dropped and logged, the rest served; a clean snapshot is kept as sent.
 */
const INJECT = '10.80.0.9 }\n}\ntable ip pwn {'
const net = (o: Partial<CatalogNetwork> = {}): CatalogNetwork => ({
  id: 'na', name: 'app_default', subnet: '10.80.0.0/20', encrypted: true, internal: false, attachable: false, vni: 4097,
  slices: [{ nodeId: 'n1', subnet: '10.80.0.64/26' }], ...o,
})
const ep = (i: number, ip: string, o: Partial<Endpoint> = {}): Endpoint =>
  ({ taskId: `t${i}`, slot: i, taskName: `web.${i}`, nodeId: 'n1', node: 'node1', ip, state: 'running', health: 'none', addresses: [{ network: 'na', ip }], ...o })
const svc = (endpoints: Endpoint[], o: Partial<CatalogService> = {}): CatalogService => ({
  id: 's1', name: 'web', shortName: 'web', endpointMode: 'vip', stopGracePeriodMs: 10_000, ports: [],
  networks: [{ network: 'na', vip: '10.80.0.2', aliases: ['www'] }], endpoints, ...o,
})
const snap = (services: CatalogService[], networks: CatalogNetwork[] = [net()]): CatalogSnapshot =>
  ({ revision: 1, nodes: [{ id: 'n1', hostname: 'node1', addr: '192.168.77.11', state: 'ready' }], networks, services })
const ranges = { overlayRange: '10.77.0.0/16', vipRange: '10.78.0.0/16' }

t.test('a clean snapshot with networks is kept exactly as sent (task addresses in the pool, not the overlay)', async (t) => {
  const cat = new Catalog(ranges)
  const { addresses: _a, ...plainEp } = ep(3, '10.77.1.2')
  const { networks: _n, ...legacy } = svc([plainEp], { id: 's2', name: 'legacy', shortName: 'legacy', vip: '10.78.0.3' })
  const s = snap([svc([ep(1, '10.80.0.66'), ep(2, '10.80.0.67')]), legacy])
  cat.apply(s)
  t.same(cat.raw(), s)
  t.equal(cat.rejectedValues, 0)
})

t.test('bad network values are dropped one by one (table)', async (t) => {
  const cases = [
    { name: 'a task address outside every range of its service', s: snap([svc([ep(1, '10.80.0.66'), ep(2, '10.90.0.5')])]), want: { tasks: ['t1'] } },
    { name: 'an address entry with an nft table in it', s: snap([svc([ep(1, '10.80.0.66'), ep(2, '10.80.0.67', { addresses: [{ network: 'na', ip: INJECT }] })])]), want: { addresses: [['10.80.0.66'], []] } },
    { name: 'an address on a network the service is not on', s: snap([svc([ep(1, '10.80.0.66', { addresses: [{ network: 'na', ip: '10.80.0.66' }, { network: 'nx', ip: '10.80.0.66' }] })])]), want: { addresses: [['10.80.0.66']] } },
    { name: 'a network VIP outside its range', s: snap([svc([ep(1, '10.80.0.66')], { networks: [{ network: 'na', vip: '10.78.0.2', aliases: [] }] })]), want: { nets: [] } },
    { name: 'an attachment to a network not in the snapshot', s: snap([svc([ep(1, '10.80.0.66')], { networks: [{ network: 'na', vip: '10.80.0.2', aliases: [] }, { network: 'gone', vip: '10.99.0.2', aliases: [] }] })]), want: { nets: ['na'] } },
    { name: 'an alias with a newline', s: snap([svc([ep(1, '10.80.0.66')], { networks: [{ network: 'na', vip: '10.80.0.2', aliases: ['ok', 'bad\nname'] }] })]), want: { aliases: ['ok'] } },
    { name: 'a network with a bad range (its services lose it)', s: snap([svc([ep(1, '10.80.0.66')])], [net({ subnet: '10.80.0.0/20; drop' })]), want: { networks: [], tasks: [] } },
    { name: 'a slice outside its network', s: snap([svc([ep(1, '10.80.0.66')])], [net({ slices: [{ nodeId: 'n1', subnet: '10.80.0.64/26' }, { nodeId: 'n2', subnet: '10.99.0.0/26' }] })]), want: { slices: ['n1'] } },
  ]
  for (const c of cases) {
    const cat = new Catalog(ranges)
    t.ok(cat.apply(c.s), `${c.name}: applied`)
    const got = cat.current()
    const s = got.services[0]
    if (c.want.tasks) t.same(s?.endpoints.map((e) => e.taskId), c.want.tasks, `${c.name}: endpoints`)
    if (c.want.addresses) t.same(s?.endpoints.map((e) => (e.addresses ?? []).map((a) => a.ip)), c.want.addresses, `${c.name}: addresses`)
    if (c.want.nets) t.same(s?.networks?.map((n) => n.network), c.want.nets, `${c.name}: attachments`)
    if (c.want.aliases) t.same(s?.networks?.[0]?.aliases, c.want.aliases, `${c.name}: aliases`)
    if (c.want.networks) t.same(got.networks, c.want.networks, `${c.name}: networks`)
    if (c.want.slices) t.same(got.networks?.[0]?.slices.map((x) => x.nodeId), c.want.slices, `${c.name}: slices`)
    t.ok(cat.rejectedValues >= 1, `${c.name}: counted`)
  }
})
