/**
 * How long the first promote of a SQLite cluster takes, store move included (agent/store-move.ts): a SQLite manager
 * opened by the agent's own wiring (openCluster) on 127.0.0.31, holding `--services` replicated services of 3 tasks
 * each (created through the Manager, scheduled on one in-process worker) and their event history, then
 * `updateNode(w1, manager)`: freeze, snapshot, etcd start (its own free ports, a temp data dir, stopped by PID at
 * the end), load, marker, rename, reopen on etcd, and the promote on etcd. Writes are refused (503) for that long.
 *
 *   npx tsx bench/store-move.ts [--services 100]
 *
 * Prints the load average too: on the shared 2-core machine the numbers move with it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { openCluster, stopControlPlane, type ClusterParts } from '../agent/cluster.ts'
import { createLogger } from '../agent/log.ts'
import { defaultConfig } from '../src/config/index.ts'
import type { Manager } from '../src/manager/index.ts'
import { defaultServiceSpec } from '../src/api/spec.ts'
import { createNodeKeyAndCsr } from '../src/pki/index.ts'
import type { Overlay } from '../src/overlay/index.ts'
import { freePort } from '../test/support/etcd.ts'

const i = process.argv.indexOf('--services')
const SERVICES = i > 0 ? Number(process.argv[i + 1]) : 100
const ADDR = '127.0.0.31'
const resources = { nanoCpus: 64e9, memoryBytes: 2 ** 40 }

const dataDir = mkdtempSync(join(tmpdir(), 'mesh-bench-move-'))
const base = defaultConfig('local')
const config = {
  ...base, dataDir, gossip: { ...base.gossip, name: 'm1', bindAddr: ADDR, advertiseAddr: ADDR },
  cluster: { ...base.cluster, init: true, apiPort: await freePort(ADDR), etcdClientPort: await freePort(ADDR), etcdPeerPort: await freePort(ADDR) },
}
const parts: ClusterParts = { store: null, manager: null, servers: [], link: null, runner: null, dataPlane: null, init: null }
try {
  await openCluster(config, createLogger('silent'), {} as Overlay, parts, () => true)
  const m = parts.manager as Manager
  m.start()
  await m.registerSelf({ hostname: 'm1', addr: ADDR, resources }, { csr: (await createNodeKeyAndCsr()).csrPem })
  for (const h of ['w1', 'w2']) await m.join({ token: m.tokens().worker, hostname: h, addr: '127.0.0.32', resources, csr: (await createNodeKeyAndCsr()).csrPem })
  for (let k = 0; k < SERVICES; k++) await m.createService({ ...defaultServiceSpec(`s${k}`, 'nginx:1'), mode: { replicated: { replicas: 3 } } })
  await m.reconcileNow()
  await m.events.flush()
  const s = m.getState()
  const events = m.events.since().length
  const t0 = performance.now()
  await m.updateNode('w2', { role: 'manager' })
  const ms = performance.now() - t0
  const next = parts.manager as Manager
  if (next === m || next.getState().tasks.length !== s.tasks.length) throw new Error('the move lost records')
  console.log(`services ${SERVICES}  tasks ${s.tasks.length}  events ${events}  promote incl. move ${ms.toFixed(0)} ms  ` +
    `load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
} finally {
  await stopControlPlane(parts)
  rmSync(dataDir, { recursive: true, force: true })
}
