/**
 * `mesh ui login` (mesh/ui.ts) against a manager's unix socket in a temp data dir: it prints the dashboard URL and
 * a one-time code (JSON with --json), the code opens one dashboard session on the TCP API and only one; a caller
 * without an admin credential gets one line and exit 1. The code never goes through argv.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { MANAGER_SOCKET, defaultServiceSpec } from '../../../src/api/index.ts'
import { runMesh } from '../../support/procs.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-ui-login-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
const url = 'http://192.0.2.7:7947/ui'
const unix = await listen(createApp({ manager, local: true, dashboardUrl: url }, defaultServiceSpec), { socketPath: join(dir, MANAGER_SOCKET) })
const tcp = await listen(createApp({ manager, local: false, dashboardUrl: url }, defaultServiceSpec), { host: '127.0.0.1', port: 0 })
const base = `http://127.0.0.1:${(tcp.address() as AddressInfo).port}`
t.teardown(() => {
  for (const s of [unix, tcp]) {
    s.closeAllConnections()
    s.close()
  }
  store.close()
  rmSync(dir, { recursive: true, force: true })
})
const env = { ...process.env, MESH_DATA_DIR: dir, MESH_HOST: '', MESH_TOKEN: '' }
const login = (code: string) => fetch(`${base}/ui/login`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ code }) })

t.test('--json: a code that logs in once', async (t) => {
  const r = await runMesh(['ui', 'login', '--json'], { env })
  t.equal(r.code, 0, r.stderr)
  const got = JSON.parse(r.stdout) as { code: string; expiresInS: number; url: string }
  t.match(got, { code: /^[0-9a-f]{32}$/, expiresInS: 300, url })
  const first = await login(got.code)
  t.equal(first.status, 303)
  t.match(first.headers.get('set-cookie') ?? '', /^mesh_session=/)
  t.equal((await login(got.code)).status, 401, 'single use')
})

t.test('human output: the URL and the code', async (t) => {
  const r = await runMesh(['ui', 'login'], { env })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /single use, valid 5 minutes/)
  t.match(r.stdout, new RegExp(`^    ${url.replace(/[.]/g, '\\.')}$`, 'm'))
  const code = /^ {4}Code: ([0-9a-f]{32})$/m.exec(r.stdout)?.[1]
  t.ok(code, 'a code line')
  t.equal((await login(code as string)).status, 303)
})

t.test('without an admin credential: one line, exit 1', async (t) => {
  const r = await runMesh(['ui', 'login'], { env: { ...env, MESH_HOST: base.replace(/^http/, 'tcp'), MESH_TOKEN: manager.tokens().worker } })
  t.equal(r.code, 1)
  t.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  t.match(r.stderr, /^mesh: /)
})
