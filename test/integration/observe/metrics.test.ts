/**
 * /metrics end to end in one process: two real Gossip nodes on 127.0.78.x talk over UDP/TCP, an agent registry
 * (startMetrics) serves them on 127.0.0.1:0 next to a manager's store; the text parses strictly as Prometheus
 * format and its counters move while gossip traffic flows. Addresses: 127.0.0.1 and 127.0.78.0/24 only.
 */
import t from 'tap'
import { randomInt } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startMetrics, parseMetricsAddr } from '../../../agent/metrics.ts'
import { defaultOverlayConfig, localGossipConfig } from '../../../src/config/index.ts'
import { Gossip } from '../../../src/gossip/index.ts'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { Overlay } from '../../../src/overlay/index.ts'
import { parsePromText, type PromText } from '../../support/prom-text.ts'
import { waitFor } from '../../support/procs.ts'
import { testCsr, tlsApi } from '../../support/pki.ts'
import { requestFor } from '../../../src/api/http.ts'

const net = randomInt(2, 250)
const port = 17_000 + randomInt(0, 2000)
const gossipNode = (name: string, host: number, join: string[] = []) => new Gossip({
  ...localGossipConfig(), name, bindAddr: `127.0.78.${host}`, bindPort: port, advertiseAddr: `127.0.78.${host}`, advertisePort: port, join,
})

const g1 = gossipNode(`m${net}a`, net)
const g2 = gossipNode(`m${net}b`, net + 1, [`127.0.78.${net}:${port}`])
await g1.start()
await g2.start()
t.teardown(async () => { await g2.stop(); await g1.stop() })

const dir = mkdtempSync(join(tmpdir(), 'mesh-metrics-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const overlay = new Overlay({ ...defaultOverlayConfig(), mode: 'off' }, { gossip: g1, dataDir: dir, advertiseAddr: g1.config.advertiseAddr, log: () => undefined })
const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
manager.start()
t.teardown(() => { manager.stop(); store.close() })

const metrics = await startMetrics({ addr: '127.0.0.1:0', gossip: g1, overlay, manager })
t.teardown(() => metrics.stop())

async function scrape(url = `http://${metrics.address}/metrics`, headers: Record<string, string> = {}): Promise<PromText> {
  const res = await fetch(url, { headers })
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
  return parsePromText(await res.text())
}

t.test('serves the text format, every family typed', async (t) => {
  t.match(metrics.address, /^127\.0\.0\.1:\d+$/)
  const m = await scrape()
  const want: [string, string][] = [
    ['process_cpu_user_seconds_total', 'counter'], ['nodejs_heap_size_used_bytes', 'gauge'],
    ['mesh_gossip_members', 'gauge'], ['mesh_gossip_probes_total', 'counter'], ['mesh_gossip_suspicions_total', 'counter'],
    ['mesh_gossip_messages_total', 'counter'], ['mesh_gossip_bytes_total', 'counter'], ['mesh_gossip_decrypt_failures_total', 'counter'],
    ['mesh_overlay_enabled', 'gauge'], ['mesh_overlay_peers', 'gauge'],
    ['mesh_scheduler_tasks', 'gauge'], ['mesh_scheduler_reschedules_total', 'counter'], ['mesh_manager_nodes', 'gauge'],
  ]
  for (const [name, type] of want) t.equal(m.types.get(name.replace(/_total$/, '')) ?? m.types.get(name), type, `${name} is a ${type}`)
  t.equal(m.get('mesh_overlay_enabled'), 0)
  const notFound = await fetch(`http://${metrics.address}/other`)
  t.equal(notFound.status, 404)
})

t.test('gossip counters move while the two nodes talk', async (t) => {
  await waitFor(async () => (await scrape()).get('mesh_gossip_members', { state: 'alive' }) === 2, 20_000, { intervalMs: 200, what: 'two alive members' })
  const a = await scrape()
  const counters = [
    ['mesh_gossip_probes_total', {}], ['mesh_gossip_packets_total', { direction: 'out' }], ['mesh_gossip_packets_total', { direction: 'in' }],
    ['mesh_gossip_bytes_total', { direction: 'in' }], ['mesh_gossip_bytes_total', { direction: 'out' }],
    ['mesh_gossip_messages_total', { direction: 'in' }],
  ] as [string, Record<string, string>][]
  // Until every counter moved (a probe interval of the local profile is 1 s), not a fixed 2.5 s a loaded machine may
  // spend stalled; bounded at 30 s. The last scrape is asserted below.
  let b = a
  await waitFor(async () => {
    b = await scrape()
    return counters.every(([name, labels]) => (b.get(name, labels) ?? 0) > (a.get(name, labels) ?? 0))
  }, 30_000, { intervalMs: 500, what: 'the gossip counters to move' }).catch(() => undefined)
  for (const [name, labels] of counters) {
    t.ok((b.get(name, labels) ?? 0) > (a.get(name, labels) ?? 0), `${name}${JSON.stringify(labels)}: ${a.get(name, labels)} → ${b.get(name, labels)}`)
  }
  t.equal(b.get('mesh_gossip_decrypt_failures_total'), 0)
})

t.test('scheduler metrics follow the store; the API port serves the same registry', async (t) => {
  await manager.registerSelf({ hostname: 'n1', addr: '127.0.0.1', resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 } }, { csr: await testCsr() })
  const spec = defaultServiceSpec('web', 'mesh/busybox')
  spec.mode = { replicated: { replicas: 3 } }
  await manager.createService(spec)
  const m = await waitFor(async () => {
    const x = await scrape()
    return x.get('mesh_service_replicas', { service: 'web', kind: 'desired' }) === 3 ? x : null
  }, 10_000, { intervalMs: 100, what: 'three tasks' })
  t.equal(m.get('mesh_manager_services'), 1)
  t.equal(m.get('mesh_manager_nodes', { role: 'manager', state: 'ready', availability: 'active' }), 1)
  t.equal(m.sum('mesh_scheduler_tasks'), 3)
  t.equal(m.get('mesh_scheduler_tasks_desired', { desired: 'running' }), 3)
  t.equal(m.get('mesh_manager_events_total', { type: 'service', action: 'create' }), 1)
  t.ok((m.get('mesh_manager_store_revision') ?? 0) > 0)
  // The API's /metrics (TLS 1.3) wants an admin caller (loopback is not trusted): an admin client certificate.
  const tls = await tlsApi(t, manager, { metrics: metrics.registry })
  const text = await new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    requestFor(tls.target(tls.admin), { path: '/metrics', method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }))
    }).on('error', reject).end()
  })
  t.equal(text.status, 200)
  t.match(text.type, /^text\/plain; version=0\.0\.4/)
  const api = parsePromText(text.body)
  t.ok(api.get('mesh_gossip_members', { state: 'alive' }) !== undefined, 'API /metrics has the agent\'s gossip metrics too')
  t.equal(api.get('mesh_manager_services'), 1)
})

