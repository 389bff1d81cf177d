import t from 'tap'
import { Catalog, type CatalogService, type CatalogSnapshot, type Endpoint } from '../../../src/catalog/index.ts'

/**
 * Catalog values reach `nft -f` (VIP and published-port rules) on every node. The manager checks task addresses, and
 * each agent checks every value again when a snapshot is applied: a bad endpoint, port or service is dropped and
 * logged, the rest is served (security review finding #3: one task IP with a newline added a whole nft table).
 */

const INJECT = '10.77.1.9 }\n}\ntable ip pwn {\n chain p { type nat hook prerouting priority -100; tcp dport 22 dnat to 6.6.6.6 }\n}\ntable ip x {'

function ep(i: number, ip: string, o: Partial<Endpoint> = {}): Endpoint {
  return { taskId: `t${i}`, slot: i, taskName: `web.${i}`, nodeId: 'n1', node: 'node1', ip, state: 'running', health: 'none', ...o }
}

function svc(endpoints: Endpoint[], o: Partial<CatalogService> = {}): CatalogService {
  return {
    id: 's1', name: 'web', shortName: 'web', endpointMode: 'vip', vip: '10.78.0.2', stopGracePeriodMs: 10_000,
    ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], endpoints, ...o,
  }
}

function snap(services: CatalogService[], revision = 1): CatalogSnapshot {
  return { revision, nodes: [{ id: 'n1', hostname: 'node1', addr: '192.168.77.11', state: 'ready' }], services }
}

function logged(): { log: (level: string, msg: string, fields?: Record<string, unknown>) => void; lines: { level: string; msg: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = []
  return { lines, log: (level, msg, fields) => void lines.push({ level, msg, ...(fields ? { fields } : {}) }) }
}

const good = ep(1, '10.77.1.2')
const badEndpoints = [
  { desc: 'an IP with an nft table in it', e: ep(2, INJECT) },
  { desc: 'an IP with a trailing newline', e: ep(2, '10.77.1.3\n') },
  { desc: 'an IPv4 with an octet above 255', e: ep(2, '10.77.1.300') },
  { desc: 'an IPv4 with leading zeros', e: ep(2, '10.077.1.3') },
  { desc: 'a hostname', e: ep(2, 'evil.example') },
  { desc: 'an IP that is not a string', e: ep(2, 42 as unknown as string) },
  { desc: 'an unknown state', e: ep(2, '10.77.1.3', { state: 'bogus' as Endpoint['state'] }) },
  { desc: 'a task name with a newline', e: ep(2, '10.77.1.3', { taskName: 'web.2\nx' }) },
]

for (const c of badEndpoints) {
  t.test(`an endpoint with ${c.desc} is dropped and logged; the others are served`, async (t) => {
    const l = logged()
    const cat = new Catalog({ log: l.log })
    t.ok(cat.apply(snap([svc([good, c.e])])))
    t.same(cat.current().services[0]?.endpoints.map((e) => e.taskId), ['t1'])
    t.same(cat.raw().services[0]?.endpoints.map((e) => e.taskId), ['t1'], 'not in raw() either')
    t.equal(l.lines.filter((x) => x.level === 'warn').length, 1, 'one warning')
    t.match(l.lines[0], { msg: /catalog value dropped/, fields: { service: 'web', task: 't2' } })
    t.equal(cat.rejectedValues, 1, 'counted')
  })
}

const badServices = [
  { desc: 'a VIP that is not an address', s: svc([good], { vip: '10.78.0.2; tcp dport 22 dnat to 6.6.6.6' }) },
  { desc: 'a name with a newline', s: svc([good], { name: 'web\ntable ip pwn {}' }) },
  { desc: 'a stack name with a newline', s: svc([good], { stack: 'lab\n' }) },
  { desc: 'a short name with a control character', s: svc([good], { shortName: 'web\u0007' }) },
  { desc: 'an unknown endpoint mode', s: svc([good], { endpointMode: 'nat' as CatalogService['endpointMode'] }) },
  { desc: 'endpoints that are not a list', s: svc({} as Endpoint[]) },
]

for (const c of badServices) {
  t.test(`a service with ${c.desc} is dropped; other services are served`, async (t) => {
    const l = logged()
    const cat = new Catalog({ log: l.log })
    const other = svc([ep(5, '10.77.2.5')], { id: 's2', name: 'api', shortName: 'api', vip: '10.78.0.3' })
    cat.apply(snap([c.s, other]))
    t.same(cat.current().services.map((s) => s.name), ['api'])
    t.match(l.lines, [{ level: 'warn', msg: /catalog value dropped/ }])
    t.equal(cat.rejectedValues, 1)
  })
}

const badPorts = [
  { desc: 'published 0 in ingress mode', p: { published: 0, target: 80, protocol: 'tcp', mode: 'ingress' } },
  { desc: 'published 65536', p: { published: 65536, target: 80, protocol: 'tcp', mode: 'ingress' } },
  { desc: 'target 0', p: { published: 9000, target: 0, protocol: 'tcp', mode: 'ingress' } },
  { desc: 'a fractional target', p: { published: 9000, target: 80.5, protocol: 'tcp', mode: 'ingress' } },
  { desc: 'a target written as text', p: { published: 9000, target: '80\n', protocol: 'tcp', mode: 'ingress' } },
  { desc: 'protocol sctp', p: { published: 9000, target: 80, protocol: 'sctp', mode: 'ingress' } },
  { desc: 'an unknown mode', p: { published: 9000, target: 80, protocol: 'tcp', mode: 'both' } },
]

for (const c of badPorts) {
  t.test(`a port with ${c.desc} is dropped; the service and its other ports stay`, async (t) => {
    const l = logged()
    const cat = new Catalog({ log: l.log })
    const ports = [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }, c.p] as CatalogService['ports']
    cat.apply(snap([svc([good], { ports })]))
    t.same(cat.current().services[0]?.ports, [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }])
    t.same(cat.current().services[0]?.endpoints.map((e) => e.ip), ['10.77.1.2'])
    t.match(l.lines, [{ level: 'warn', msg: /catalog value dropped/ }])
  })
}

