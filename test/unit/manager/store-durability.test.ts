import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DatabaseSync } from 'node:sqlite'
import t, { type Test } from 'tap'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { managerDbPath, openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import type { ServiceRecord, TaskRecord } from '../../../src/api/types.ts'
import { killAndReap, spawnProc, waitFor } from '../../support/procs.ts'

const STORE_MODULE = fileURLToPath(new URL('../../../src/manager/sqlite-store.ts', import.meta.url))

const service = (id: string): ServiceRecord => ({
  id, spec: defaultServiceSpec(id, 'nginx:1'), version: 1, createdAt: 1, updatedAt: 1,
})
const task = (id: string, serviceId: string): TaskRecord => ({
  id, serviceId, serviceName: serviceId, slot: 1, nodeId: '', specVersion: 1, spec: defaultServiceSpec(serviceId, 'nginx:1'),
  desiredState: 'running', status: { state: 'new', message: '', timestamp: 1 }, createdAt: 1, updatedAt: 1,
})

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-store-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Runs `body` (an ES module body; `openSqliteStore`, `path`, `out(line)` in scope) in a child node process. */
function child(name: string, path: string, body: string) {
  const code = `const { openSqliteStore } = await import(process.argv[1]); const path = process.argv[2];
    const out = (line) => process.stdout.write(line + '\\n');\n${body}`
  return spawnProc(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, STORE_MODULE, path], { name })
}

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8)

t.test('the database is private: file 0600 (and its WAL, shm), new directory 0700', async (t) => {
  const dataDir = join(tempDir(t), 'data')
  const path = managerDbPath(dataDir)
  const prev = process.umask(0o022)
  t.teardown(() => process.umask(prev))
  const s = openSqliteStore(path)
  s.transact((tx) => tx.setMeta('token_manager', 'secret'))
  const cases = [
    { name: 'data directory', path: dataDir, want: '700' },
    { name: 'manager.db', path, want: '600' },
    { name: 'manager.db-wal', path: `${path}-wal`, want: '600' },
    { name: 'manager.db-shm', path: `${path}-shm`, want: '600' },
  ]
  for (const c of cases) t.equal(mode(c.path), c.want, c.name)
  s.close()
  t.test('an existing world-readable file is tightened', async (t) => {
    const loose = join(tempDir(t), 'manager.db')
    writeFileSync(loose, '', { mode: 0o644 })
    openSqliteStore(loose).close()
    t.equal(mode(loose), '600')
  })
})

