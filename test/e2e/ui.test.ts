/**
 * End-to-end observability on a 2-node lab (1 manager + 1 worker, each with its own dockerd):
 * - `mesh events` shows a task's state changes in order while `mesh service create` converges;
 * - the agent's /metrics (127.0.0.1:9947 inside the node) parses and counts the cluster, and its ingress counters
 *   move when a client's requests go through a published port;
 * - the dashboard in headless Chromium (playwright-core, Debian's /usr/bin/chromium) run inside the lab's
 *   underlay namespace: a wrong code and the manager token are refused, a one-time code from `mesh ui login --json`
 *   (through the manager socket) logs in, see both nodes and the task cards, `mesh service scale` and watch the
 *   new cards appear without a reload; a screenshot goes to test/artifacts/ui.png; Log out shows the login page
 *   and the old session cookie gets 401; a client without credentials gets 401 on /v1/events and /metrics.
 * Addresses: only the lab's own namespaces (the browser lives in labnet, like any outside client).
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { labBrowser } from './ui/browser.ts'
import { createLab, isRoot, type Lab, type LabNode } from '../lab/index.ts'
import { MESH_BIN, REPO_ROOT, killAndReap, waitFor, type Proc } from '../support/procs.ts'
import { parsePromText } from '../support/prom-text.ts'
import { TASK_STATES } from '../../src/api/types.ts'
import type { UiLab } from './ui/context.ts'
import { run as dockerApi } from './ui/docker-api.ts'
import { run as runDockerApi } from './ui/dockerapi.ts'
import { run as traffic } from './ui/traffic.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(600_000)

interface Node { id: string; hostname: string; state: string }
interface EventLine { id: number; type: string; action: string; subject: string; subjectId: string; attributes: Record<string, string> }

const dataDir = (n: LabNode) => join(n.dir, 'mesh')
const lab: Lab = await createLab({ nodes: 2, prefix: `obs${randomBytes(3).toString('hex')}` })
t.teardown(() => lab.down())
const [mgr, w1] = lab.nodes as [LabNode, LabNode]
const procs: Proc[] = []
t.teardown(async () => { for (const p of procs.reverse()) await killAndReap(p).catch(() => undefined) })

function agent(n: LabNode, args: string[]): Proc {
  const p = n.spawn(['node', MESH_BIN, 'agent', '--bind', n.ip, '--name', n.name, '--data-dir', dataDir(n), '--overlay', 'on', ...args],
    { name: `agent ${n.name}` })
  procs.push(p)
  return p
}
const meshArgs = (args: string[]) => ['env', `MESH_DATA_DIR=${dataDir(mgr)}`, 'node', MESH_BIN, ...args]
const mesh = (args: string[], timeoutMs = 60_000) => mgr.exec(meshArgs(args), { timeoutMs })

agent(mgr, ['--init'])
await waitFor(async () => (await mesh(['token', 'show', 'worker', '-q'])).code === 0, 60_000, { intervalMs: 500, what: 'manager API up' })
const workerToken = (await mesh(['token', 'show', 'worker', '-q'])).stdout.trim()
const managerToken = (await mesh(['token', 'show', 'manager', '-q'])).stdout.trim()
/** A one-time dashboard login code, minted through the manager socket as an admin (`mesh ui login --json`). */
async function loginCode(): Promise<{ code: string; url: string }> {
  const r = await mesh(['ui', 'login', '--json'])
  if (r.code !== 0) throw new Error(`mesh ui login: ${r.stderr.trim()}`)
  return JSON.parse(r.stdout) as { code: string; url: string }
}
/** HTTP status of a GET from the lab's outside client (-k: the API is HTTPS once 7947 is TLS). */
async function statusFromOutside(url: string, headers: string[] = []): Promise<string> {
  const r = await lab.client.exec(['curl', '-sk', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', ...headers.flatMap((h) => ['-H', h]), url])
  return r.stdout.trim()
}
agent(w1, ['--join', mgr.ip, '--token', workerToken])
await waitFor(async () => {
  const r = await mesh(['node', 'ls', '--json'])
  return r.code === 0 && (JSON.parse(r.stdout) as Node[]).filter((n) => n.state === 'ready').length === 2
}, 90_000, { intervalMs: 1000, what: '2 ready nodes' })

t.test('mesh events shows a task\'s state changes in order during service create', async (t) => {
  // --since replays the node joins: once they show, the stream is live and the create comes after.
  const events = mgr.spawn(meshArgs(['events', '--since', '10m', '--filter', 'type=node', '--filter', 'type=task', '--json']), { name: 'mesh events' })
  procs.push(events)
  await waitFor(() => events.stdout().includes('"action":"join"'), 60_000, { what: 'mesh events connected' })
  const r = await mesh(['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '1', 'mesh/busybox:latest', 'httpd', '-f', '-p', '80'], 180_000)
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  const lines = await waitFor(() => {
    const ls = events.stdout().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as EventLine).filter((e) => e.type === 'task')
    return ls.some((e) => e.action === 'running') ? ls : null
  }, 30_000, { what: 'a running event' })
  const first = lines.find((e) => e.subject === 'web.1') as EventLine
  const states = lines.filter((e) => e.subjectId === first.subjectId && e.action !== 'desired').map((e) => e.action)
  t.ok(states.length >= 3, `several states: ${states.join(' → ')}`)
  t.equal(states.at(-1), 'running', 'ends running')
  const order = states.map((s) => TASK_STATES.indexOf(s as (typeof TASK_STATES)[number]))
  t.ok(order.every((x, i) => x >= 0 && (i === 0 || x > (order[i - 1] as number))), `strictly forward: ${states.join(' → ')}`)
  const chain = lines.filter((e) => e.subjectId === first.subjectId && e.action !== 'desired')
  t.ok(chain.every((e, i) => i === 0 || e.attributes.from === chain[i - 1]?.action), 'each event names the state it came from')
  t.match(chain.at(-1)?.attributes, { service: 'web', slot: '1', image: 'mesh/busybox:latest' })
  await killAndReap(events)
  // History: a fresh `mesh events --since` replays it in docker's one-line shape.
  const hist = await mgr.exec(['timeout', '--preserve-status', '-s', 'INT', '8', ...meshArgs(['events', '--since', '10m', '--filter', 'type=service'])], { timeoutMs: 30_000 })
  t.match(hist.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z service create web \(id=[0-9a-f]+, image=mesh\/busybox:latest, mode=replicated, replicas=1\)$/m, hist.stdout)
  t.equal(hist.code, 0, 'Ctrl-C ends it quietly')
})

t.test('the agent serves /metrics on 127.0.0.1:9947 inside its node', async (t) => {
  const r = await mgr.exec(['curl', '-sf', 'http://127.0.0.1:9947/metrics'])
  t.equal(r.code, 0, r.stderr)
  const m = parsePromText(r.stdout)
  t.equal(m.get('mesh_gossip_members', { state: 'alive' }), 2)
  t.equal(m.get('mesh_manager_nodes', { role: 'worker', state: 'ready', availability: 'active' }), 1)
  t.equal(m.get('mesh_service_replicas', { service: 'web', kind: 'running' }), 1)
  t.equal(m.get('mesh_overlay_enabled'), 1)
  t.equal(m.get('mesh_overlay_peers'), 1)
  t.ok((m.get('mesh_gossip_bytes_total', { direction: 'in' }) ?? 0) > 0)
  const w = await w1.exec(['curl', '-sf', 'http://127.0.0.1:9947/metrics'])
  t.equal(parsePromText(w.stdout).get('mesh_gossip_members', { state: 'alive' }), 2, 'a worker serves its own')
})

t.test('/metrics: ingress counters move when traffic flows through a published port', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'hello', '--update-monitor', '1s', '--replicas', '1', '-p', '8080:80', 'mesh/busybox:latest',
    'sh', '-c', 'echo hello > /i.html && exec httpd -f -p 80 -h /'], 180_000)
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  const scrape = async () => parsePromText((await mgr.exec(['curl', '-sf', 'http://127.0.0.1:9947/metrics'])).stdout)
  const conns = (m: ReturnType<typeof parsePromText>) => m.sum('mesh_ingress_connections_total', { service: 'hello' })
  const before = await scrape()
  const after2 = (m: ReturnType<typeof parsePromText>) => ['mesh_ingress_received_bytes_total', 'mesh_ingress_sent_bytes_total']
    .every((name) => m.sum(name, { service: 'hello' }) > before.sum(name, { service: 'hello' }))
  // The routing mesh: node1's published port, from outside every node.
  const got = await waitFor(async () => {
    const x = await lab.client.exec(['curl', '-sf', '--max-time', '5', `http://${mgr.ip}:8080/i.html`])
    return x.code === 0 ? x.stdout : null
  }, 60_000, { intervalMs: 1000, what: 'hello through the ingress' })
  t.equal(got.trim(), 'hello')
  for (let i = 0; i < 4; i++) await lab.client.exec(['curl', '-sf', '--max-time', '5', `http://${mgr.ip}:8080/i.html`])
  // In nft mode (the default as root) the kernel counts these connections; the agent reads its counters every 5 s.
  const after = await waitFor(async () => {
    const m = await scrape()
    return conns(m) >= conns(before) + 5 && after2(m) ? m : null
  }, 30_000, { intervalMs: 1000, what: 'the ingress counters to count 5 more connections' })
  t.ok(conns(after) >= conns(before) + 5, `mesh_ingress_connections_total{service="hello"}: ${conns(before)} → ${conns(after)}`)
  for (const name of ['mesh_ingress_received_bytes_total', 'mesh_ingress_sent_bytes_total']) {
    t.ok(after.sum(name, { service: 'hello' }) > before.sum(name, { service: 'hello' }), `${name} moved`)
  }
  t.equal(after.types.get('mesh_ingress_connect_seconds'), 'histogram')
})

