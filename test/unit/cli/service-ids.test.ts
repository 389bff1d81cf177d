/**
 * `mesh service ls -q | xargs mesh service rm` against a real manager core and its HTTP API on a unix socket (no
 * agents): ls -q prints docker's 12-character IDs, rm resolves each to its service, inspect takes them too.
 */
import t from 'tap'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { runMesh, serveManagerSocket } from '../../support/cli.ts'

const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
await serveManagerSocket(t, manager)
t.teardown(() => store.close?.())

const mesh = runMesh

t.test('ls -q | xargs rm', async (t) => {
  for (const name of ['web', 'api', 'db']) await manager.createService({ ...defaultServiceSpec(name, 'nginx:1'), mode: { replicated: { replicas: 0 } } })
  const ls = await mesh('service', 'ls', '-q')
  t.equal(ls.code, 0, ls.err)
  const ids = ls.out.trim().split('\n')
  t.equal(ids.length, 3)
  for (const id of ids) t.equal(id.length, 12, `${id}: docker's truncated ID`)
  const inspect = await mesh('service', 'inspect', '--format', '{{.Spec.Name}}', ...ids)
  t.same(inspect.out.trim().split('\n').sort(), ['api', 'db', 'web'], 'inspect takes the short IDs')
  const rm = await mesh('service', 'rm', ...ids)
  t.equal(rm.code, 0, rm.err)
  t.equal(rm.out, ls.out, 'each argument printed as given')
  t.same(manager.listServices(), [], 'every service removed')
  const ghost = await mesh('service', 'rm', 'ghost')
  t.equal(ghost.code, 1)
  t.equal(ghost.err, 'mesh: service "ghost" not found\n')
})
