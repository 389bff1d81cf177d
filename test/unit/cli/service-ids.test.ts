/**
 * `mesh service ls -q | xargs mesh service rm` against a real manager core and its HTTP API on a unix socket (no
 * agents): ls -q prints docker's 12-character IDs, rm resolves each to its service, inspect takes them too.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { runMesh } from '../../support/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'mesh-cli-ids-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({ store })
await manager.init()
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: join(dir, 'manager.sock') })
const saved = process.env.MESH_DATA_DIR
process.env.MESH_DATA_DIR = dir
t.teardown(async () => {
  if (saved === undefined) delete process.env.MESH_DATA_DIR
  else process.env.MESH_DATA_DIR = saved
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

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
