/**
 * Unix sockets (the manager's manager.sock, the agent's mesh.sock) exist only with their final mode: stat'ed the
 * moment the bind happens — before listen() resolves, under umask 0 — they are already 0600 (no chmod after).
 */
import t from 'tap'
import http from 'node:http'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { listenUnix } from '../../../src/base/unix-socket.ts'
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
