/**
 * The worker's side of the cluster PKI against the manager's real TLS API (127.0.0.1:0): WorkerLink.register()
 * fetches the CA, pins it by the token's digest before it sends anything, joins with a CSR and keeps the certificate
 * in tls/ (0600) with node.json holding no secret. A man in the middle with another CA never sees the token; a
 * rotated secret is one line. The CertificateKeeper renews at two thirds of a 2-minute certificate (FakeClock and
 * an injected wall clock), and after `m.rotateCa()` the `{ca}` push makes the link renew under the new root, which
 * ends the rotation.
 */
import t, { type Test } from 'tap'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import type http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'
import { certificateInfo, createNodeKeyAndCsr, issuedBy, renewalDueAt } from '../../../src/pki/index.ts'
import { HttpManagerTransport, WorkerLink, identityPath, readIdentity, readNodeTls, tlsDir } from '../../../src/worker/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { tlsApi, type TlsApi } from '../../support/pki.ts'

const resources = { nanoCpus: 2e9, memoryBytes: 2 ** 31 }

async function cluster(t: Test, o: { certLifetimeMs?: number } = {}): Promise<{ m: Manager; api: TlsApi; clock: FakeClock }> {
  const store = openSqliteStore(':memory:')
  const clock = new FakeClock()
  const m = new Manager({ store, clock, ...o })
  await m.init()
  t.teardown(() => store.close())
  return { m, api: await tlsApi(t, m), clock }
}

/** An agent joining the manager listening on `port`: its link, transport, data dir, clocks and log. */
function agent(t: Test, port: number, o: { token: string; hostname?: string; wall?: () => number }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'mesh-joinpin-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const clock = new FakeClock()
  const transport = new HttpManagerTransport({ host: '127.0.0.1', port })
  const logs: { level: string; msg: string }[] = []
  const link = new WorkerLink({
    transport, clock, dataDir, hostname: o.hostname ?? 'w1', addr: '10.0.0.2', resources, token: o.token,
    ...(o.wall ? { wallNow: o.wall } : {}),
    onAssignments: () => undefined, log: (level, msg) => logs.push({ level, msg }),
  })
  t.teardown(() => link.stop())
  return { link, transport, dataDir, clock, logs }
}

/** Every request a server receives (method, path, authorization header), recorded before the app sees it. */
function record(server: http.Server): { method: string; url: string; auth: string }[] {
  const seen: { method: string; url: string; auth: string }[] = []
  server.prependListener('request', (req: http.IncomingMessage) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization ?? '' })
  })
  return seen
}

