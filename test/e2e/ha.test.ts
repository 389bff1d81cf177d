/**
 * End-to-end: manager high availability on etcd (issue 15) on 3 managers (node1 `--init --store etcd`, node2 and
 * node3 joined with the manager token) and 2 workers, as users see it:
 *  - Jepsen-style: ~30 writes (service create / scale / update / rm) from an admin CLI that names the three managers
 *    in a different order for each write; midway the leading manager's agent and its etcd member are killed -9.
 *    Every acknowledged write is in the final state, none applied twice, one running task per slot, no container
 *    left of a removed service, and a service created afterwards converges.
 *  - 2 of 3 managers down: a write through the survivor is refused with the quorum line, a read carries the stale
 *    warning, a published port serves with no failed request through the episode; writes come back with them.
 *  - promote a worker to manager and demote it back under a request loop through its published port: 0 failed.
 *  - the event history survives a manager restart (`mesh events --since`).
 *  - `mesh ca rotate`: every manager's etcd member gets a certificate of the new root while it runs; after a restart
 *    of each manager's agent (docs/operations.md), a member certificate of the old root is refused; writes work.
 * Longer episodes (a partition, a 200-write soak, timings) are sections of bench/ha-failover.ts. Addresses: only the lab's
 * own namespaces; every process is killed by PID.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { isRoot, type LabNode } from '../lab/index.ts'
import { issuedBy, pemCertificates } from '../../src/pki/index.ts'
import { MESH_BIN, waitFor } from '../support/procs.ts'
import { meshLab } from '../support/mesh-lab.ts'
import { AdminCli, IMAGE, killManager, leaderName, observe, restartManager, SLEEP } from './ha/cluster.ts'
import { checkHistory, History, opArgs, workload } from './ha/history.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(900_000)

const started = Date.now()
const c = await meshLab(t, { nodes: 5, managers: 3, managerArgs: ['--store', 'etcd'] })
t.teardown(() => console.log(`# ha.test.ts: ${((Date.now() - started) / 1000).toFixed(1)} s wall time (lab up in ${(c.lab.upMs / 1000).toFixed(1)} s)`))
const admin = await AdminCli.issue(c)
const [m1, m2, m3] = c.managers as [LabNode, LabNode, LabNode]
const [w1] = c.workers as [LabNode, LabNode]
const JEPSEN = /^j\d+$/
const lastLine = (s: string): string => s.trim().split('\n').at(-1) ?? ''

t.test('node ls on every manager: three managers, one Leader', async (t) => {
  for (const m of c.managers) {
    const r = await c.mesh(['node', 'ls'], 30_000, m)
    t.equal(r.code, 0, r.stderr.trim())
    t.equal(r.stdout.match(/\bLeader\b/g)?.length, 1, `${m.name}: one Leader`)
    t.equal(r.stdout.match(/\bReachable\b/g)?.length, 2, `${m.name}: two Reachable`)
  }
})

t.test('Jepsen: 30 writes through different managers, the leader killed -9 midway', async (t) => {
  const leader = await leaderName(c, m1)
  const victim = c.managers.find((n) => n.name === leader)
  if (!victim) return t.fail(`no leader in node ls (${leader})`)
  const h = new History()
  const ops = workload('j', 6, 30)
  const KILL_AT = 10
  let killing: Promise<void> | undefined
  for (const [i, spec] of ops.entries()) {
    // The kill runs while op KILL_AT is in flight and the next ones are sent.
    if (i === KILL_AT) killing = killManager(c, victim)
    const t0 = Date.now()
    const r = await admin.run(opArgs(spec, IMAGE, SLEEP), i % 3)
    h.record(spec, (c.managers[i % 3] as LabNode).name, r.code === 0, r.code === 0 ? '' : lastLine(r.stderr), t0, Date.now())
  }
  await killing
  const restarted = restartManager(c, victim) // meanwhile: the cluster runs on 2 managers
  for (const o of h.ops) if (!o.ok) t.comment(`op ${o.i} ${o.kind} ${o.service} via ${o.via}: ${o.err}`)
  t.comment(`${h.acknowledged} acknowledged, ${h.failed} failed; killed ${victim.name} (leader) at op ${KILL_AT}`)
  t.ok(h.ops.slice(KILL_AT + 3).some((o) => o.ok), 'writes are acknowledged again after the leader died (2 of 3 managers)')

  const after = await admin.run(['service', 'create', '--no-resolve-image', '--name', 'after', '--replicas', '2', '--update-monitor', '1s', IMAGE, ...SLEEP], 1, 180_000)
  t.equal(after.code, 0, `a service created after the kill converges (${lastLine(after.stderr)})`)
  const tasks = JSON.parse((await admin.run(['service', 'ps', 'after', '--json'], 2)).stdout || '[]') as { desiredState: string; status: { state: string } }[]
  t.equal(tasks.filter((x) => x.desiredState === 'running' && x.status.state === 'running').length, 2, 'after: 2 running tasks')
  await restarted
  let problems: string[] = ['not observed yet']
  await waitFor(async () => {
    const s = await observe(c, (args) => admin.run(args, 0))
    problems = checkHistory(h.ops, s.services.filter((x) => JEPSEN.test(x.name)), s.tasks, s.containers.filter((x) => JEPSEN.test(x.name.split('.')[0] ?? '')))
    return problems.length === 0
  }, 150_000, { intervalMs: 2000, what: 'the final state consistent with the history' }).catch(() => undefined)
  t.same(problems, [], 'every acknowledged write present, none twice, one running task per slot, no orphan')
})

t.test('2 of 3 managers down: writes refused with the quorum line, stale reads, the published port serves', async (t) => {
  const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']
  const r = await admin.run(['service', 'create', '--no-resolve-image', '--name', 'web', '--replicas', '2', '--constraint', 'node.role==worker', '--update-monitor', '1s', '-p', '8080:80', IMAGE, ...WEB], 0, 180_000)
  t.equal(r.code, 0, `web converges (${lastLine(r.stderr)})`)
  await waitFor(async () => (await c.fetchLoop(w1.ip, 8080, 3)).every((x) => x.body.startsWith('web.')), 30_000, { intervalMs: 500, what: 'web through node4' })
  const stop = join(c.lab.stateDir, 'ha-stop-loop')
  const loop = c.fetchLoop(w1.ip, 8080, 5000, 0.1, 300, stop)

  await Promise.all([killManager(c, m2), killManager(c, m3)])
  const refused = await waitFor(async () => {
    const w = await c.mesh(['service', 'scale', '-d', 'web=3'], 90_000, m1)
    t.not(w.code, 0, `the write is not acknowledged (${lastLine(w.stderr)})`)
    return w.stderr.includes('1 of 3 managers reachable') ? w : null
  }, 120_000, { intervalMs: 1000, what: 'the quorum refusal' })
  t.equal(lastLine(refused.stderr), 'mesh: no quorum: 1 of 3 managers reachable', 'a write through the survivor: the quorum line')
  const read = await c.mesh(['service', 'ls'], 60_000, m1)
  t.equal(read.code, 0, 'a read is answered')
  t.match(read.stdout, /\bweb\b/, 'from the last view')
  t.match(read.stderr, /^warning: no quorum: this answer may be stale$/m, 'with the stale warning')

  await Promise.all([restartManager(c, m2), restartManager(c, m3)])
  const back = await waitFor(async () => (await c.mesh(['service', 'scale', '-d', 'web=2'], 60_000, m1)).code === 0, 120_000, { intervalMs: 1000, what: 'a write accepted again' }).catch(() => false)
  t.ok(back, 'with the managers back, a write through the survivor is accepted')
  const fresh = await c.mesh(['service', 'ls'], 60_000, m1)
  t.notMatch(fresh.stderr, /stale/, 'reads are no longer stale')
  writeFileSync(stop, '')
  const got = await loop
  t.ok(got.length > 20, `requests through the whole episode (${got.length})`)
  t.equal(got.filter((x) => !x.body.startsWith('web.')).length, 0, 'no failed request on the published port')
})

t.test('promote a worker to manager and demote it back under a request loop: 0 failed requests', async (t) => {
  const w2 = c.workers[1] as LabNode
  const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']
  // A global service: promoting a node changes no placement, so every answer is the promote's own doing.
  const r = await admin.run(['service', 'create', '--no-resolve-image', '--name', 'pw', '--mode', 'global', '--update-monitor', '1s', '-p', '8081:80', IMAGE, ...WEB], 0, 180_000)
  t.equal(r.code, 0, `pw converges (${lastLine(r.stderr)})`)
  await waitFor(async () => (await c.fetchLoop(w2.ip, 8081, 3)).every((x) => x.body.startsWith('pw.')), 30_000, { intervalMs: 500, what: 'pw through node5' })
  const stop = join(c.lab.stateDir, 'ha-stop-promote-loop')
  const loop = c.fetchLoop(w2.ip, 8081, 5000, 0.1, 300, stop) // through the node being promoted and demoted

  const p = await c.mesh(['node', 'promote', w2.name], 120_000, m1)
  t.same([p.code, p.stdout], [0, `Node ${w2.name} promoted to a manager in the swarm.\n`], `docker's line (${lastLine(p.stderr)})`)
  // Its running agent starts its etcd member and its manager: its own manager.sock answers, node ls shows it Reachable.
  const served = await waitFor(async () => {
    const ls = await c.mesh(['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}'], 30_000, w2)
    return ls.code === 0 && new RegExp(`^${w2.name} (Reachable|Leader)$`, 'm').test(ls.stdout) ? ls : null
  }, 180_000, { intervalMs: 1000, what: `${w2.name}'s own manager answering` }).catch(() => null)
  t.ok(served, `${w2.name} runs a manager without a restart and lists itself Reachable`)

  const d = await c.mesh(['node', 'demote', w2.name], 120_000, m1)
  t.same([d.code, d.stdout], [0, `Manager ${w2.name} demoted in the swarm.\n`], `docker's line (${lastLine(d.stderr)})`)
  const retired = await waitFor(async () => (await c.mesh(['node', 'ls'], 10_000, w2)).code !== 0, 120_000, { intervalMs: 1000, what: `${w2.name}'s manager retired` }).catch(() => false)
  t.ok(retired, `${w2.name}'s manager.sock is gone: it is a worker again`)
  const ls = await c.mesh(['node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}'], 30_000, m1)
  t.match(ls.stdout, new RegExp(`^${w2.name} $`, 'm'), `node ls: ${w2.name} has no manager status`)
  // The loop goes on through the demoted node for 15 s more (a fast promote and demote left it 14 requests in a CI run).
  await new Promise((r) => setTimeout(r, 15_000))
  writeFileSync(stop, '')
  const got = await loop
  t.ok(got.length > 20, `requests through promote and demote (${got.length})`)
  t.equal(got.filter((x) => !x.body.startsWith('pw.')).length, 0, 'no failed request through the promoted node\'s published port')
})

t.test('the event history survives a manager restart', async (t) => {
  // node2 was restarted in the previous test: it answers with events from before its restart.
  const r = await m2.exec(['timeout', '-s', 'INT', '10', 'env', `MESH_DATA_DIR=${c.dataDir(m2)}`, 'node', MESH_BIN, 'events', '--since', '1h', '--filter', 'type=service', '--filter', 'service=j0'], { timeoutMs: 30_000 })
  t.match(r.stdout, /service create j0\b/, `node2 replays j0's creation (${lastLine(r.stderr)})`)
})

t.test('mesh ca rotate on managers on etcd: new member certificates at once; after a restart of each manager, the old root is refused', async (t) => {
  const tlsDir = (n: LabNode): string => join(c.dataDir(n), 'etcd-tls')
  const old = join(c.lab.stateDir, 'ha-old-member-tls')
  mkdirSync(old, { recursive: true })
  for (const f of ['member.pem', 'member-key.pem']) copyFileSync(join(tlsDir(m1), f), join(old, f))
  // etcd's /health on its client port, with a client certificate (curl from inside the manager's namespace).
  const health = async (n: LabNode, dir: string, caDir: string): Promise<boolean> => {
    const r = await n.exec(['curl', '-sS', '--max-time', '5', '--cacert', join(caDir, 'ca.pem'), '--cert', join(dir, 'member.pem'), '--key', join(dir, 'member-key.pem'), `https://${n.ip}:2379/health`], { timeoutMs: 15_000 })
    return r.code === 0 && r.stdout.includes('"health":"true"')
  }
  t.ok(await health(m1, old, tlsDir(m1)), 'before: node1\'s member certificate is accepted')

  const r = await c.mesh(['ca', 'rotate', '--timeout', '3m'], 240_000, m1)
  t.equal(r.code, 0, `mesh ca rotate finishes (${lastLine(r.stderr)})`)
  t.match(r.stdout, /rotated: \d+\/\d+ nodes renewed; the old root is no longer trusted\./)
  t.notMatch(r.stdout, /not answering/, 'the manager answered throughout')
  const newRoot = await waitFor(() => {
    const roots = pemCertificates(readFileSync(join(c.dataDir(m1), 'tls', 'ca.pem'), 'utf8'))
    return roots.length === 1 ? roots[0] : null
  }, 60_000, { intervalMs: 1000, what: 'node1 trusting only the new root' })
  // Every manager's keeper wrote a member certificate of the new root and the new roots file, etcd still running.
  for (const m of c.managers) {
    const done = await waitFor(async () => {
      const roots = pemCertificates(readFileSync(join(tlsDir(m), 'ca.pem'), 'utf8'))
      return roots.length === 1 && roots[0] === newRoot && (await issuedBy(readFileSync(join(tlsDir(m), 'member.pem'), 'utf8'), newRoot))
    }, 60_000, { intervalMs: 1000, what: `${m.name}'s member files of the new root` }).then(() => true, () => false)
    t.ok(done, `${m.name}: member certificate of the new root, roots file with only the new root`)
    t.ok(await health(m, tlsDir(m), tlsDir(m)), `${m.name}: its running etcd accepts its new certificate`)
  }
  // What docs/operations.md asks after a rotation: restart each manager's agent, one at a time.
  for (const m of c.managers) {
    await killManager(c, m)
    await restartManager(c, m, 180_000)
    const refused = await waitFor(async () => !(await health(m, old, tlsDir(m))) && (await health(m, tlsDir(m), tlsDir(m))), 120_000, { intervalMs: 2000, what: `${m.name}'s etcd refusing the old root` }).then(() => true, () => false)
    t.ok(refused, `${m.name} restarted: a member certificate of the old root is refused, its own accepted`)
  }
  // Through node1's manager.sock: the admin bundle issued before the rotation trusts only the old root.
  const w = await c.mesh(['service', 'create', '--no-resolve-image', '--name', 'after-ca', '--replicas', '2', IMAGE, ...SLEEP], 180_000, m1)
  t.equal(w.code, 0, `a service created after the restarts converges (${lastLine(w.stderr)})`)
  const ls = await c.mesh(['node', 'ls'], 30_000, m1)
  t.equal(ls.stdout.match(/\bLeader\b/g)?.length, 1, 'one Leader')
})
