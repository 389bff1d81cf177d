import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MeshError } from '../../../src/base/errors.ts'
import { WorkerLink, identityPath, readIdentity, readNodeTls, savedManager, tlsDir, writeIdentity, writeNodeTls } from '../../../src/worker/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FAKE_TOKEN, FakeManager, fakeCa, fakeNodeTls } from './fake-manager.ts'

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'mesh-identity-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function link(dataDir: string, manager: FakeManager, token?: string): WorkerLink {
  return new WorkerLink({
    transport: manager, clock: manager.clock, dataDir, hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1e9, memoryBytes: 1e9 },
    onAssignments: () => undefined, log: () => undefined, ...(token ? { token } : {}),
  })
}

t.test('joining with a token writes node.json and tls/ (0600); the next start reads them without joining', async (t) => {
  const d = dir(t)
  const manager = new FakeManager(new FakeClock())
  const id = await link(d, manager, FAKE_TOKEN).register()
  t.same(id, { nodeId: 'n1', role: 'worker', manager: '10.0.0.1:7947' })
  t.equal(manager.joins.length, 1)
  const j = manager.joins[0]!
  t.same([j.token, j.caPem], [FAKE_TOKEN, fakeCa.certPem], 'the token, over TLS pinned to the fetched CA')
  t.match(j.req, { hostname: 'w1', addr: '10.0.0.2', resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, csr: /^-----BEGIN CERTIFICATE REQUEST-----/ })
  t.equal(statSync(identityPath(d)).mode & 0o777, 0o600, 'node.json is readable by root only')
  t.same(JSON.parse(readFileSync(identityPath(d), 'utf8')), id, 'node.json holds no secret')
  for (const f of ['ca.pem', 'node.pem', 'node-key.pem']) t.equal(statSync(join(tlsDir(d), f)).mode & 0o777, 0o600, `tls/${f} is 0600`)
  t.equal(manager.tls?.cert, readNodeTls(d).cert, 'the transport uses the certificate it saved')
  const again = link(d, manager)
  t.same(await again.register(), id)
  t.equal(again.nodeId, 'n1')
  t.equal(manager.joins.length, 1, 'no second join')
  t.equal(savedManager(d), '10.0.0.1:7947')
})

t.test('a token given again joins again (a node moved to another cluster)', async (t) => {
  const d = dir(t)
  const manager = new FakeManager(new FakeClock())
  await link(d, manager, FAKE_TOKEN).register()
  const before = readNodeTls(d).cert
  manager.joinAs = { nodeId: 'n2', role: 'worker' }
  t.equal((await link(d, manager, FAKE_TOKEN).register()).nodeId, 'n2')
  t.equal(readIdentity(d).nodeId, 'n2')
  t.not(readNodeTls(d).cert, before, 'and a new certificate')
})

t.test('failures are one clear error', async (t) => {
  const cases = [
    { name: 'no identity, no token', file: null, token: undefined, want: /has not joined a cluster: pass --token TOKEN/ },
    { name: 'corrupt node.json', file: '{"nodeId": "n1", "cred', token: undefined, want: /node\.json: cannot read this node's identity .*remove the file and join again/ },
    { name: 'node.json without a node id', file: '{"node":"n1"}', token: undefined, want: /node\.json: not a node identity/ },
    { name: 'node.json from before certificates (a bearer credential)', file: '{"nodeId":"n1","credential":"c","role":"worker"}', token: undefined,
      want: /node\.json: this node joined before mesh used certificates .*join again with a new token/ },
    { name: 'the manager refuses the token', file: null, token: FAKE_TOKEN, refuse: true, want: /^joining the manager at 10\.0\.0\.1:7947 failed: invalid join token$/ },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const d = dir(t)
      const manager = new FakeManager(new FakeClock())
      if (c.refuse) manager.joinAnswer = { status: 401, body: null, message: 'invalid join token' }
      if (c.file !== null) writeFileSync(identityPath(d), c.file)
      const err = await link(d, manager, c.token).register().then(() => null, (e: unknown) => e)
      t.ok(err instanceof MeshError, 'a MeshError')
      t.equal((err as MeshError).code, 'MESH_ERR_CONFIG')
      t.match((err as Error).message, c.want)
      t.notMatch((err as Error).message, /\n/, 'one line')
      if (c.file !== null) t.ok((err as Error).message.includes(identityPath(d)), 'names the file')
    })
  }
})

t.test('savedManager tolerates a missing or corrupt file; writeIdentity replaces atomically', async (t) => {
  const d = dir(t)
  t.equal(savedManager(d), null)
  writeFileSync(identityPath(d), 'not json')
  t.equal(savedManager(d), null)
  writeIdentity(d, { nodeId: 'n1', role: 'manager', manager: '10.0.0.9:7947' })
  t.equal(savedManager(d), '10.0.0.9:7947')
  t.equal(statSync(identityPath(d)).mode & 0o777, 0o600)
})

t.test('the manager refuses the join because this hostname is a member (409)', async (t) => {
  const member = { status: 409, body: null, message: 'node "w1" is already a member; remove it first with mesh node rm w1' }
  const cases = [
    { desc: 'restarted with --token and its node.json from this manager: keeps that identity', file: { nodeId: 'n1', role: 'worker', manager: '10.0.0.1:7947' }, keeps: true },
    { desc: 'node.json lost: the manager\'s one line, naming the fix', file: null, keeps: false },
    { desc: 'node.json from another manager: the manager\'s one line', file: { nodeId: 'n9', role: 'worker', manager: '10.0.0.9:7947' }, keeps: false },
  ]
  for (const c of cases) {
    await t.test(c.desc, async (t) => {
      const d = dir(t)
      if (c.file) {
        writeIdentity(d, c.file)
        writeNodeTls(d, await fakeNodeTls(c.file.nodeId))
      }
      const manager = new FakeManager(new FakeClock())
      manager.joinAnswer = member
      const l = link(d, manager, FAKE_TOKEN)
      const got = await l.register().then((id) => id, (e: unknown) => e)
      t.equal(manager.joins.length, 1, 'it asked the manager')
      if (c.keeps) {
        t.same(got, c.file, 'the stored identity')
        t.equal(l.nodeId, 'n1')
        t.equal(manager.tls?.cert, readNodeTls(d).cert, 'and its certificate')
      } else {
        t.ok(got instanceof MeshError, 'a MeshError')
        t.equal((got as MeshError).code, 'MESH_ERR_CONFIG')
        t.equal((got as Error).message, member.message, 'exactly the manager\'s line (the CLI prefixes `mesh: `)')
        if (c.file) t.same(readIdentity(d), c.file, 'node.json is left as it was')
      }
    })
  }
})

t.test('a malformed token is refused before any connection', async (t) => {
  const d = dir(t)
  const manager = new FakeManager(new FakeClock())
  const err = await link(d, manager, 'SWMTKN-1-abc-def').register().then(() => null, (e: unknown) => e as MeshError)
  t.ok(err instanceof MeshError, 'a MeshError')
  t.equal(err?.message, 'join token is a Docker Swarm token, not a mesh one')
  t.same(manager.joins, [], 'no join')
})
