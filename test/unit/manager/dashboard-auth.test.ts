/**
 * Who reaches the dashboard and the observe routes (src/manager/http/observe-api.ts behind api.ts's caller
 * middleware), on the real app over 127.0.0.1:0 (TLS 1.3, client certificates) and a unix socket, with a fake clock:
 * a loopback caller without a certificate gets nothing; a node certificate is refused (403); an admin client
 * certificate or the socket reads them; the manager token never logs in nor works as a cookie; a login code minted by
 * an admin opens one session (Secure, HttpOnly, SameSite=Strict cookie) that reads the view until logout or idle
 * time, and never /metrics or the cluster API; login attempts are limited per source; a live stream ends with its
 * session.
 */
import t from 'tap'
import type http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { requestFor, type ClientTls } from '../../../src/api/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { tlsApi } from '../../support/pki.ts'

const clock = new FakeClock()
const store = openSqliteStore(':memory:')
const manager = new Manager({ store, clock })
await manager.init()
t.teardown(() => store.close())
const api = await tlsApi(t, manager)
const w1 = await api.joinNode('w1', { addr: '10.0.0.2' })
const dir = mkdtempSync(join(tmpdir(), 'mesh-dash-'))
const sock = join(dir, 'manager.sock')
const unix = await listen(createApp({ manager, local: true, dashboardUrl: 'https://192.0.2.1:7947/ui' }, defaultServiceSpec), { socketPath: sock })
t.teardown(() => {
  unix.closeAllConnections()
  unix.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }
interface Req { method?: string; headers?: Record<string, string>; body?: string; socketPath?: string; localAddress?: string; tls?: ClientTls }
/**
 * One request: over the unix socket, or over TLS to 127.0.0.1 from `localAddress` with `tls` (default: no client
 * certificate); a streaming answer is read until `until` says stop (or it ends).
 */
function req(path: string, o: Req = {}, until?: (body: string) => boolean): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const r = requestFor(o.socketPath ? { socketPath: o.socketPath } : api.target(o.tls ?? api.anonymous), {
      ...(o.socketPath ? {} : { localAddress: o.localAddress ?? '127.0.0.1' }),
      path, method: o.method ?? 'GET', agent: false,
      headers: { ...(o.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...o.headers },
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      const done = (): void => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
        if (until) r.destroy()
      }
      if (until?.(body)) return done() // the head is enough
      res.on('data', (c: string) => {
        body += c
        if (until?.(body)) done()
      })
      res.on('end', done)
    })
    r.on('error', reject)
    r.end(o.body)
  })
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const mint = async (): Promise<{ code: string; expiresInS: number; url?: string }> => {
  const r = await req('/v1/ui/login-codes', { method: 'POST', socketPath: sock })
  if (r.status !== 201) throw new Error(`mint: ${r.status} ${r.body}`)
  return JSON.parse(r.body)
}
let source = 10
/** Log in with a fresh code from a fresh loopback source (each source has a few attempts a minute). */
const login = async (code: string, localAddress = `127.0.0.${source++}`, tls?: ClientTls): Promise<Reply> =>
  req('/ui/login', { method: 'POST', body: new URLSearchParams({ code }).toString(), localAddress, ...(tls ? { tls } : {}) })
const cookieOf = (r: Reply): string => String(r.headers['set-cookie']?.[0] ?? '').split(';')[0] as string

t.test('a loopback caller without credentials gets 401 on every observe route', async (t) => {
  for (const path of ['/v1/events', '/metrics', '/v1/ui/stream', '/v1/ui/view', '/v1/events?since=1h']) {
    const r = await req(path)
    t.equal(r.status, 401, path)
    t.match(JSON.parse(r.body), { error: { code: 'MESH_ERR_UNAUTHORIZED' } }, path)
    t.notMatch(r.headers['content-type'] ?? '', /event-stream|ndjson/, `${path}: no stream opened`)
  }
  const ui = await req('/ui')
  t.equal(ui.status, 200)
  t.match(ui.body, /name="code"/, '/ui is the login page')
  t.equal((await req('/v1/info')).status, 401, 'the cluster API is not opened to anonymous callers')
  t.equal((await req('/v1/ui/login-codes', { method: 'POST' })).status, 401, 'minting a code needs a credential')
})

t.test('the manager token never logs in, nor works as the old cookie', async (t) => {
  const mt = manager.tokens().manager
  for (const body of [new URLSearchParams({ code: mt }), new URLSearchParams({ token: mt })]) {
    const r = await req('/ui/login', { method: 'POST', body: body.toString(), localAddress: `127.0.0.${source++}` })
    t.equal(r.status, 401, `form ${[...body.keys()][0]}`)
    t.equal(r.headers['set-cookie'], undefined, 'no cookie')
  }
  t.equal((await req('/v1/ui/view', { headers: { cookie: `mesh_token=${mt}` } })).status, 401, 'mesh_token cookie refused')
  t.equal((await req('/v1/ui/view', { headers: { cookie: `mesh_session=${mt}` } })).status, 401, 'nor as a session id')
  t.equal((await login(manager.tokens().worker)).status, 401, 'nor the worker token')
  const nodeLogin = await login(String(w1.tls.cert), undefined, w1.tls)
  t.equal(nodeLogin.status, 401, 'nor a node certificate (presented, or pasted as the code)')
  t.equal(nodeLogin.headers['set-cookie'], undefined, 'no cookie for a node')
})