t.test('a host-mode port may leave published at 0 (no published port)', async (t) => {
  const cat = new Catalog()
  const ports = [{ published: 0, target: 80, protocol: 'tcp', mode: 'host' }] as CatalogService['ports']
  cat.apply(snap([svc([good], { ports })]))
  t.same(cat.current().services[0]?.ports, ports)
  t.equal(cat.rejectedValues, 0)
})

t.test('the cached snapshot is checked the same way when restored', async (t) => {
  const l = logged()
  const cached = snap([svc([good, ep(2, INJECT)])], 7)
  const cat = new Catalog({ log: l.log, store: { load: () => cached, save: () => undefined } })
  t.ok(cat.restore())
  t.same(cat.current().services[0]?.endpoints.map((e) => e.ip), ['10.77.1.2'])
  t.equal(cat.current().revision, 7)
})

t.test('a snapshot that is not one is refused whole, and the current one is kept', async (t) => {
  const l = logged()
  const cat = new Catalog({ log: l.log })
  cat.apply(snap([svc([good])], 1))
  for (const bad of [{ revision: 2, services: 'x', nodes: [] }, { revision: -1, services: [], nodes: [] }, { revision: 3, services: [], nodes: {} }, null]) {
    t.equal(cat.apply(bad as unknown as CatalogSnapshot), false)
  }
  t.equal(cat.current().revision, 1)
  t.same(cat.current().services[0]?.endpoints.map((e) => e.ip), ['10.77.1.2'])
  t.ok(l.lines.some((x) => x.level === 'warn' && /catalog snapshot refused/.test(x.msg)))
})

t.test('a clean snapshot is kept exactly as sent', async (t) => {
  const cat = new Catalog()
  const s = snap([svc([good, ep(2, '10.77.2.3', { health: 'healthy', state: 'stopping' })], { stack: 'lab', shortName: 'web' })])
  cat.apply(s)
  t.same(cat.raw(), s)
  t.equal(cat.rejectedValues, 0)
})

t.test('with the cluster ranges given, endpoints outside the overlay and VIPs outside the VIP range are dropped', async (t) => {
  const l = logged()
  const cat = new Catalog({ log: l.log, overlayRange: '10.77.0.0/16', vipRange: '10.78.0.0/16' })
  const outside = svc([ep(9, '10.78.0.9')], { id: 's3', name: 'db', shortName: 'db', vip: '8.8.8.8' })
  cat.apply(snap([svc([good, ep(2, '1.2.3.4')]), outside]))
  t.same(cat.current().services.map((s) => [s.name, s.endpoints.map((e) => e.ip)]), [['web', ['10.77.1.2']]])
  t.equal(cat.rejectedValues, 2)
  t.throws(() => new Catalog({ overlayRange: '10.77.0.0/33' }), { code: 'MESH_ERR_CONFIG' }, 'a bad range fails at construction')
})
