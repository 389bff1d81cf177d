/**
 * Store write latency: SqliteStore (a file) vs EtcdStore on a 1-member and a 3-member etcd (127.0.0.1, started
 * here with test/support/etcd.ts and removed at the end), and two EtcdStores (two managers) writing at once.
 *
 *   npx tsx bench/store-etcd.ts [--writes 200]
 *
 * sequential — one transact at a time, each a service put (what `mesh service create` commits), p50/p99 ms.
 * contended  — two stores on the 3-member etcd, each `writes/2` transacts in parallel batches of 10: total wall
 *              time, writes/s and fn re-runs (a commit by the other manager came first).
 * Prints the load average too: on the shared 2-core machine the numbers move with it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { defaultServiceSpec } from '../src/api/spec.ts'
import { EtcdStore } from '../src/manager/etcd-store/index.ts'
import { openSqliteStore } from '../src/manager/sqlite-store.ts'
import type { Store } from '../src/manager/store.ts'
import { startEtcd } from '../test/support/etcd.ts'

const i = process.argv.indexOf('--writes')
const WRITES = i > 0 ? Number(process.argv[i + 1]) : 200

const teardowns: (() => unknown)[] = []
const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) }

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN
const svc = (id: string) => ({ id, spec: defaultServiceSpec(id, 'nginx:1'), version: 1, createdAt: 1, updatedAt: 1 })

async function sequential(name: string, s: Store): Promise<void> {
  const ms: number[] = []
  for (let k = 0; k < WRITES; k++) {
    const t0 = performance.now()
    await s.transact((tx) => tx.putService(svc(`${name}-${k}`)))
    ms.push(performance.now() - t0)
  }
  console.log(`${name.padEnd(14)} sequential  p50 ${pct(ms, 50).toFixed(2)} ms  p99 ${pct(ms, 99).toFixed(2)} ms  (${WRITES} writes)`)
}

const etcdStore = (hosts: string[], prefix: string) => new EtcdStore(new Etcd3({ hosts }), { prefix }).open()

try {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bench-store-'))
  teardowns.push(() => rmSync(dir, { recursive: true, force: true }))
  const sqlite = openSqliteStore(join(dir, 'manager.db'))
  await sequential('sqlite', sqlite)
  sqlite.close()
  const one = await startEtcd(t, { members: 1 })
  const s1 = await etcdStore(one.clientUrls, '/b1/')
  await sequential('etcd 1 member', s1)
  s1.close()
  const three = await startEtcd(t, { members: 3 })
  const s3 = await etcdStore(three.clientUrls, '/b3/')
  await sequential('etcd 3 members', s3)
  s3.close()
  const a = await etcdStore(three.clientUrls, '/b4/')
  const b = await etcdStore(three.clientUrls, '/b4/')
  const t0 = performance.now()
  for (let k = 0; k < WRITES / 2; k += 10) {
    const batch: Promise<unknown>[] = []
    for (let j = k; j < k + 10 && j < WRITES / 2; j++) {
      batch.push(a.transact((tx) => tx.putService(svc(`a-${j}`))), b.transact((tx) => tx.putService(svc(`b-${j}`))))
    }
    await Promise.all(batch)
  }
  const wall = performance.now() - t0
  console.log(`etcd 3 members contended: ${WRITES} writes by 2 managers in ${wall.toFixed(0)} ms ` +
    `(${(WRITES / (wall / 1000)).toFixed(0)} writes/s), fn re-runs ${a.runs + b.runs - WRITES}, revision ${a.revision}`)
  a.close()
  b.close()
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
} finally {
  for (const fn of teardowns.reverse()) await fn()
}
