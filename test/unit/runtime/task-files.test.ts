/**
 * A node's secret and config files (src/runtime/task-files.ts) on a fake tmpfs in a temp dir: values in memory only,
 * per task a dir of its own (0700) holding one file per reference with its mode and owner, binds at their targets;
 * a value not delivered is named (never shown); prune removes what no live task keeps; the data dir stays clean.
 */
import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TaskFiles } from '../../../src/runtime/index.ts'
import { FakeTmpfs } from './fake-tmpfs.ts'
import type { FileReference } from '../../../src/api/index.ts'
import { task } from './fixtures.ts'

const ref = (o: Partial<FileReference>): FileReference => ({ id: 's1', name: 'db', target: 'db', uid: String(process.getuid?.() ?? 0), gid: String(process.getgid?.() ?? 0), mode: 0o444, ...o })
const b64 = (s: string) => Buffer.from(s).toString('base64')
const VALUE = 'correct horse battery staple'

function setup(t: Test) {
  const root = mkdtempSync(join(tmpdir(), 'mesh-files-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dataDir = join(root, 'data')
  mkdirSync(dataDir)
  const tmpfs = new FakeTmpfs()
  const files = new TaskFiles({ runDir: join(root, 'run'), dataDir, tmpfs })
  return { root, dataDir, tmpfs, files }
}

t.test('prepare: a tmpfs per task, files with mode and owner, read-only binds at the targets', async (t) => {
  const { root, dataDir, tmpfs, files } = setup(t)
  const tk = task({ id: 't1', spec: { secrets: [ref({}), ref({ id: 's1', target: '/etc/pw', mode: 0o400 })], configs: [ref({ id: 'c1', name: 'app', target: '/app.conf' })] } })
  t.equal(files.missing(tk), 'secret "db" has not reached this node yet')
  await t.rejects(files.prepare(tk), { code: 'MESH_ERR_TASK_FILES', message: 'secret "db" has not reached this node yet' })
  files.setValues('secrets', [{ id: 's1', data: b64(VALUE) }])
  t.equal(files.missing(tk), 'config "app" has not reached this node yet')
  files.setValues('configs', [{ id: 'c1', data: b64('port: 80') }])
  t.equal(files.missing(tk), null)

  const binds = await files.prepare(tk)
  const dir = join(root, 'run', 'tasks', 't1')
  t.same(binds.map((b) => b.target), ['/run/secrets/db', '/etc/pw', '/app.conf'])
  t.ok(binds.every((b) => b.source.startsWith(`${dir}/`)), 'every file in the task\'s own dir')
  t.ok(tmpfs.mounted.has(dir), 'which is a tmpfs')
  t.equal(statSync(dir).mode & 0o777, 0o700, 'dir 0700')
  t.same(binds.map((b) => statSync(b.source).mode & 0o777), [0o444, 0o400, 0o444], 'each file with its reference\'s mode')
  t.same(binds.map((b) => readFileSync(b.source, 'utf8')), [VALUE, VALUE, 'port: 80'])
  t.equal(statSync(binds[0]?.source as string).uid, process.getuid?.() ?? 0, 'and its uid')
  t.notOk(binds.some((b) => b.source.includes(VALUE)), 'paths never carry a value')

  await files.prepare(tk)
  t.same(tmpfs.calls, [`mount ${dir}`], 'prepared again (a retry): mounted once')
  t.same(readdirSync(dataDir), [], 'nothing in the data dir')
})

t.test('prune: every task dir not kept is unmounted and removed; stray names are left alone', async (t) => {
  const { root, tmpfs, files } = setup(t)
  files.setValues('secrets', [{ id: 's1', data: b64(VALUE) }])
  for (const id of ['keep', 'gone']) await files.prepare(task({ id, spec: { secrets: [ref({})] } }))
  mkdirSync(join(root, 'run', 'tasks', 'stale-from-before'))
  writeFileSync(join(root, 'run', 'tasks', '.hidden'), 'x')
  t.same((await files.prune(new Set(['keep']))).sort(), ['gone', 'stale-from-before'])
  t.same(readdirSync(join(root, 'run', 'tasks')).sort(), ['.hidden', 'keep'])
  t.same([...tmpfs.mounted.keys()], [join(root, 'run', 'tasks', 'keep')], 'the removed task\'s tmpfs unmounted')
  t.same(await files.prune(new Set(['keep'])), [], 'nothing more to do')
})

t.test('a value dropped by the manager is no longer available; a run dir inside the data dir is refused', async (t) => {
  const { root, dataDir, files } = setup(t)
  files.setValues('secrets', [{ id: 's1', data: b64(VALUE) }])
  files.setValues('secrets', [])
  t.equal(files.missing(task({ id: 't', spec: { secrets: [ref({})] } })), 'secret "db" has not reached this node yet')
  t.throws(() => new TaskFiles({ runDir: join(dataDir, 'run'), dataDir, tmpfs: new FakeTmpfs() }), { code: 'MESH_ERR_CONFIG', message: /must lie outside the data dir/ })
  t.throws(() => new TaskFiles({ runDir: root, dataDir, tmpfs: new FakeTmpfs() }), { code: 'MESH_ERR_CONFIG' }, 'nor around it')
  t.same(await files.prepare(task({ id: 'plain' })), [], 'a task with no references gets nothing')
})
