/**
 * End-to-end on the seed lab's shape — 1 manager + 3 workers, each a lab host with its own dockerd — driven with the
 * `mesh` CLI as a user would. The cluster basics: init, join with the token, service create/scale/rm, drain, node
 * death, bad input. The Swarm-parity issue: a service VIP carries every TCP and UDP port (nothing published); a
 * crash-looping service makes `service create` and `stack deploy` exit 1 naming the failing task; `update --force`
 * replaces every task of an unchanged spec; `--placement-pref spread=node.labels.zone` spreads over a label; a
 * replicated job runs to completion once per slot; the new container flags reach the engine; `-q`/`--format` script
 * the CLI; `mesh leave` takes a worker out of the cluster for good.
 *
 * One lab for all of it (a bring-up costs ~30 s of CI). The tests share the cluster and run in file order, so each
 * names its own services, and the order keeps any test from reading another's leftovers: the self-contained
 * crash-loop and spread tests run while all three workers are up; the basics follow (their `web` must land one task
 * per worker on a cluster with no live task, their dead worker is node4 for good) and remove `web`; the parity
 * services that `service ls --format` lists come last, ending with `mesh leave` of node3.
 * Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isRoot, type LabNode } from '../lab/index.ts'
import { MESH_BIN, killAndReap, sleep, waitFor, type Proc, type RunResult } from '../support/procs.ts'
import { importImage, meshLab, type Node, type Task } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(900_000) // two former labs' worth of tests (~4 min in CI; 9.5 min on a loaded 2-core box)

const c = await meshLab(t, { nodes: 4 })
const { lab, token, nodeName } = c
const [mgr, w1, w2, w3] = lab.nodes as [LabNode, LabNode, LabNode, LabNode]
const agents = c.agents
const mesh = c.mesh.bind(c)
const json = c.json.bind(c)
const nodes = await json<Node[]>(['node', 'ls'])
const running = (tasks: Task[]) => tasks.filter((x) => x.desiredState === 'running' && x.status.state === 'running')
await importImage(lab.nodes, 'mesh/socat:latest', ['/usr/bin/socat'])

interface FullTask extends Task { spec: { image: string }; status: Task['status'] & { containerId?: string; exitCode?: number } }
const tasksOf = (service: string) => json<FullTask[]>(['service', 'ps', service])
const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']

/** The probe: a task container on node1, as a user's own container would be; returns a shell inside it. */
async function startProbe(): Promise<(cmd: string) => Promise<RunResult>> {
  const up = await mesh(['service', 'create', '--name', 'probe', '--update-monitor', '1s', '--constraint', `node.hostname==${mgr.name}`, 'mesh/socat:latest',
    'sleep', '3600'], 180_000)
  if (up.code !== 0) throw new Error(`service create probe: ${up.stderr.trim()}`)
  const [probe] = await c.running('probe')
  return (cmd: string) => mgr.docker(['exec', `probe.${probe?.slot}.${probe?.id}`, 'sh', '-c', cmd], { timeoutMs: 60_000 })
}

t.test('init and join: node ls shows the manager and three workers', async (t) => {
  t.match(token, /^MESHTKN-2-[0-9a-f]{64}-[0-9a-f]{32}$/, 'the token pins the cluster CA (sha256) and carries a secret')
  t.same(nodes.map((n) => n.hostname).sort(), ['node1', 'node2', 'node3', 'node4'])
  const r = await mesh(['node', 'ls'])
  t.match(r.stdout, /node1\s+Ready\s+Active\s+Leader\s+Manager/, 'node1: MANAGER STATUS Leader, ROLE Manager')
  t.match(r.stdout, /node2\s+Ready\s+Active\s+Worker/, 'node2: no MANAGER STATUS, ROLE Worker')
})

// Self-contained parity tests (each removes what it made) while all three workers are up.
t.test('a crash-looping service: service create exits 1 naming the failing task', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'crash', '--replicas', '2', '--restart-delay', '1s', 'mesh/busybox:latest',
    'sh', '-c', 'echo boom >&2; exit 3'], 240_000)
  t.equal(r.code, 1, 'create gives up with exit 1')
  t.match(r.stderr, /crash\.\d/, `it names the failing task: ${r.stderr.trim()}`)
  t.match(r.stderr, /exit|3/, 'and its error')
  t.equal((await mesh(['service', 'rm', 'crash'])).code, 0)
})

t.test('a crash-looping service in a stack: stack deploy exits 1 naming it', async (t) => {
  const dir = join(mgr.dir, 'parity-stack')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'docker-compose.yml'), [
    'version: "3.8"',
    'services:',
    '  ok:',
    '    image: mesh/busybox:latest',
    '    command: ["sleep", "3600"]',
    '  bad:',
    '    image: mesh/busybox:latest',
    '    command: ["sh", "-c", "exit 7"]',
    '    deploy:',
    '      restart_policy: {delay: 1s}',
    '',
  ].join('\n'))
  const r = await mesh(['stack', 'deploy', '-c', join(dir, 'docker-compose.yml'), 'st'], 240_000)
  t.equal(r.code, 1, 'deploy gives up with exit 1')
  t.match(r.stderr, /st_bad/, `it names the failing service: ${r.stderr.trim()}`)
  t.notMatch(r.stdout, /verify: .*converged/, 'and never says it converged')
  t.equal((await mesh(['stack', 'rm', 'st'])).code, 0)
})

