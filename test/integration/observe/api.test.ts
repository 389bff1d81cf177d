/**
 * The manager's observability routes on a real API server (127.0.0.1:0, in-memory store): the dashboard files,
 * the SSE view stream, the NDJSON event stream, the login form; the cluster API still wants its token.
 * Loopback callers get no trust: the streams are read with a dashboard session (a login code traded at /ui/login);
 * test/unit/manager/dashboard-auth.test.ts covers the refusals.
 */
import t from 'tap'
import http from 'node:http'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { runMesh, spawnMesh, stop, waitFor } from '../../support/procs.ts'
import { testCsr, tlsApi } from '../../support/pki.ts'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLIENT_BUNDLE } from '../../../src/api/index.ts'

const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
manager.start()
const server = await listen(createApp({ manager, local: false }, defaultServiceSpec), { host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
t.teardown(() => {
  server.closeAllConnections()
  server.close()
  manager.stop()
  store.close()
})

/** A dashboard session: a login code minted by the manager, traded at /ui/login for the `mesh_session` cookie. */
async function login(): Promise<string> {
  const res = await fetch(`${base}/ui/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ code: manager.sessions.mintCode().code }) })
  if (res.status !== 303) throw new Error(`login: ${res.status}`)
  return (res.headers.get('set-cookie') ?? '').split(';')[0] as string
}
const session = await login()

/**
 * Read a streaming response line by line until `until` says stop; then close it. The promise carries the lines read
 * so far (`lines`), for a test that waits for the stream to be open before it changes something.
 */
function readStream(path: string, until: (lines: string[]) => boolean, timeoutMs = 30_000): Promise<{ status: number; type: string; lines: string[] }> & { lines: string[] } {
  const lines: string[] = []
  const reading = new Promise<{ status: number; type: string; lines: string[] }>((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers: { cookie: session } }, (res) => {
      let buf = ''
      res.setEncoding('utf8')
      const done = () => {
        clearTimeout(timer)
        req.destroy()
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), lines })
      }
      res.on('data', (c: string) => {
        buf += c
        const parts = buf.split('\n')
        buf = parts.pop() as string
        lines.push(...parts)
        if (until(lines)) done()
      })
      res.on('end', done)
    })
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`${path}: timed out; got ${JSON.stringify(lines)}`)) }, timeoutMs)
    req.on('error', (err) => { if (!req.destroyed) reject(err) })
  })
  return Object.assign(reading, { lines })
}

t.test('dashboard files are served, offline (no external URL)', async (t) => {
  for (const [path, type] of [['/ui', /text\/html/], ['/ui/app.js', /javascript/], ['/ui/style.css', /text\/css/]] as const) {
    const res = await fetch(`${base}${path}`)
    t.equal(res.status, 200, path)
    t.match(res.headers.get('content-type') ?? '', type, `${path} type`)
    t.notMatch(await res.text(), /https?:\/\//, `${path} loads nothing from elsewhere`)
  }
  const api = await fetch(`${base}/v1/info`)
  t.equal(api.status, 401, 'the cluster API still wants its bearer token')
})

t.test('login form: a wrong code or a join token refused, a minted code sets a Secure HttpOnly cookie', async (t) => {
  const form = (code: string) => fetch(`${base}/ui/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ code }) })
  t.equal((await form('nope')).status, 401)
  t.equal((await form(manager.tokens().manager)).status, 401, 'the manager token does not log in')
  const good = await form(manager.sessions.mintCode().code)
  t.equal(good.status, 303)
  t.equal(good.headers.get('location'), '/ui')
  t.match(good.headers.get('set-cookie') ?? '', /^mesh_session=[^;]+; Secure; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/)
})

t.test('SSE: a view now, a new view and events after a change', async (t) => {
  const got = readStream('/v1/ui/stream', (lines) => lines.some((l) => l.includes('"name":"web"') && l.startsWith('data: {"revision"')))
  // The first view arrives before the change (a fixed 200 ms wait let a slow connect see the change in its first view).
  await waitFor(() => got.lines.some((l) => l.startsWith('data: {"revision"')), 30_000, { intervalMs: 20, what: 'the first view' })
  await manager.registerSelf({ hostname: 'n1', addr: '127.0.0.1', resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 } }, { csr: await testCsr() })
  const spec = defaultServiceSpec('web', 'mesh/busybox')
  spec.mode = { replicated: { replicas: 2 } }
  spec.ports = [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }]
  await manager.createService(spec)
  const r = await got
  t.equal(r.status, 200)
  t.match(r.type, /^text\/event-stream/)
  t.equal(r.lines[0], 'retry: 2000')
  const views = r.lines.filter((l) => l.startsWith('data: {"revision"')).map((l) => JSON.parse(l.slice(6)))
  t.ok(views.length >= 2, 'first view, then one after the change')
  const last = views.at(-1)
  t.match(last.nodes, [{ name: 'n1', role: 'manager', state: 'ready', availability: 'active' }])
  t.match(last.services, [{ name: 'web', mode: 'replicated', desired: 2, running: 0, ports: [{ published: 8080, target: 80, protocol: 'tcp' }] }])
  t.equal(last.tasks.length, 2)
  t.match(last.tasks[0], { service: 'web', slot: 1, image: 'mesh/busybox', desired: 'running' })
  t.ok(r.lines.includes('event: event'), 'cluster events are pushed too')
})