/** Bounded generously: what is waited for takes milliseconds, but a loaded CI machine can stall this process for seconds. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

t.test('register() against the real TLS API: joins, writes tls/ (0600) and node.json without a secret', async (t) => {
  const { m, api } = await cluster(t)
  const token = m.tokens().worker
  const seen = record(api.server)
  const a = agent(t, api.port, { token })
  const id = await a.link.register()
  const node = m.getNode('w1')
  t.equal(node?.id, id.nodeId, 'the manager holds the node under the id node.json names')
  t.same(id, { nodeId: node?.id, role: 'worker', manager: `127.0.0.1:${api.port}` })
  t.same(seen.map((r) => `${r.method} ${r.url}`), ['GET /v1/ca', 'POST /v1/agent/join'], 'the CA first, then the join')
  t.equal(seen[0]?.auth, '', 'the CA fetch carries no token')
  t.same(readdirSync(tlsDir(a.dataDir)).sort(), ['ca.pem', 'node-key.pem', 'node.pem'])
  for (const f of ['ca.pem', 'node.pem', 'node-key.pem']) t.equal(statSync(join(tlsDir(a.dataDir), f)).mode & 0o777, 0o600, `tls/${f} is 0600`)
  t.equal(statSync(identityPath(a.dataDir)).mode & 0o777, 0o600, 'node.json is 0600')
  const text = readFileSync(identityPath(a.dataDir), 'utf8')
  t.same(Object.keys(JSON.parse(text) as object).sort(), ['manager', 'nodeId', 'role'], 'node.json: id, role, manager; no credential')
  t.notOk(text.includes(token.slice(-32)) || text.includes('PRIVATE KEY'), 'no token secret and no key in node.json')
  const tls = readNodeTls(a.dataDir)
  t.same(tls.ca, m.ca.trust().roots, 'ca.pem holds the cluster root')
  t.equal((await m.ca.identify(tls.cert)).nodeId, id.nodeId, 'node.pem names this node')
  const r = await a.transport.postStatus([])
  t.same([r.status, r.body], [200, { applied: 0 }], 'the transport now calls with that certificate')
})

t.test('a MITM with another CA on the address: refused naming the CA mismatch, and it never sees the token', async (t) => {
  const real = await cluster(t)
  const mitm = await cluster(t)
  const seen = record(mitm.api.server)
  const token = real.m.tokens().worker
  const a = agent(t, mitm.api.port, { token })
  const err = await a.link.register().then(() => null, (e: unknown) => e as Error & { code?: string })
  t.equal(err?.code, 'MESH_ERR_CONFIG')
  t.match(err?.message, new RegExp(`^refusing to join through 127\\.0\\.0\\.1:${mitm.api.port}: CA certificate sha256:${mitm.m.clusterInfo().digest} is not the one the join token pins \\(sha256:${real.m.clusterInfo().digest}\\)`))
  t.notMatch(err?.message, /\n/, 'one line')
  t.notOk(err?.message.includes(token.slice(-32)), 'the line does not repeat the secret')
  t.same(seen, [{ method: 'GET', url: '/v1/ca', auth: '' }], 'the MITM saw only GET /v1/ca, without the token')
  t.same(mitm.m.listNodes(), [], 'nothing joined the MITM')
  t.same(readdirSync(a.dataDir), [], 'nothing written')
})

t.test('a token of the right CA with a rotated secret: one line, no node', async (t) => {
  const { m, api } = await cluster(t)
  const old = m.tokens().worker
  await m.rotateToken('worker')
  const a = agent(t, api.port, { token: old })
  const err = await a.link.register().then(() => null, (e: unknown) => e as Error & { code?: string })
  t.equal(err?.code, 'MESH_ERR_CONFIG')
  t.equal(err?.message, `joining the manager at 127.0.0.1:${api.port} failed: invalid join token (check \`mesh token show worker\` on a manager)`)
  t.same(m.listNodes(), [], 'no node')
  t.same(readdirSync(a.dataDir), [], 'nothing written')
})

t.test('a 2-minute certificate is renewed at two thirds of its life and the new one works', async (t) => {
  const { m, api } = await cluster(t, { certLifetimeMs: 120_000 })
  let wall = Date.now()
  const a = agent(t, api.port, { token: m.tokens().worker, wall: () => wall })
  await a.link.register()
  const first = readNodeTls(a.dataDir).cert
  const firstKey = readNodeTls(a.dataDir).key
  const info = certificateInfo(first)
  const due = renewalDueAt(first)
  t.ok(info.notAfter - due > 0 && info.notAfter - Date.now() <= 120_000 + 1000, 'a 2-minute certificate')
  a.link.start()
  await a.clock.advance(due - wall - 1000)
  t.equal(readNodeTls(a.dataDir).cert, first, 'not renewed before two thirds of its life')
  wall = due
  await a.clock.advance(1000)
  await until('the renewal', () => readNodeTls(a.dataDir).cert !== first)
  const renewed = readNodeTls(a.dataDir)
  t.not(renewed.cert, first, 'a new certificate')
  t.not(certificateInfo(renewed.cert).serial, info.serial, 'another serial')
  t.ok(certificateInfo(renewed.cert).notAfter >= info.notAfter, 'valid at least as long as the first')
  t.not(renewed.key, firstKey, 'for a new key')
  t.equal((await m.ca.identify(renewed.cert)).nodeId, m.getNode('w1')?.id, 'for the same node')
  t.ok(a.logs.some((l) => l.msg === 'node certificate renewed'), 'logged')
  const r = await a.transport.postStatus([])
  t.same([r.status, r.body], [200, { applied: 0 }], 'the next request with the new certificate works')
})

t.test('a CA rotation: {ca} is pushed, the link renews under the new root, the rotation ends, the new certificate works', async (t) => {
  const { m, api, clock } = await cluster(t)
  const a = agent(t, api.port, { token: m.tokens().worker })
  await a.link.register()
  const first = readNodeTls(a.dataDir)
  a.link.start()
  await until('the watch stream', () => a.link.connected)
  const before = m.clusterInfo().digest
  await m.rotateCa()
  const rotating = m.ca.status()
  t.equal(rotating.rotating, true, 'rotation started')
  t.same(rotating.pending, [m.getNode('w1')?.id], 'w1 still to renew')
  await clock.advance(10) // the stream's coalescing: the `{ca}` line goes out
  await until('the renewal under the new root', async () => {
    const now = readNodeTls(a.dataDir)
    return now.cert !== first.cert && (await issuedBy(now.cert, m.ca.trust().current))
  })
  await until('the end of the rotation', () => !m.ca.status().rotating)
  // The renewal during the rotation is a chain (leaf, cross-signed root): its renewal time is the leaf's.
  t.notOk(a.logs.some((l) => l.msg === 'node certificate renewal failed; will retry'), 'the renewed chain is not taken for a failed renewal')
  t.same(m.ca.status(), { digest: m.clusterInfo().digest, rotating: false, pending: [] }, 'rotating=false once every node renewed')
  t.equal(m.ca.trust().roots.length, 1, 'the old root is no longer trusted')
  t.not(m.clusterInfo().digest, before, 'under a new root')
  // The manager node reloads its API certificate when it renews (agent wiring); the test's listener does it here.
  const k = await createNodeKeyAndCsr()
  const cert = await m.ca.issue(k.csrPem, { nodeId: 'api-test', role: 'manager', clusterId: m.clusterInfo().clusterId, ipSans: ['127.0.0.1'] })
  ;(api.server as unknown as { setSecureContext(o: object): void }).setSecureContext({ key: k.keyPem, cert, ca: m.ca.trust().roots, minVersion: 'TLSv1.3' })
  await clock.advance(10) // the `{ca}` line with only the new root
  await until('the link trusting only the new root', () => readNodeTls(a.dataDir).ca.join('') === m.ca.trust().roots.join(''))
  const r = await a.transport.postStatus([])
  t.same([r.status, r.body], [200, { applied: 0 }], 'a request with the new certificate works')
  t.equal((await m.ca.identify(readNodeTls(a.dataDir).cert)).nodeId, m.getNode('w1')?.id)
  t.equal(readIdentity(a.dataDir).nodeId, m.getNode('w1')?.id, 'the same node throughout')
})