t.test('--metrics-addr parsing', async (t) => {
  const cases = [
    { in: '127.0.0.1:9947', want: { host: '127.0.0.1', port: 9947 } },
    { in: '[::1]:9100', want: { host: '::1', port: 9100 } },
    { in: '0.0.0.0:0', want: { host: '0.0.0.0', port: 0 } },
    { in: 'off', want: null },
  ]
  for (const c of cases) t.same(parseMetricsAddr(c.in), c.want, c.in)
  for (const bad of ['9947', 'host:', ':9947', '1.2.3.4:70000']) t.throws(() => parseMetricsAddr(bad), { code: 'MESH_ERR_CONFIG' }, bad)
})

t.test('a taken port is logged and skipped, not fatal', async (t) => {
  const warnings: string[] = []
  const log = { child: () => ({ warn: (_f: unknown, msg: string) => warnings.push(msg), info: () => undefined }) }
  const second = await startMetrics({ addr: metrics.address as string, log: log as never })
  t.equal(second.address, null)
  t.same(warnings, ['metrics listener not started'])
  await second.stop()
})

t.test('the prom parser is strict', async (t) => {
  t.throws(() => parsePromText('foo 1\n'), /without a TYPE/)
  t.throws(() => parsePromText('# TYPE foo counter\nfoo{a="b} 1\n'), /bad labels|not a sample/)
  t.throws(() => parsePromText('# TYPE foo gauge\nfoo one\n'), /bad value/)
  const p = parsePromText('# HELP foo x\n# TYPE foo counter\nfoo_total{a="q\\"x",b="y"} 2.5e3\n')
  t.same(p.samples, [{ name: 'foo_total', labels: { a: 'q"x', b: 'y' }, value: 2500 }])
})