t.test('GET /v1/events: history since, filters, then live', async (t) => {
  const got = readStream('/v1/events?since=1h&filter=type=service', (lines) => lines.some((l) => l.includes('"action":"scale"')))
  await new Promise((r) => setTimeout(r, 200))
  await manager.updateService('web', (s) => ({ ...s, mode: { replicated: { replicas: 3 } } }))
  const r = await got
  t.equal(r.status, 200)
  t.match(r.type, /application\/x-ndjson/)
  const events = r.lines.filter((l) => l !== '{}').map((l) => JSON.parse(l))
  t.same(events.map((e) => `${e.type} ${e.action} ${e.subject}`), ['service create web', 'service scale web'])
  t.ok(events[1].id > events[0].id)
  t.match(events[1].attributes, { from: '2', replicas: '3' })
  const bad = await fetch(`${base}/v1/events?filter=colour=red`, { headers: { cookie: session } })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { error: { code: 'MESH_ERR_EVENT_QUERY', message: /filter "colour=red"/ } })
  const badSince = await fetch(`${base}/v1/events?since=yesterday`, { headers: { cookie: session } })
  t.equal(badSince.status, 400)
})

t.test('GET /v1/ui/view is the same view, once', async (t) => {
  const v = await (await fetch(`${base}/v1/ui/view`, { headers: { cookie: session } })).json() as { services: { name: string; desired: number }[] }
  t.match(v.services, [{ name: 'web', desired: 3 }])
})

t.test('mesh events (the CLI) over MESH_HOST: history, live, Ctrl-C; bad input is one line', async (t) => {
  // The CLI reaches a remote manager over TLS with an admin client certificate bundle (MESH_CERT_PATH).
  const api = await tlsApi(t, manager)
  const bundle = mkdtempSync(join(tmpdir(), 'mesh-bundle-'))
  t.teardown(() => rmSync(bundle, { recursive: true, force: true }))
  writeFileSync(join(bundle, CLIENT_BUNDLE.ca), ([api.admin.ca].flat() as string[]).join(''), { mode: 0o600 })
  writeFileSync(join(bundle, CLIENT_BUNDLE.cert), api.admin.cert as string, { mode: 0o600 })
  writeFileSync(join(bundle, CLIENT_BUNDLE.key), api.admin.key as string, { mode: 0o600 })
  const { MESH_TOKEN: _unused, ...rest } = process.env
  const env = { ...rest, MESH_HOST: `tcp://127.0.0.1:${api.port}`, MESH_CERT_PATH: bundle }
  const p = spawnMesh(['events', '--since', '1h', '--filter', 'type=service'], { env })
  t.teardown(() => stop(p, 'SIGKILL'))
  await waitFor(() => p.stdout().includes('service scale web'), 60_000, { what: 'history replayed' })
  await manager.updateService('web', (s) => ({ ...s, image: 'mesh/busybox:2' }))
  await waitFor(() => p.stdout().includes('service update web'), 30_000, { what: 'a live event' })
  const lines = p.stdout().trim().split('\n')
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z service create web \(id=[0-9a-f]+, image=mesh\/busybox, mode=replicated, replicas=2, ports=8080:80\/tcp\)$/)
  t.match(lines[1], /service scale web \(id=[0-9a-f]+, from=2, replicas=3\)$/)
  t.match(lines[2], /service update web \(id=[0-9a-f]+, image=mesh\/busybox:2, version=\d+, replicas=3\)$/)
  t.same(await stop(p, 'SIGINT'), { code: 0, signal: null }, 'Ctrl-C: exit 0')
  const cases = [
    { args: ['events', '--filter', 'colour=red'], re: /^mesh: filter "colour=red": want KEY=VALUE with KEY one of type, action, service, node$/ },
    { args: ['events', '--since', 'yesterday'], re: /^mesh: since "yesterday": want a duration/ },
  ]
  for (const c of cases) {
    const r = await runMesh(c.args, { env })
    t.equal(r.code, 1, `${c.args.join(' ')}: exit 1`)
    t.match(r.stderr.trim(), c.re, `${c.args.join(' ')}: one line`)
    t.equal(r.stderr.trim().split('\n').length, 1)
  }
})