t.test('--placement-pref spread=node.labels.zone spreads over the label, not over nodes', async (t) => {
  for (const [n, zone] of [[w1, 'a'], [w2, 'b'], [w3, 'b']] as const) {
    t.equal((await mesh(['node', 'update', '--label-add', `zone=${zone}`, n.name])).code, 0)
  }
  const r = await mesh(['service', 'create', '--name', 'zoned', '--update-monitor', '1s', '--replicas', '6', '--constraint', 'node.role==worker',
    '--placement-pref', 'spread=node.labels.zone', 'mesh/busybox:latest', 'sleep', '3600'], 240_000)
  t.equal(r.code, 0, `zoned converges (${r.stderr.trim()})`)
  const per = new Map<string, number>()
  for (const x of await c.running('zoned')) per.set(nodeName.get(x.nodeId) as string, (per.get(nodeName.get(x.nodeId) as string) ?? 0) + 1)
  t.equal(per.get(w1.name), 3, `zone a (one node) runs half of the tasks: ${JSON.stringify(Object.fromEntries(per))}`)
  t.equal((per.get(w2.name) ?? 0) + (per.get(w3.name) ?? 0), 3, 'zone b (two nodes) the other half')
  t.equal((await mesh(['service', 'rm', 'zoned'])).code, 0)
})

// The basics: `web` on a cluster with no live task; node4 dies for good.
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

// The parity services that `service ls --format` lists (web is gone), then a worker leaves.
t.test('a VIP carries every port: http://web2/ and a UDP query reach all tasks with nothing published', async (t) => {
  const inProbe = await startProbe()
  const web = await mesh(['service', 'create', '--name', 'web2', '--update-monitor', '1s', '--replicas', '3', 'mesh/busybox:latest', ...WEB], 180_000)
  t.equal(web.code, 0, `web2 converges (${web.stderr.trim()})`)
  const udp = await mesh(['service', 'create', '--name', 'echo2', '--update-monitor', '1s', '--replicas', '3', 'mesh/socat:latest',
    'socat', 'UDP4-RECVFROM:5353,fork', 'SYSTEM:echo $MESH_TASK_NAME'], 180_000)
  t.equal(udp.code, 0, `echo2 converges (${udp.stderr.trim()})`)
  const inspect = JSON.parse((await mesh(['service', 'inspect', 'web2'])).stdout) as { vip?: string }[]
  t.ok(Array.isArray(inspect), 'service inspect prints an array, as docker')
  t.match(inspect[0]?.vip, /^10\.78\.\d+\.\d+$/, 'web2 has a VIP')
  const got = await inProbe('for i in 1 2 3 4 5 6 7 8 9; do timeout 5 wget -qO- http://web2/; done')
  const names = new Set(got.stdout.trim().split('\n').filter(Boolean))
  t.equal(names.size, 3, `nine GETs of http://web2/ (port 80, not published) reached the three tasks: ${[...names].join(', ')} ${got.stderr.trim()}`)
  const echoVip = (JSON.parse((await mesh(['service', 'inspect', 'echo2'])).stdout) as { vip?: string }[])[0]?.vip as string
  const q = await inProbe(`for i in 1 2 3 4 5 6 7 8 9; do echo q | timeout 5 socat -T2 - UDP4:${echoVip}:5353; done`)
  const udpNames = new Set(q.stdout.trim().split('\n').filter(Boolean))
  t.equal(udpNames.size, 3, `nine UDP queries to ${echoVip}:5353 reached the three tasks: ${[...udpNames].join(', ')} ${q.stderr.trim()}`)
  const status = await mesh(['status'])
  t.match(status.stdout, /web2/, 'mesh status lists the VIP service')
})

t.test('service update --force replaces every task of an unchanged spec', async (t) => {
  const before = (await c.running('web2')).map((x) => x.id).sort()
  const r = await mesh(['service', 'update', '--force', '--update-parallelism', '0', 'web2'], 240_000)
  t.equal(r.code, 0, `update --force converges (${r.stderr.trim()})`)
  const after = (await c.running('web2')).map((x) => x.id).sort()
  t.equal(after.length, 3, 'three tasks run')
  t.same(after.filter((id) => before.includes(id)), [], 'none of them is an old task')
})

