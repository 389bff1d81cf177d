/**
 * `mesh leave [--force]` in the agent (agent/leave.ts): who may leave, the order of the steps, and that the data dir
 * holds no cluster state afterwards (file names written literally here, so a state file the leave forgets fails).
 */
import t, { type Test } from 'tap'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LeaveGate, LeaveRefusedError, MANAGER_REFUSAL, leaveCluster, type LeavingNode } from '../../../agent/leave.ts'

/** A data dir as a cluster node leaves it: its identity, certificates, keyring, caches, lease, and what is not cluster state. */
function dataDir(t: Test, manager: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-leave-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'tls'))
  for (const f of ['ca.pem', 'node.pem', 'node.key']) writeFileSync(join(dir, 'tls', f), 'x')
  const files = ['node.json', 'gossip-keys.json', 'catalog.json', 'peers.json', 'overlay-peers.json', 'overlay.json', 'wireguard.key', 'wireguard-go.log']
  if (manager) files.push('manager.db', 'manager.db-wal', 'manager.db-shm')
  for (const f of files) writeFileSync(join(dir, f), '{}')
  return dir
}

const KEPT = ['wireguard-go.log', 'wireguard.key']

function node(t: Test, o: { manager?: boolean; inCluster?: boolean; tell?: () => Promise<void>; failStep?: string } = {}) {
  const calls: string[] = []
  const warnings: string[] = []
  const step = (name: string) => async () => {
    calls.push(name)
    if (o.failStep === name) throw new Error(`${name} broke`)
  }
  const n: LeavingNode = {
    dataDir: dataDir(t, o.manager ?? false), isManager: o.manager ?? false, inCluster: o.inCluster ?? true,
    tellManager: async () => {
      calls.push('tell manager')
      await o.tell?.()
    },
    stopTasks: step('stop tasks'), gossipLeave: step('gossip leave'), overlayDown: step('overlay teardown'),
    log: (level, msg) => { if (level !== 'info') warnings.push(msg) },
  }
  return { n, calls, warnings, files: () => readdirSync(n.dataDir).sort() }
}

const unreachable = async () => { throw new Error('cannot reach the manager at 10.0.0.1:7947: ECONNREFUSED') }

t.test('a worker leaves: the manager first, then tasks, gossip, overlay; no cluster state is left', async (t) => {
  const w = node(t)
  const r = await leaveCluster(w.n, false)
  t.same(w.calls, ['tell manager', 'stop tasks', 'gossip leave', 'overlay teardown'])
  t.same(r.warnings, [])
  t.same(w.files(), KEPT, 'node.json, tls/, the keyring, catalog, peers and lease are gone; the WireGuard key and logs stay')
})

t.test('refusals change nothing', async (t) => {
  const cases = [
    { name: 'not in a cluster', o: { inCluster: false }, force: true, want: 'this node is not part of a cluster', calls: [] },
    { name: 'a manager without --force', o: { manager: true }, force: false, want: MANAGER_REFUSAL, calls: [] },
    {
      name: 'a worker whose manager is unreachable, without --force', o: { tell: unreachable }, force: false, calls: ['tell manager'],
      want: 'cannot tell the manager that this node leaves: cannot reach the manager at 10.0.0.1:7947: ECONNREFUSED (use --force to leave anyway)',
    },
  ]
  for (const c of cases) {
    const w = node(t, c.o)
    const before = w.files()
    await t.rejects(leaveCluster(w.n, c.force), new LeaveRefusedError(c.want), c.name)
    t.same(w.calls, c.calls, `${c.name}: no step ran`)
    t.same(w.files(), before, `${c.name}: the data dir is untouched`)
  }
  t.equal(MANAGER_REFUSAL, "this node is a manager: leaving removes the cluster's only manager and its state (use --force to leave anyway)")
})

t.test('--force: a manager leaves without asking anyone and removes its store', async (t) => {
  const m = node(t, { manager: true })
  const r = await leaveCluster(m.n, true)
  t.same(m.calls, ['stop tasks', 'gossip leave', 'overlay teardown'], 'no manager to tell: it is the manager')
  t.same(r.warnings, [])
  t.same(m.files(), KEPT, 'manager.db and its WAL are gone too')
})

t.test('--force: a worker whose manager is unreachable leaves locally, with a warning', async (t) => {
  const w = node(t, { tell: unreachable })
  const r = await leaveCluster(w.n, true)
  t.same(w.calls, ['tell manager', 'stop tasks', 'gossip leave', 'overlay teardown'])
  t.same(r.warnings, ['the manager was not told (cannot reach the manager at 10.0.0.1:7947: ECONNREFUSED): it shows this node Down until mesh node rm there'])
  t.same(w.files(), KEPT)
})

t.test('a step that fails after the point of no return is reported, and the leave goes on', async (t) => {
  const w = node(t, { failStep: 'gossip leave' })
  const r = await leaveCluster(w.n, false)
  t.same(w.calls, ['tell manager', 'stop tasks', 'gossip leave', 'overlay teardown'])
  t.same(r.warnings, ['gossip leave failed: gossip leave broke'])
  t.same(w.warnings, ['leave: gossip leave failed'])
  t.same(w.files(), KEPT, 'the cluster is still forgotten')
})

t.test('LeaveGate: one leave at a time; a refused one may be asked again; after a leave, or a stop, none', async (t) => {
  const gate = new LeaveGate()
  const afters: string[] = []
  const route = gate.route(() => afters.push('left'))
  const call = (force: boolean) => {
    const hooks: (() => void)[] = []
    const p = Promise.resolve(route(new URLSearchParams(force ? 'force=1' : ''), { afterReply: (fn) => hooks.push(fn) }))
    return { p, replied: () => { for (const h of hooks) h() } }
  }
  await t.rejects(call(false).p, { code: 'MESH_ERR_LEAVE_REFUSED', message: 'the agent is still starting; try again in a moment' }, 'not armed yet')

  let release = (): void => undefined
  const forces: boolean[] = []
  gate.arm(async (force) => {
    forces.push(force)
    if (!force) throw new LeaveRefusedError(MANAGER_REFUSAL)
    await new Promise<void>((r) => { release = r })
    return { message: 'Node left the swarm.' }
  })
  await t.rejects(call(false).p, { message: MANAGER_REFUSAL }, 'refused: nothing changed')
  const first = call(true)
  await new Promise((r) => setImmediate(r))
  t.ok(gate.leaving, 'a leave is in flight')
  await t.rejects(call(true).p, { message: 'the agent is already stopping or leaving' }, 'a second one meanwhile is refused')
  release()
  t.same(await first.p, { message: 'Node left the swarm.' })
  t.same(forces, [false, true], 'the refused leave could be asked again, with --force')
  t.same(afters, [], 'the agent stops only once the answer is written')
  first.replied()
  t.same(afters, ['left'])
  await t.rejects(call(true).p, { message: 'the agent is already stopping or leaving' }, 'after a leave, no other')

  const stopped = new LeaveGate()
  stopped.close()
  stopped.arm(async () => ({}))
  await t.rejects(Promise.resolve(stopped.route(() => undefined)(new URLSearchParams(), { afterReply: () => undefined })),
    { message: 'the agent is already stopping or leaving' }, 'a stopping agent is never armed again')
})
