/**
 * POST /v1/agent/traffic and the dashboard's `traffic` events: only a node certificate reports, only about itself;
 * a malformed report is refused whole; accepted reports become rates in GET /v1/ui/view and on the SSE stream
 * (the whole history first, then the last buckets once per bucket). Real API app on 127.0.0.1:0 over mutual TLS,
 * the manager's timers and wall time on one FakeClock.
 */
import t, { type Test } from 'tap'
import https from 'node:https'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { jsonRequest, type ClientTls } from '../../../src/api/index.ts'
import { HttpManagerTransport } from '../../../src/worker/index.ts'
import { trafficLimits } from '../../../src/config/traffic.ts'
import type { TrafficView } from '../../../src/manager/traffic.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { tlsApi } from '../../support/pki.ts'
import { spec } from '../manager/sim.ts'

const W = trafficLimits().bucketMs
const WALL0 = Math.floor(Date.now() / W) * W // bucket-aligned; certificates are issued on this wall time

async function setup(t: Test) {
  const clock = new FakeClock()
  const store = openSqliteStore(':memory:')
  const manager = new Manager({ store, clock, now: () => WALL0 + clock.now() })
  await manager.init()
  t.teardown(() => store.close())
  const api = await tlsApi(t, manager)
  const w1 = await api.joinNode('w1', { addr: '10.0.0.2' })
  const w2 = await api.joinNode('w2', { addr: '10.0.0.3' })
  await manager.createService(spec('web', { ports: [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }] }))
  const call = async (method: string, path: string, tls: ClientTls, body?: unknown) => {
    const r = await jsonRequest(api.target(tls), { method, path, timeoutMs: 30_000, ...(body === undefined ? {} : { body }) })
    return { status: r.status, body: (r.body ?? {}) as Record<string, unknown> }
  }
  const report = (tls: ClientTls, connections: number, extra: Record<string, unknown> = {}) => call('POST', '/v1/agent/traffic', tls, {
    ports: [{ service: 'web', protocol: 'tcp', published: 8080, connections, bytesIn: connections * 100, bytesOut: connections * 1000, errors: 0, retries: 0 }],
    tunnels: [], ...extra,
  })
  const view = async () => (await call('GET', '/v1/ui/view', api.admin)).body.traffic as TrafficView
  return { clock, manager, api, call, report, view, w1, w2 }
}

const webRate = (v: TrafficView) => v.services.find((s) => s.service === 'web')?.rate.conns

t.test('a node reports its own counters; the view shows the rate', async (t) => {
  const s = await setup(t)
  t.same(await s.report(s.w1.tls, 100), { status: 200, body: { accepted: true } })
  await s.clock.advance(W)
  t.equal((await s.report(s.w1.tls, 150, { node: 'w1' })).status, 200, 'naming itself is fine')
  const v = await s.view()
  t.equal(webRate(v), 10, '50 connections in 5 s')
  t.same(v.services.find((x) => x.service === 'web')?.nodes.map((n) => n.node), ['w1'])
  t.equal(v.services[0]?.series.conns.length, trafficLimits().buckets, 'the whole history in the view')
})

t.test('a node cannot report for another; admins and strangers cannot report; nothing changes', async (t) => {
  const s = await setup(t)
  await s.report(s.w2.tls, 0)
  await s.clock.advance(W)
  const r = await s.report(s.w1.tls, 500, { node: 'w2' })
  t.equal(r.status, 403)
  t.match(r.body, { error: { code: 'MESH_ERR_FORBIDDEN', message: 'node "w1" cannot report traffic for "w2"' } })
  t.equal((await s.report(s.api.admin, 500)).status, 403, 'an admin certificate is no agent')
  t.equal((await s.report(s.api.anonymous, 500)).status, 401, 'no certificate')
  t.equal(webRate(await s.view()), 0, 'no rate from any of them')
  await s.report(s.w1.tls, 500)
  await s.clock.advance(W)
  await s.report(s.w1.tls, 525)
  t.equal(webRate(await s.view()), 5, 'w1 own baseline was not touched by the refused report')
})