t.test('a replicated job runs to completion once per slot', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'once', '--mode', 'replicated-job', '--replicas', '3', '--max-concurrent', '2',
    'mesh/busybox:latest', 'sh', '-c', 'sleep 1; echo done'], 240_000)
  t.equal(r.code, 0, `the job completes (${r.stderr.trim()})`)
  await sleep(3000) // a completed job task must not be restarted
  const tasks = await tasksOf('once')
  t.equal(tasks.filter((x) => x.status.state === 'complete').length, 3, 'three complete tasks')
  t.equal(tasks.length, 3, 'and no other task was made')
  const ls = await mesh(['service', 'ls', '--filter', 'name=once'])
  t.match(ls.stdout, /replicated job/, `service ls shows the job mode: ${ls.stdout.trim()}`)
})

t.test('container flags reach the engine: hostname, user, workdir, tmpfs, healthcheck', async (t) => {
  const r = await mesh(['service', 'create', '--name', 'flags', '--update-monitor', '1s', '--constraint', `node.hostname==${w1.name}`, '--hostname', 'custom-host',
    '--user', '1234', '--workdir', '/tmp', '--mount', 'type=tmpfs,target=/scratch,tmpfs-size=16M',
    '--health-cmd', 'test -d /scratch', '--health-interval', '1s', 'mesh/busybox:latest', 'sleep', '3600'], 240_000)
  t.equal(r.code, 0, `flags converges (${r.stderr.trim()})`)
  const task = (await tasksOf('flags')).find((x) => x.desiredState === 'running' && x.status.state === 'running')
  const id = task?.status.containerId ?? ''
  const out = await w1.docker(['inspect', '--format',
    '{{.Config.Hostname}} {{.Config.User}} {{.Config.WorkingDir}} {{range .HostConfig.Mounts}}{{.Type}}:{{.Target}}{{end}}', id])
  t.equal(out.stdout.trim(), 'custom-host 1234 /tmp tmpfs:/scratch', `docker inspect: ${out.stdout.trim()} ${out.stderr.trim()}`)
  const healthy = await waitFor(async () => (await tasksOf('flags')).find((x) => x.status.health === 'healthy') ?? null,
    60_000, { intervalMs: 1000, what: 'flags healthy' })
  t.ok(healthy, 'the healthcheck runs and passes')
})

t.test('scripting: -q, --filter and --format as docker', async (t) => {
  const names = await mesh(['service', 'ls', '--format', '{{.Name}}'])
  t.same(names.stdout.trim().split('\n').sort(), ['echo2', 'flags', 'once', 'probe', 'web2'], 'service ls --format {{.Name}}')
  const q = await mesh(['service', 'ls', '-q', '--filter', 'name=web2'])
  t.equal(q.stdout.trim().split('\n').length, 1, 'service ls -q --filter name=web2: one id')
  const byId = await mesh(['service', 'inspect', '--format', '{{.Spec.Name}}', q.stdout.trim()])
  t.equal(byId.stdout.trim(), 'web2', 'service inspect --format on the id')
  const rm = await mgr.exec(['sh', '-c', `export MESH_DATA_DIR=${c.dataDir(mgr)}; node ${MESH_BIN} service ls -q --filter name=once | ` +
    `xargs node ${MESH_BIN} service rm`])
  t.equal(rm.code, 0, `service ls -q | xargs service rm (${rm.stderr.trim()})`)
  t.notMatch((await mesh(['service', 'ls'])).stdout, /\bonce\b/, 'the job is gone')
})

// node3 (w2), not node4: the dead-worker test above took node4 down for good.
t.test('mesh leave: a worker leaves for good, its tasks move, node ls shows it Down', async (t) => {
  const target = (await json<Node[]>(['node', 'ls'])).find((n) => n.hostname === w2.name) as Node
  const r = await mesh(['leave'], 90_000, w2)
  t.equal(r.code, 0, `leave (${r.stderr.trim()})`)
  t.match(r.stdout, /left/i)
  const down = await waitFor(async () => {
    const n = (await json<Node[]>(['node', 'ls'])).find((x) => x.id === target.id)
    return n?.state === 'down' ? n : null
  }, 60_000, { intervalMs: 1000, what: `${w2.name} down` })
  t.equal(down.state, 'down', 'node ls shows it down')
  const agent = c.agents.get(w2.name)
  await waitFor(async () => (agent?.exitInfo() ? true : null), 30_000, { intervalMs: 500, what: 'the agent exits' })
  t.equal(agent?.exitInfo()?.code, 0, 'the agent exited 0')
  const left = await w2.exec(['sh', '-c', `ls ${c.dataDir(w2)}`])
  t.notMatch(left.stdout, /node\.json/, `no node.json left in the data dir: ${left.stdout.trim().split('\n').join(' ')}`)
  await waitFor(async () => {
    const web = await c.running('web2')
    return web.length === 3 && web.every((x) => x.nodeId !== target.id) ? web : null
  }, 120_000, { intervalMs: 1000, what: 'web2 back to 3 tasks off the left node' })
  const ps = await w2.docker(['ps', '-q', '--filter', 'label=mesh.managed=true'])
  t.equal(ps.stdout.trim(), '', 'no task container left on the node that left')
})