t.test('kill -9 after commit loses nothing committed', async (t) => {
  const path = managerDbPath(tempDir(t))
  // Each transaction adds one service and one task; the line is written only after transact() returned.
  const p = child('store writer', path, `
    const store = openSqliteStore(path)
    const svc = (id) => ({ id, spec: { name: id }, version: 1, createdAt: 1, updatedAt: 1 })
    const task = (id, serviceId) => ({ id, serviceId, nodeId: '', desiredState: 'running' })
    let i = 0
    const step = () => {
      i++
      store.transact((tx) => { tx.putService(svc('s' + i)); tx.putTask(task('t' + i, 's' + i)); tx.setMeta('last', String(i)) })
      out('committed ' + store.revision)
      setImmediate(step)
    }
    step()`)
  t.teardown(() => killAndReap(p))
  const acked = (): number => Math.max(0, ...[...p.stdout().matchAll(/committed (\d+)/g)].map((m) => Number(m[1])))
  await waitFor(() => acked() >= 300 || (!p.running() && Promise.reject(new Error(p.tail()))), 30_000,
    { intervalMs: 10, what: '300 commits' })
  const exit = await killAndReap(p)
  t.equal(exit.signal, 'SIGKILL', 'killed mid-stream')
  const last = acked()
  t.ok(existsSync(`${path}-wal`), 'the WAL was left behind, not checkpointed')
  const s = openSqliteStore(path)
  t.teardown(() => s.close())
  const rev = s.revision
  t.ok(rev >= last && rev <= last + 1, `revision ${rev} holds every acknowledged commit (${last}) and at most one more`)
  const services = s.listServices()
  t.equal(services.length, rev, 'one service per committed revision')
  t.equal(s.listTasks().length, rev, 'and its task: no transaction was half-applied')
  t.ok(s.getService(`s${last}`), 'the last acknowledged service is there')
  t.equal(s.getMeta('last'), String(rev))
  const raw = new DatabaseSync(path, { readOnly: true })
  t.equal(raw.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok', 'integrity_check ok')
  raw.close()
})

t.test('WAL: readers run during a write and see only committed transactions', async (t) => {
  const path = managerDbPath(tempDir(t))
  const writer = openSqliteStore(path, { busyTimeoutMs: 200 })
  t.teardown(() => writer.close())
  writer.transact((tx) => tx.putService(service('s0')))

  t.test('a long read transaction does not block a commit', async (t) => {
    const reader = new DatabaseSync(path, { readOnly: true })
    t.teardown(() => reader.close())
    const stmt = reader.prepare('SELECT count(*) AS n FROM services')
    const count = (): number => Number(stmt.get()?.n)
    reader.exec('BEGIN')
    const before = count()
    writer.transact((tx) => tx.putService(service('s1')))
    t.equal(count(), before, 'the open read keeps its snapshot')
    reader.exec('COMMIT')
    t.equal(count(), (before as number) + 1, 'a new read sees the commit')
  })

  t.test('another store reads while a transaction is open', async (t) => {
    const other = openSqliteStore(path)
    t.teardown(() => other.close())
    writer.transact((tx) => {
      tx.putService(service('s2'))
      t.equal(other.getService('s2'), undefined, 'uncommitted write is invisible')
      t.ok(other.getService('s1'), 'committed data reads fine')
    })
    t.ok(other.getService('s2'), 'visible after commit')
    t.equal(other.revision, writer.revision)
  })

  t.test('a reader process polling during 2000 commits never sees half a transaction', async (t) => {
    // Services s0..s2 have no tasks yet: two tasks make tasks = services - 1, which every later commit keeps.
    writer.transact((tx) => { for (let i = 0; i < 2; i++) tx.putTask(task(`pre${i}`, 's0')) })
    const reader = child('store reader', path, `
      const { DatabaseSync } = await import('node:sqlite')
      const db = new DatabaseSync(path, { readOnly: true })
      const q = db.prepare('SELECT (SELECT count(*) FROM services) AS s, (SELECT count(*) FROM tasks) AS t')
      out('ready')
      let reads = 0, torn = 0, last = 0, backwards = 0
      const deadline = Date.now() + 20000
      while (Date.now() < deadline) {
        const r = q.get(); reads++
        if (r.t !== r.s - 1) torn++
        if (r.s < last) backwards++
        last = r.s
        if (r.s >= 2003) break
      }
      out(JSON.stringify({ reads, torn, backwards, last }))`)
    t.teardown(() => killAndReap(reader))
    await waitFor(() => reader.stdout().includes('ready') || (!reader.running() && Promise.reject(new Error(reader.tail()))),
      30_000, { intervalMs: 10, what: 'reader ready' })
    for (let i = 3; i < 2003; i++) {
      writer.transact((tx) => { tx.putService(service(`s${i}`)); tx.putTask(task(`t${i}`, `s${i}`)) })
      if (i % 100 === 0) await new Promise((r) => setImmediate(r))
    }
    const exit = await reader.exited
    t.equal(exit.code, 0, reader.tail())
    const result = JSON.parse(reader.stdout().trim().split('\n').at(-1) as string)
    t.equal(result.torn, 0, `no read saw a service without its task (${result.reads} reads)`)
    t.equal(result.backwards, 0, 'counts never went backwards')
    t.equal(result.last, 2003, 'the reader saw the final commit')
  })
})
