import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { Registry } from 'prom-client'
import { Ingress, type IngressOptions } from '../../../src/ingress/index.ts'
import type { Endpoint } from '../../../src/catalog/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FakeCatalog, ep, freePort, noExec, noLog, svc, until, bothEngines } from './helpers.ts'

/** Every test runs against both TCP engines (raw handles, net.Socket); subtests run one after another. */
let engine: 'raw' | 'net' = 'raw'
const both = (name: string, fn: (t: Test) => Promise<void>) => bothEngines(t, name, async (tt, e) => { engine = e; await fn(tt) })

const BACKENDS = ['127.0.0.2', '127.0.0.3', '127.0.0.4']

/** HTTP backends answering with their own address, on the same port of several loopback addresses. */
async function httpBackends(t: Test, addrs: string[], port: number): Promise<http.Server[]> {
  const servers: http.Server[] = []
  for (const a of addrs) {
    const s = http.createServer((req, res) => res.end(a))
    await new Promise<void>((r) => s.listen(port, a, () => r()))
    servers.push(s)
  }
  t.teardown(() => Promise.all(servers.map((s) => { s.closeAllConnections(); return new Promise((r) => s.close(r)) })))
  return servers
}

/**
 * A loopback connect succeeds or is refused at once; the connect timeout is long so that a loaded machine stalling
 * this process (its timer fires before the connect is seen) never turns a live backend into a retry.
 */
const CONNECT_TIMEOUT_MS = 30_000

async function ingress(t: Test, cat: FakeCatalog, o: Partial<IngressOptions> = {}): Promise<Ingress> {
  const ing = new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, tcpEngine: engine, connectTimeoutMs: CONNECT_TIMEOUT_MS, ...o })
  await ing.start()
  t.teardown(() => ing.stop())
  return ing
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve(body))
    }).on('error', reject)
  })
}

async function setup(t: Test, endpoints: (port: number) => Endpoint[], o: Partial<IngressOptions> = {}) {
  const target = await freePort(BACKENDS)
  const published = await freePort(['127.0.0.1'])
  await httpBackends(t, BACKENDS, target)
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'tcp', mode: 'ingress' }], endpoints(target))])
  const ing = await ingress(t, cat, o)
  return { target, published, cat, ing }
}

both('12 requests go round-robin over 3 backends, in order', async (t) => {
  const { published, ing } = await setup(t, () => BACKENDS.map((ip, i) => ep(i + 1, ip)))
  const got: string[] = []
  for (let i = 0; i < 12; i++) got.push(await get(published))
  t.same(got, [...BACKENDS, ...BACKENDS, ...BACKENDS, ...BACKENDS])
  await until(() => ing.status()[0]?.open === 0, 20_000, 'connections closed')
  const st = ing.status()[0]!
  t.match(st, { service: 'web', protocol: 'tcp', published, errors: 0, retries: 0 })
  t.same(st.endpoints.map((e) => e.connections), [4, 4, 4])
  t.ok(st.endpoints.every((e) => e.bytesIn > 0 && e.bytesOut > 0), 'bytes counted')
})

both('a dead backend is ejected and the client sees no error', async (t) => {
  // 127.0.0.9 listens on nothing: connects are refused.
  // warmupMs 0: the dead endpoint gets the full backoff, not the 100 ms a starting task gets; the backoff (10 min)
  // outlasts the 12 requests however slow the machine is (a 1 s one ended during them on a loaded CI machine).
  const { published, ing } = await setup(t, () => [ep(1, '127.0.0.2'), ep(2, '127.0.0.9'), ep(3, '127.0.0.3')], { balancer: { warmupMs: 0, ejectBaseMs: 600_000, ejectMaxMs: 600_000 } })
  const got: string[] = []
  for (let i = 0; i < 12; i++) got.push(await get(published))
  t.equal(got.filter((g) => g === '127.0.0.2' || g === '127.0.0.3').length, 12, 'every request answered')
  const st = ing.status()[0]!
  const dead = st.endpoints.find((e) => e.ip === '127.0.0.9')!
  t.equal(dead.ejected, true, 'ejected')
  t.equal(dead.errors, 1, 'tried once, then left alone during its backoff')
  t.equal(st.retries, 1)
  t.equal(st.rejected, 0)
})