t.test('dashboard in headless Chromium: nodes, tasks, live scale without reload', async (t) => {
  // Chromium runs in the lab's underlay namespace (no way out), reaching the manager's API like any client.
  const browser: Browser = await labBrowser(t, lab)
  // The session cookie is Secure: the URL `mesh ui login` prints is the API's own (HTTPS once 7947 is TLS).
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true })
  const first = await loginCode()
  const url = first.url
  t.match(url, new RegExp(`^https?://${mgr.ip.replace(/\./g, '\\.')}:7947/ui$`), 'mesh ui login prints the dashboard URL')
  t.match(first.code, /^[0-9a-f]{32}$/)

  await page.goto(url)
  t.ok(await page.locator('input[name=code]').isVisible(), 'the login page first')
  const submit = async (code: string): Promise<void> => {
    await page.fill('input[name=code]', code)
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')])
  }
  await submit('wrong')
  t.match(await page.textContent('body'), /wrong, used or expired login code/)
  await page.goto(url)
  await submit(managerToken)
  t.match(await page.textContent('body'), /wrong, used or expired login code/, 'the manager token does not log in')
  await page.goto(url)
  await submit(first.code)

  await page.waitForSelector('.node[data-node="node1"]', { timeout: 30_000 })
  await page.waitForSelector('.node[data-node="node2"]')
  t.match(await page.textContent('.node[data-node="node1"]'), /manager/)
  t.match(await page.textContent('.node[data-node="node2"]'), /worker/)
  await page.waitForSelector('.task[data-service="web"][data-state="running"]', { timeout: 30_000 })
  t.equal(await page.locator('.task[data-service="web"]').count(), 1, 'one task card')
  t.match(await page.textContent('tr[data-service="web"]'), /1\/1/)
  t.match(await page.textContent('#events'), /task running web\.1/, 'events feed')

  await page.evaluate(() => { (window as unknown as { marker: number }).marker = 42 })
  const r = await mesh(['service', 'scale', 'web=3'], 180_000)
  t.equal(r.code, 0, r.stderr.trim())
  await page.waitForFunction(() => document.querySelectorAll('.task[data-service="web"][data-state="running"]').length === 3, undefined, { timeout: 60_000 })
  t.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'same page: no reload')
  const slots = await page.$$eval('.task[data-service="web"]', (els) => els.map((e) => e.getAttribute('data-slot')).sort())
  t.same(slots, ['1', '2', '3'], 'cards for slots 1-3')
  await page.waitForFunction(() => /3\/3/.test(document.querySelector('tr[data-service="web"]')?.textContent ?? ''), undefined, { timeout: 10_000 })
  t.match(await page.textContent('.node[data-node="node2"] .node-meta'), /10\.77\.\d+\.0\/24/, 'overlay subnet shown')
  t.match(await page.textContent('.node[data-node="node2"]'), /tunnel/, 'tunnel health shown')

  const artifacts = join(REPO_ROOT, 'test', 'artifacts')
  mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: join(artifacts, 'ui.png'), fullPage: true })
  t.pass(`screenshot: ${join(artifacts, 'ui.png')}`)

  const session = (await page.context().cookies()).find((c) => c.name === 'mesh_session')
  t.ok(session, 'a mesh_session cookie')
  t.match(session, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/' })
  const view = new URL('/v1/ui/view', url).href
  t.equal(await statusFromOutside(view, [`cookie: mesh_session=${session?.value}`]), '200', 'the cookie reads the view')
  await Promise.all([page.waitForNavigation(), page.click('#logout')])
  await page.waitForSelector('input[name=code]', { timeout: 10_000 })
  t.pass('log out: back to the login page')
  t.equal(await statusFromOutside(view, [`cookie: mesh_session=${session?.value}`]), '401', 'the old cookie is refused after logout')
  await submit(first.code)
  t.match(await page.textContent('body'), /wrong, used or expired login code/, 'the code was single-use')
})

// The issue parts (test/e2e/ui/<part>.ts), on the same lab once `web` and `hello` exist.
const ctx: UiLab = { lab, mgr, w1, dataDir, mesh, procs, loginCode }
t.test('the docker CLI and Prometheus\'s dockerswarm_sd_configs against the manager\'s docker-api.sock', (t) => dockerApi(t, ctx))
t.test('docker-api.sock: root only or the mesh group; docker events --since replays the buffer', (t) => runDockerApi(t, ctx))
t.test('traffic: live rates, sparkline and the traffic view in Chromium under a request loop', (t) => traffic(t, ctx))

t.test('no credentials: 401 on the observe routes', async (t) => {
  const base = (await loginCode()).url.replace(/\/ui$/, '')
  for (const path of ['/v1/events', '/metrics', '/v1/ui/stream', '/v1/ui/view']) {
    t.equal(await statusFromOutside(`${base}${path}`), '401', path)
  }
  const local = await mgr.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--unix-socket', join(dataDir(mgr), 'manager.sock'), 'http://mesh/metrics'])
  t.equal(local.stdout.trim(), '200', 'the manager socket is admin')
})