t.test('a node certificate is refused the observe routes; an admin caller reaches them', async (t) => {
  for (const path of ['/v1/ui/view', '/metrics', '/v1/events']) {
    const r = await req(path, { tls: w1.tls })
    t.equal(r.status, 403, `node on ${path}`)
  }
  t.equal((await req('/v1/ui/login-codes', { method: 'POST', tls: w1.tls })).status, 403, 'a node cannot mint codes')
  const metrics = await req('/metrics', { socketPath: sock })
  t.equal(metrics.status, 200, 'the unix socket is admin')
  t.match(metrics.body, /mesh_manager_/)
  t.equal((await req('/metrics', { tls: api.admin })).status, 200, 'so is an admin client certificate')
  t.equal((await req('/v1/ui/view', { tls: api.admin })).status, 200)
  t.equal((await req('/metrics', { headers: bearer(manager.tokens().manager) })).status, 401, 'the manager token is not an admin credential')
  t.equal((await req('/v1/ui/view', { socketPath: sock })).status, 200)
})

t.test('code → session → view → logout → 401', async (t) => {
  const m = await mint()
  t.match(m, { code: /^[0-9a-f]{32}$/, expiresInS: 300, url: 'https://192.0.2.1:7947/ui' })
  const r = await login(m.code)
  t.equal(r.status, 303)
  t.equal(r.headers.location, '/ui')
  const set = String(r.headers['set-cookie'])
  t.match(set, /^mesh_session=[A-Za-z0-9_-]{43}; Secure; HttpOnly; SameSite=Strict; Path=\/; Max-Age=28800$/, 'cookie attributes')
  const cookie = cookieOf(r)
  const view = await req('/v1/ui/view', { headers: { cookie } })
  t.equal(view.status, 200)
  t.match(JSON.parse(view.body), { nodes: [{ name: 'w1' }] })
  t.match((await req('/ui', { headers: { cookie } })).body, /<script src="\/ui\/app\.js">/, '/ui is the dashboard')
  const events = req('/v1/events', { headers: { cookie } }, () => true)
  let opened = false
  void events.then(() => { opened = true })
  while (!opened) { // the head goes out with the first line: the heartbeat, on the fake clock
    await new Promise((r) => setTimeout(r, 20))
    await clock.advance(10_000)
  }
  t.equal((await events).status, 200, 'events stream opens')
  t.equal((await req('/metrics', { headers: { cookie } })).status, 401, 'a session does not read /metrics')
  t.equal((await req('/v1/info', { headers: { cookie } })).status, 401, 'nor the cluster API')
  t.equal((await req('/v1/ui/login-codes', { method: 'POST', headers: { cookie } })).status, 401, 'nor mint codes')
  t.equal((await login(m.code)).status, 401, 'the code is used up')

  const out = await req('/ui/logout', { method: 'POST', headers: { cookie } })
  t.equal(out.status, 303)
  t.match(String(out.headers['set-cookie']), /^mesh_session=; Secure; HttpOnly; SameSite=Strict; Path=\/; Max-Age=0$/)
  const after = await req('/v1/ui/view', { headers: { cookie } })
  t.equal(after.status, 401, 'the old cookie is refused after logout')
  t.match((await req('/ui', { headers: { cookie } })).body, /name="code"/, 'and /ui shows the login page')
})

t.test('a session ends after 30 minutes idle; a code after 5 minutes', async (t) => {
  const cookie = cookieOf(await login((await mint()).code))
  await clock.advance(29 * 60_000)
  t.equal((await req('/v1/ui/view', { headers: { cookie } })).status, 200)
  await clock.advance(30 * 60_000)
  t.equal((await req('/v1/ui/view', { headers: { cookie } })).status, 401, 'idle 30 min')
  const { code } = await mint()
  await clock.advance(5 * 60_000)
  t.equal((await login(code)).status, 401, 'expired code')
})

t.test('login attempts: a few a minute per source, then 429 without looking at the code', async (t) => {
  await clock.advance(60_000)
  const from = '127.0.0.250'
  for (let i = 0; i < 5; i++) t.equal((await login('wrong', from)).status, 401, `attempt ${i + 1}`)
  const { code } = await mint()
  const r = await login(code, from)
  t.equal(r.status, 429, 'the sixth is refused, even with a good code')
  t.equal(r.headers['set-cookie'], undefined)
  t.equal((await login(code, '127.0.0.251')).status, 303, 'the code was not used up; another source may use it')
  await clock.advance(60_000)
  t.equal((await login('wrong', from)).status, 401, 'a minute later: counted again')
})

t.test('a live stream opened with a session ends when the session does', async (t) => {
  const cookie = cookieOf(await login((await mint()).code))
  let body = ''
  const ended = new Promise<number>((resolve, reject) => {
    const r = requestFor(api.target(api.anonymous), { method: 'GET', path: '/v1/ui/stream', headers: { cookie }, agent: false }, (res) => {
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    r.on('error', reject)
    r.end()
  })
  while (!body.includes('event: view')) await new Promise((r) => setTimeout(r, 10))
  await req('/ui/logout', { method: 'POST', headers: { cookie } })
  await clock.advance(5000)
  t.equal(await ended, 200, 'the server ended the stream')
  t.equal((await req('/v1/ui/stream', { headers: { cookie } })).status, 401, 'and refuses to reopen it')
})