both('a stopping endpoint keeps its open connection until the grace period, and gets no new ones', async (t) => {
  const target = await freePort(BACKENDS)
  const published = await freePort(['127.0.0.1'])
  const seen: string[] = []
  const servers = BACKENDS.slice(0, 2).map((a) => {
    const s = net.createServer((c) => {
      seen.push(a)
      c.on('data', (d) => c.write(`${a}:${d}`))
      c.on('error', () => undefined)
    })
    return s
  })
  for (const [i, s] of servers.entries()) await new Promise<void>((r) => s.listen(target, BACKENDS[i], () => r()))
  t.teardown(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))))
  const cat = new FakeCatalog()
  const port = { published, target, protocol: 'tcp' as const, mode: 'ingress' as const }
  cat.set([svc([port], [ep(1, '127.0.0.2')], { stopGracePeriodMs: 400 })])
  // The grace period runs on the fake clock; the bytes are real loopback I/O.
  const clock = new FakeClock()
  await ingress(t, cat, { clock })
  const old = net.connect(published, '127.0.0.1')
  t.teardown(() => old.destroy())
  const oldData: string[] = []
  old.on('data', (d) => oldData.push(String(d)))
  old.write('a')
  await until(() => oldData.join('') === '127.0.0.2:a', 20_000, 'first echo')
  let closedAt = -1
  const closed = new Promise<void>((r) => old.on('close', () => { closedAt = clock.now(); r() }))
  cat.set([svc([port], [ep(1, '127.0.0.2', { state: 'stopping' }), ep(2, '127.0.0.3')], { stopGracePeriodMs: 400 })])
  old.write('b')
  await until(() => oldData.join('') === '127.0.0.2:a127.0.0.2:b', 20_000, 'the open connection still works')
  const fresh = net.connect(published, '127.0.0.1')
  const freshData: string[] = []
  fresh.on('data', (d) => freshData.push(String(d)))
  fresh.write('c')
  await until(() => freshData.length > 0, 20_000, 'new connection answered')
  t.equal(freshData.join(''), '127.0.0.3:c', 'new connections go to the running endpoint')
  fresh.destroy()
  await clock.advance(399)
  old.write('d')
  await until(() => oldData.join('') === '127.0.0.2:a127.0.0.2:b127.0.0.2:d', 20_000, 'still open 1 ms before the grace period ends')
  await clock.advance(1)
  await closed
  t.equal(closedAt, 400, 'closed when the grace period (400 ms) ends, not before')
  t.same(seen, ['127.0.0.2', '127.0.0.3'])
})

both('ports follow the catalog: added → listening, removed → closed; endpoint changes apply at once', async (t) => {
  const target = await freePort(BACKENDS)
  const published = await freePort(['127.0.0.1'])
  await httpBackends(t, BACKENDS, target)
  const cat = new FakeCatalog()
  const ing = await ingress(t, cat)
  t.same(ing.status(), [], 'nothing published')
  const port = { published, target, protocol: 'tcp' as const, mode: 'ingress' as const }
  cat.set([svc([port], [ep(1, '127.0.0.2')])])
  await until(() => ing.status().length === 1, 20_000, 'listener')
  t.equal(await get(published), '127.0.0.2')
  cat.set([svc([port], [ep(3, '127.0.0.4')])])
  await new Promise((r) => setImmediate(r))
  t.equal(await get(published), '127.0.0.4', 'new endpoint set used by the next connection')
  cat.set([svc([{ ...port, mode: 'host' }], [ep(3, '127.0.0.4')])])
  await until(() => ing.status().length === 0, 20_000, 'listener closed')
  await t.rejects(get(published), { code: 'ECONNREFUSED' })
})

both('connection limit', async (t) => {
  const { published, ing } = await setup(t, () => [ep(1, '127.0.0.2')], { maxConnections: 2 })
  const socks = [net.connect(published, '127.0.0.1'), net.connect(published, '127.0.0.1')]
  t.teardown(() => socks.forEach((s) => s.destroy()))
  await Promise.all(socks.map((s) => new Promise((r) => s.on('connect', r))))
  await until(() => ing.status()[0]?.open === 2, 20_000, 'both connections forwarded')
  const third = net.connect(published, '127.0.0.1')
  third.on('error', () => undefined)
  const closedAt = await new Promise<number>((r) => third.on('close', () => r(Date.now())))
  t.ok(closedAt, 'third connection closed by the proxy')
  t.notOk(socks.some((s) => s.destroyed), 'the first two stay open')
})

