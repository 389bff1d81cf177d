/**
 * End-to-end: the seed lab's shape — 1 manager + 3 workers, each a lab host with its own dockerd — driven with the
 * `mesh` CLI as a user would: init, join with the token, service create/scale/rm, drain, node death, bad input.
 * Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import { join } from 'node:path'
import { isRoot, type LabNode } from '../lab/index.ts'
import { MESH_BIN, killAndReap, waitFor, type Proc } from '../support/procs.ts'
import { meshLab, type Node, type Task } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(600_000)

const c = await meshLab(t, { nodes: 4 })
const { lab, token, nodeName } = c
const [mgr, w1, w2, w3] = lab.nodes as [LabNode, LabNode, LabNode, LabNode]
const agents = c.agents
const mesh = c.mesh.bind(c)
const json = c.json.bind(c)
const nodes = await json<Node[]>(['node', 'ls'])
const running = (tasks: Task[]) => tasks.filter((x) => x.desiredState === 'running' && x.status.state === 'running')

t.test('init and join: node ls shows the manager and three workers', async (t) => {
  t.match(token, /^MESHTKN-2-[0-9a-f]{64}-[0-9a-f]{32}$/, 'the token pins the cluster CA (sha256) and carries a secret')
  t.same(nodes.map((n) => n.hostname).sort(), ['node1', 'node2', 'node3', 'node4'])
  const r = await mesh(['node', 'ls'])
  t.match(r.stdout, /node1\s+Ready\s+Active\s+Manager/)
  t.match(r.stdout, /node2\s+Ready\s+Active\s+Worker/)
})

t.test('service create --replicas 3 runs three tasks on three nodes, reachable over the overlay', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '3', '-p', '8080:80', 'mesh/busybox:latest',
    'sh', '-c', 'hostname > /i.html && exec httpd -f -p 80 -h / -c /dev/null'], 180_000)
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  t.match(r.stdout, /overall progress: 3 out of 3 tasks/)
  const tasks = running(await json<Task[]>(['service', 'ps', 'web']))
  t.equal(tasks.length, 3)
  t.same(tasks.map((x) => nodeName.get(x.nodeId)).sort(), ['node2', 'node3', 'node4'], 'one task on each worker')
  const ips = tasks.map((x) => x.ip).filter(Boolean) as string[]
  t.equal(ips.length, 3, 'every task reports its overlay IP')
  const got = await w1.docker(['run', '--rm', '--network', 'mesh', 'mesh/busybox:latest', 'sh', '-c',
    ips.map((ip) => `timeout 5 wget -qO- http://${ip}/i.html`).join(' && ')], { timeoutMs: 60_000 })
  t.equal(got.stdout.trim().split('\n').length, 3, `each task answers from node2 over the overlay (${got.stderr.trim()})`)
})

t.test('scale web=6: six running, spread over the nodes', async (t) => {
  const r = await mesh(['service', 'scale', 'web=6'], 180_000)
  t.equal(r.code, 0, r.stderr.trim())
  const tasks = running(await json<Task[]>(['service', 'ps', 'web']))
  t.equal(tasks.length, 6)
  const per = new Map<string, number>()
  for (const x of tasks) per.set(x.nodeId, (per.get(x.nodeId) ?? 0) + 1)
  t.ok([...per.values()].every((c) => c <= 2), `no node has more than two: ${JSON.stringify(Object.fromEntries([...per].map(([k, v]) => [nodeName.get(k), v])))}`)
})

t.test('draining a node moves its tasks', async (t) => {
  const target = nodes.find((n) => n.hostname === w1.name) as Node
  t.equal((await mesh(['node', 'update', '--availability', 'drain', w1.name])).code, 0)
  const moved = await waitFor(async () => {
    const tasks = running(await json<Task[]>(['service', 'ps', 'web']))
    return tasks.length === 6 && tasks.every((x) => x.nodeId !== target.id) ? tasks : null
  }, 90_000, { intervalMs: 1000, what: 'six tasks off the drained node' })
  t.equal(moved.length, 6)
  // Their containers stop within the stop grace period (busybox ignores SIGTERM: 10 s).
  const left = await waitFor(async () => {
    const r = await w1.docker(['ps', '-aq', '--filter', 'label=mesh.managed=true'])
    return r.stdout.trim() === '' ? r : null
  }, 60_000, { intervalMs: 1000, what: 'no task container on the drained node' })
  t.equal(left.stdout.trim(), '', 'no task container left on the drained node')
  await mesh(['node', 'update', '--availability', 'active', w1.name])
})

t.test('a dead worker\'s tasks run elsewhere', async (t) => {
  const victim = nodes.find((n) => n.hostname === w3.name) as Node
  const before = running(await json<Task[]>(['service', 'ps', 'web'])).filter((x) => x.nodeId === victim.id).length
  t.ok(before > 0, `${w3.name} runs ${before} task(s)`)
  await killAndReap(agents.get(w3.name) as Proc)
  await lab.killNode(w3)
  const tasks = await waitFor(async () => {
    const r = running(await json<Task[]>(['service', 'ps', 'web']))
    return r.length === 6 && r.every((x) => x.nodeId !== victim.id) ? r : null
  }, 60_000, { intervalMs: 1000, what: 'six tasks running without node4' })
  t.equal(tasks.length, 6)
})

t.test('bad input is refused with one clear line and changes nothing', async (t) => {
  const cases = [
    { args: ['service', 'scale', 'web=-1'], re: /^mesh: service "web": replicas must be ≥ 0$/ },
    { args: ['service', 'create', '--name', 'x', '-p', '80:', 'mesh/busybox:latest'], re: /^mesh: port spec "80:": the target port is missing$/ },
    { args: ['service', 'create', '--name', 'web', 'mesh/busybox:latest'], re: /^mesh: service "web" already exists$/ },
    { args: ['service', 'create', '--name', 'y', '--constraint', 'node.colour==red', 'mesh/busybox:latest'], re: /^mesh: .*node\.colour/ },
    { args: ['service', 'create', '--name', 'z', '-p', '8080:80', 'mesh/busybox:latest'], re: /^mesh: port 8080\/tcp is already published by service "web"$/ },
  ]
  const before = await json<unknown[]>(['service', 'ls'])
  for (const c of cases) {
    const r = await mesh(c.args)
    t.equal(r.code, 1, `${c.args.join(' ')}: exit 1`)
    t.match(r.stderr.trim(), c.re, `${c.args.join(' ')}: message`)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  t.equal((await json<unknown[]>(['service', 'ls'])).length, before.length, 'no service added')
  const intruder = (tok: string) => w2.exec(['env', `MESH_JOIN_TOKEN=${tok}`, 'node', MESH_BIN, 'agent', '--bind', `${w2.ip}:7951`,
    '--name', 'intruder', '--data-dir', join(w2.dir, 'intruder'), '--overlay', 'off', '--join', `${mgr.ip}:7946`, '--manager', mgr.ip], { timeoutMs: 60_000 })
  const bad = await intruder(token.replace(/-[0-9a-f]{32}$/, `-${'0'.repeat(32)}`))
  t.equal(bad.code, 1, 'a wrong secret: exit 1')
  t.match(bad.stderr.trim(), /^mesh: joining the manager at .* failed: invalid join token/, `message: ${bad.stderr.trim()}`)
  const otherCa = await intruder(`MESHTKN-2-${'ab'.repeat(32)}-${'0'.repeat(32)}`)
  t.equal(otherCa.code, 1, 'a token pinning another CA: exit 1')
  t.match(otherCa.stderr.trim(), /^mesh: refusing to join through .*: CA certificate sha256:[0-9a-f]{64} is not the one the join token pins/, `message: ${otherCa.stderr.trim()}`)
})

t.test('service rm removes every task container on every node', async (t) => {
  t.equal((await mesh(['service', 'rm', 'web'])).code, 0)
  for (const n of [mgr, w1, w2]) {
    await waitFor(async () => (await n.docker(['ps', '-aq', '--filter', 'label=mesh.managed=true'])).stdout.trim() === '', 60_000,
      { intervalMs: 1000, what: `no task containers on ${n.name}` })
  }
  t.pass('no task container left on any live node')
})
