/**
 * Unix sockets (the manager's manager.sock, the agent's mesh.sock) exist only with their final mode: stat'ed the
 * moment the bind happens — before listen() resolves, under umask 0 — they are already 0600 (no chmod after).
 * With a `mesh` group in /etc/group both sockets are root:mesh 0660: still 0600 at the bind, given to the
 * group while owner-only, then opened (the decision is a pure function of /etc/group's text).
 */
import t from 'tap'
import http from 'node:http'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hostSocketAccess, listenUnix, openDirToGroup, socketAccess } from '../../../src/base/unix-socket.ts'
import { Manager, createApp, listen, openSqliteStore } from '../../../src/manager/index.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { ControlServer } from '../../../agent/control.ts'
import { FakeClock } from '../../support/fake-clock.ts'

const d = mkdtempSync(join(tmpdir(), 'mesh-sock-'))
const umask = process.umask(0)
t.teardown(() => {
  process.umask(umask)
  rmSync(d, { recursive: true, force: true })
})
const mode = (p: string): number => statSync(p).mode & 0o777

t.test('listenUnix: 0600 at the bind, the umask restored', async (t) => {
  const server = http.createServer()
  const p = join(d, 'a.sock')
  const listening = listenUnix(server, p)
  t.equal(mode(p), 0o600, 'already 0600 when listen() returns')
  await listening
  t.equal(process.umask(), 0, 'umask restored')
  await new Promise((r) => server.close(r))
})

t.test("the manager API's manager.sock", async (t) => {
  const store = openSqliteStore(':memory:')
  const manager = new Manager({ store, clock: new FakeClock() })
  await manager.init()
  const p = join(d, 'manager.sock')
  const listening = listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: p })
  t.equal(mode(p), 0o600, 'already 0600 before listen() resolves')
  const server = await listening
  t.equal(mode(p), 0o600)
  server.close()
  store.close()
})

t.test("the agent's control socket", async (t) => {
  const p = join(d, 'mesh.sock')
  const control = new ControlServer(p, { '/ping': () => 'pong' })
  await control.start()
  t.equal(mode(p), 0o600)
  await control.stop()
})

t.test('socketAccess: 0660 to the mesh group when /etc/group has it, else 0600', async (t) => {
  const cases = [
    { name: 'no mesh group', input: 'root:x:0:\ndocker:x:998:alice\n', want: { mode: 0o600 } },
    { name: 'mesh group', input: 'root:x:0:\nmesh:x:999:alice,bob\n', want: { mode: 0o660, gid: 999, group: 'mesh' } },
    { name: 'no members yet', input: 'mesh:x:1001:', want: { mode: 0o660, gid: 1001, group: 'mesh' } },
    { name: 'a longer name is another group', input: 'meshy:x:5:\nmymesh:x:6:\n', want: { mode: 0o600 } },
    { name: 'a gid that is not a number', input: 'mesh:x:abc:\n', want: { mode: 0o600 } },
    { name: 'a truncated line', input: 'mesh:x\n', want: { mode: 0o600 } },
    { name: 'empty file', input: '', want: { mode: 0o600 } },
  ]
  for (const c of cases) t.same(socketAccess(c.input), c.want, c.name)
  const f = join(d, 'group')
  writeFileSync(f, 'mesh:x:4242:\n')
  t.same(hostSocketAccess(f), { mode: 0o660, gid: 4242, group: 'mesh' }, 'read from a file')
  t.same(hostSocketAccess(join(d, 'no-such-file')), { mode: 0o600 }, 'no file: 0600')
})

// Root can give the socket to any group; anyone else only to a group of theirs.
const gid = process.getuid?.() === 0 ? 4242 : process.getgid?.() ?? 0

t.test('listenUnix with a group: 0600 at the bind, then owner:group 0660', async (t) => {
  const server = http.createServer()
  const p = join(d, 'g.sock')
  const listening = listenUnix(server, p, { mode: 0o660, gid, group: 'mesh' })
  t.equal(mode(p), 0o600, 'owner-only at the bind')
  t.equal(await listening, 0o660)
  t.equal(mode(p), 0o660)
  t.equal(statSync(p).gid, gid, 'the group owns it')
  t.equal(statSync(p).uid, process.getuid?.(), 'the owner is unchanged')
  t.equal(process.umask(), 0, 'umask restored')
  await new Promise((r) => server.close(r))
})

t.test("the manager API's manager.sock with the mesh group", async (t) => {
  const store = openSqliteStore(':memory:')
  const manager = new Manager({ store, clock: new FakeClock() })
  await manager.init()
  const p = join(d, 'manager-g.sock')
  const listening = listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: p, access: { mode: 0o660, gid, group: 'mesh' } })
  t.equal(mode(p), 0o600, 'owner-only before listen() resolves')
  const server = await listening
  t.equal(mode(p), 0o660)
  t.equal(statSync(p).gid, gid)
  server.close()
  store.close()
})

t.test('openDirToGroup: the data dir gets the group and g+x only', async (t) => {
  const dir = join(d, 'data')
  mkdirSync(dir)
  chmodSync(dir, 0o700)
  t.notOk(openDirToGroup(dir, { mode: 0o600 }), 'no group: unchanged')
  t.equal(mode(dir), 0o700)
  t.ok(openDirToGroup(dir, { mode: 0o660, gid, group: 'mesh' }))
  t.equal(mode(dir), 0o710, 'search only: the group cannot list it')
  t.equal(statSync(dir).gid, gid)
  t.notOk(openDirToGroup(dir, { mode: 0o660, gid, group: 'mesh' }), 'twice: nothing to do')
})

t.test("the agent's control socket with the mesh group", async (t) => {
  const p = join(d, 'mesh-g.sock')
  const control = new ControlServer(p, { '/ping': () => 'pong' }, { mode: 0o660, gid, group: 'mesh' })
  await control.start()
  t.equal(mode(p), 0o660, 'root:mesh 0660, as manager.sock')
  t.equal(statSync(p).gid, gid)
  await control.stop()
})