both('metrics', async (t) => {
  const { published, ing } = await setup(t, () => [ep(1, '127.0.0.2'), ep(2, '127.0.0.9')], { balancer: { warmupMs: 0, ejectBaseMs: 600_000, ejectMaxMs: 600_000 } })
  const reg = new Registry()
  ing.registerMetrics(reg)
  for (let i = 0; i < 4; i++) await get(published)
  const text = await reg.metrics()
  t.match(text, /mesh_ingress_connections_total\{service="web",port="tcp\/\d+",endpoint="127\.0\.0\.2:\d+",task="web\.1"\} 4/)
  t.match(text, /mesh_ingress_connect_errors_total\{service="web",port="tcp\/\d+",endpoint="127\.0\.0\.9:\d+",task="web\.2"\} 1/)
  t.match(text, /mesh_ingress_ejections_total\{[^}]*127\.0\.0\.9[^}]*\} 1/)
  t.match(text, /mesh_ingress_endpoint_ejected\{[^}]*127\.0\.0\.9[^}]*\} 1/)
  t.match(text, /mesh_ingress_retries_total\{service="web",port="tcp\/\d+"\} 1/)
  t.match(text, /mesh_ingress_connect_seconds_count\{service="web",port="tcp\/\d+"\} 4/)
  t.match(text, /mesh_ingress_received_bytes_total\{[^}]*127\.0\.0\.2[^}]*\} [1-9]/)
})

both('active checks eject a dead endpoint before any client meets it', async (t) => {
  // The interval runs on the fake clock; the probes themselves are real TCP connects (TcpHealthChecker), with a
  // probe timeout long enough that a stalled process never fails the live one's probe.
  const clock = new FakeClock()
  const { ing } = await setup(t, () => [ep(1, '127.0.0.2'), ep(2, '127.0.0.9')], { activeCheck: { intervalMs: 30, timeoutMs: CONNECT_TIMEOUT_MS }, clock, random: () => 0 })
  await clock.advance(30) // random 0: every endpoint's first turn is at once (the first tick, 20 ms)
  await until(() => ing.status()[0]?.endpoints.find((e) => e.ip === '127.0.0.9')?.ejected === true, 20_000, 'dead endpoint ejected')
  const st = ing.status()[0]!
  t.equal(st.endpoints.find((e) => e.ip === '127.0.0.2')?.ejected, false, 'the live one stays')
  t.equal(st.retries, 0, 'no client connection was involved')
})

both('gossip death (Catalog.nodeDown) takes a node out of rotation for the next connection', async (t) => {
  const { Catalog } = await import('../../../src/catalog/index.ts')
  const target = await freePort(BACKENDS)
  const published = await freePort(['127.0.0.1'])
  await httpBackends(t, BACKENDS, target)
  const catalog = new Catalog()
  const port = { published, target, protocol: 'tcp' as const, mode: 'ingress' as const }
  catalog.apply({
    revision: 1,
    nodes: [{ id: 'n1', hostname: 'node1', addr: 'a', state: 'ready' }, { id: 'n2', hostname: 'node2', addr: 'b', state: 'ready' }],
    services: [svc([port], [ep(1, '127.0.0.2'), ep(2, '127.0.0.3', { nodeId: 'n2', node: 'node2' }), ep(3, '127.0.0.4')])],
  })
  const ing = new Ingress({ catalog, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, tcpEngine: engine, connectTimeoutMs: CONNECT_TIMEOUT_MS })
  await ing.start()
  t.teardown(() => ing.stop())
  catalog.nodeDown('node2')
  const got: string[] = []
  for (let i = 0; i < 4; i++) got.push(await get(published))
  t.same(got, ['127.0.0.2', '127.0.0.4', '127.0.0.2', '127.0.0.4'], 'node2 skipped at once')
  catalog.nodeUp('node2')
  const back: string[] = []
  for (let i = 0; i < 3; i++) back.push(await get(published))
  t.same([...back].sort(), BACKENDS, 'back in rotation when alive again')
})