t.test('a malformed report is refused whole (400, one line) and leaves the baseline', async (t) => {
  const s = await setup(t)
  await s.report(s.w1.tls, 10)
  await s.clock.advance(W)
  const bad = await s.call('POST', '/v1/agent/traffic', s.w1.tls, {
    ports: [{ service: 'web', protocol: 'tcp', published: 8080, connections: -5, bytesIn: 0, bytesOut: 0, errors: 0, retries: 0 }], tunnels: [],
  })
  t.equal(bad.status, 400)
  t.match(bad.body, { error: { code: 'MESH_ERR_TRAFFIC_REPORT', message: /ports\[0\]\.connections must be a finite number ≥ 0/ } })
  await s.report(s.w1.tls, 60)
  t.equal(webRate(await s.view()), 10, 'the good report after it measures from the last good one')
})

t.test('the worker transport posts it with the node certificate', async (t) => {
  const s = await setup(t)
  const tr = new HttpManagerTransport({ host: '127.0.0.1', port: s.api.port })
  const tls = s.w2.tls as { ca: string[]; cert: string; key: string }
  tr.setTls({ ca: tls.ca, cert: tls.cert, key: tls.key })
  const r = await tr.postTraffic({ node: 'w2', ports: [], tunnels: [{ peer: 'w1', rxBytes: 1, txBytes: 2, handshakeAgeS: 3 }] })
  t.equal(r.status, 200)
  t.same((await s.view()).links.map((l) => [l.a, l.b, l.handshakeAgeS]), [['w1', 'w2', 3]])
})

/** Read SSE `traffic` events from the stream until `want` of them came; then close it. */
function trafficEvents(s: Awaited<ReturnType<typeof setup>>, want: number, onEach: (n: number) => Promise<void>): Promise<TrafficView[]> {
  const tls = s.api.admin as { ca: string[]; cert: string; key: string }
  return new Promise((resolve, reject) => {
    const got: TrafficView[] = []
    const req = https.get({ host: '127.0.0.1', port: s.api.port, path: '/v1/ui/stream', ca: tls.ca, cert: tls.cert, key: tls.key, checkServerIdentity: () => undefined }, (res) => {
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        buf += c
        let i
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i)
          buf = buf.slice(i + 2)
          if (!block.startsWith('event: traffic\n')) continue
          got.push(JSON.parse(block.slice(block.indexOf('data: ') + 6)) as TrafficView)
          if (got.length >= want) {
            req.destroy()
            resolve(got)
            return
          }
          onEach(got.length).catch(reject)
        }
      })
    })
    req.on('error', (err) => { if (got.length < want) reject(err) })
    setTimeout(() => { req.destroy(); reject(new Error(`timed out after ${got.length} traffic events`)) }, 10_000)
  })
}

t.test('SSE: a traffic event with the whole history at once, then the last buckets once per bucket', async (t) => {
  const s = await setup(t)
  await s.report(s.w1.tls, 0)
  await s.clock.advance(W)
  await s.report(s.w1.tls, 50)
  const events = await trafficEvents(s, 3, async (n) => {
    if (n !== 1) return
    await s.report(s.w1.tls, 50) // the next bucket: no traffic
    await s.clock.advance(W + trafficLimits().settleMs)
  })
  t.equal(events[0]?.services[0]?.series.conns.length, trafficLimits().buckets, 'first: the whole window')
  t.equal(events[0]?.services[0]?.rate.conns, 10)
  t.equal(events[1]?.services[0]?.series.conns.length, 3, 'then: the last 3 buckets')
  t.same([events[1]?.t, events[1]?.services[0]?.series.conns], [events[0]?.t, [0, 0, 10]], 'settleMs after the bucket closed: the same bucket, settled')
  t.same([events[2]?.t, events[2]?.services[0]?.series.conns], [(events[0]?.t ?? 0) + W, [0, 10, 0]], 'a bucket later: back to zero')
})
