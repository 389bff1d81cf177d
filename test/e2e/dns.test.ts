/**
 * End-to-end: service discovery on 1 manager + 3 workers. A task container on node1 resolves service names through
 * Docker's embedded DNS, which forwards to the agent's DNS on the node's overlay gateway; `http://web/` goes to the
 * service VIP and is spread over the tasks by the VIP rules; answers follow the catalog within a second; names that
 * are not services are forwarded to the upstream (a dnsmasq in the lab's own namespace).
 * Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot, type LabNode } from '../lab/index.ts'
import { meshLab, type Task } from '../support/mesh-lab.ts'
import { waitFor } from '../support/procs.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(600_000)

const tmp = mkdtempSync(join(tmpdir(), 'mesh-dns-e2e-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const UPSTREAM = '192.168.77.1' // the lab's own underlay namespace (labnet)
const c = await meshLab(t, { nodes: 4, agentArgs: ['--dns-upstream', UPSTREAM] })
const nodes = c.lab.nodes as LabNode[]
const mgr = nodes[0] as LabNode

// A resolver only the lab knows: dnsmasq in labnet answering one name.
const pidFile = join(tmp, 'dnsmasq.pid')
const up = await c.lab.client.exec(['dnsmasq', `--pid-file=${pidFile}`, '--no-resolv', '--no-hosts', `--listen-address=${UPSTREAM}`,
  '--bind-interfaces', '--address=/only-upstream.test/192.0.2.55'])
if (up.code !== 0) throw new Error(`dnsmasq upstream: ${up.stderr.trim()}`)
t.teardown(() => { try { process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 'SIGKILL') } catch { /* gone */ } })

const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']
const created = await c.mesh(['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '3', '-p', '8090:80', 'mesh/busybox:latest', ...WEB], 180_000)
if (created.code !== 0) throw new Error(`service create web: ${created.stderr.trim()}`)
const probeCreated = await c.mesh(['service', 'create', '--name', 'probe', '--update-monitor', '1s', '--constraint', `node.hostname==${mgr.name}`, 'mesh/busybox:latest',
  'sleep', '3600'], 180_000)
if (probeCreated.code !== 0) throw new Error(`service create probe: ${probeCreated.stderr.trim()}`)
const [probe] = await c.running('probe')
const probeName = `probe.${probe?.slot}.${probe?.id}`
const gateway = (JSON.parse((await c.mesh(['status', '--json'])).stdout) as { overlay: { gateway: string } }).overlay.gateway
const vip = (JSON.parse((await c.mesh(['service', 'inspect', 'web'])).stdout) as { vip?: string }[])[0]?.vip as string // an array, as docker

/** Run a command in the probe task's container on node1 (a container started by mesh, as a user's would be). */
const inProbe = (cmd: string) => mgr.docker(['exec', probeName, 'sh', '-c', cmd], { timeoutMs: 30_000 })
/** nslookup output → the addresses it answered (busybox prints the server first: skip it). */
const addrs = (out: string) => [...out.split(/\n\s*\n/).slice(1).join('\n').matchAll(/Address:?\s*(?:\d+:\s*)?(\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1] as string)
const dig = (args: string) => mgr.exec(['sh', '-c', `dig +time=2 +tries=1 @${gateway} ${args}`])

t.test('from a container on node1: web is the VIP, tasks.web every task, http://web/ spreads over them', async (t) => {
  t.match(vip, /^10\.78\.\d+\.\d+$/, `web has a VIP (${vip})`)
  const a = await inProbe('nslookup web')
  t.same(addrs(a.stdout), [vip], `nslookup web → ${vip} (${a.stdout.trim().split('\n').join(' | ')})`)
  const tasks = await c.running('web')
  const b = await inProbe('nslookup tasks.web')
  t.same(addrs(b.stdout).sort(), tasks.map((x) => x.ip).sort(), 'nslookup tasks.web → the three task addresses')
  t.equal(new Set(tasks.map((x) => x.nodeId)).size, 3, 'on three nodes')
  const w = await inProbe('for i in 1 2 3 4 5 6; do timeout 5 wget -qO- http://web/; done')
  const answered = new Set(w.stdout.trim().split('\n'))
  t.equal(answered.size, 3, `six GETs of http://web/ reached all three tasks (${[...answered].join(', ')}${w.stderr.trim()})`)
  const f = await inProbe('nslookup only-upstream.test')
  t.same(addrs(f.stdout), ['192.0.2.55'], 'a name only the upstream knows resolves through forwarding')
})

/** Poll `dig +short tasks.web` on node1 every 100 ms until `done`; timestamps (ms) of each answer. */
async function watchTasks(done: (ips: string[]) => boolean, limitMs: number): Promise<{ ms: number; ips: string[] }> {
  const deadline = Date.now() + limitMs
  while (Date.now() < deadline) {
    const r = await dig('+short tasks.web')
    const ips = r.stdout.trim().split('\n').filter(Boolean).sort()
    if (done(ips)) return { ms: Date.now(), ips }
    await new Promise((res) => setTimeout(res, 100))
  }
  throw new Error(`tasks.web did not change as expected within ${limitMs} ms`)
}

// How soon the answers follow is a figure (comments below; it moves with the machine's load), not a test goal.
t.test('answers follow the catalog: new tasks appear, a dead task leaves', async (t) => {
  const scaled = c.mesh(['service', 'scale', 'web=5'], 180_000)
  const seen = await watchTasks((ips) => ips.length === 5, 120_000)
  t.equal((await scaled).code, 0, 'scale converges')
  const tasks = await c.json<(Task & { status: { timestamp: number } })[]>(['service', 'ps', 'web'])
  const fresh = tasks.filter((x) => x.desiredState === 'running' && x.status.state === 'running').sort((a, b) => b.status.timestamp - a.status.timestamp)[0]
  t.equal(seen.ips.length, 5, 'tasks.web answers all five')
  t.ok(fresh, 'a running task')
  t.comment(`all five answered ${seen.ms - (fresh?.status.timestamp ?? 0)} ms after the last one ran`)
  const victim = (await c.running('web')).find((x) => c.nodeName.get(x.nodeId) === mgr.name) ?? (await c.running('web'))[0] as Task
  const host = nodes.find((n) => n.name === c.nodeName.get(victim.nodeId)) as LabNode
  const killedAt = Date.now()
  await host.docker(['kill', `web.${victim.slot}.${victim.id}`])
  const gone = await watchTasks((ips) => !ips.includes(victim.ip as string), 30_000)
  t.notOk(gone.ips.includes(victim.ip as string), 'the killed task left the answers')
  t.comment(`the killed task left the answers ${gone.ms - killedAt} ms after the kill`)
})

t.test('dig @gateway: A, SRV, PTR, NXDOMAIN, NODATA', async (t) => {
  const a = await dig('web A')
  t.match(a.stdout, /status: NOERROR/)
  t.match(a.stdout, new RegExp(`web\\.\\s+5\\s+IN\\s+A\\s+${vip.replace(/\./g, '\\.')}`), 'A web → VIP, TTL 5')
  t.match(a.stdout, /flags: qr aa/, 'authoritative')
  const srv = await dig('_80._tcp.web SRV')
  t.match(srv.stdout, /IN\s+SRV\s+\d+ \d+ 80 web\./, 'SRV _80._tcp.web → port 80 on web')
  const task = (await c.running('web'))[0] as Task
  const ptr = await dig(`-x ${task.ip}`)
  t.match(ptr.stdout, new RegExp(`IN\\s+PTR\\s+web\\.${task.slot}\\.`), `PTR ${task.ip} → its task`)
  const vptr = await dig(`-x ${vip}`)
  t.match(vptr.stdout, /IN\s+PTR\s+web\./, `PTR ${vip} → web`)
  const nx = await dig('nosuch.mesh. A')
  t.match(nx.stdout, /status: NXDOMAIN/, 'an unknown name in the domain is NXDOMAIN')
  const nodata = await dig('web AAAA')
  t.match(nodata.stdout, /status: NOERROR/, 'web AAAA: NOERROR …')
  t.match(nodata.stdout, /ANSWER: 0/, '… with no answer (NODATA)')
  // The killed task's replacement may still be starting: wait (bounded) for the five running tasks. Rows of the
  // table only (NAME TYPE TTL DATA): the first line, `tasks.web A: NOERROR`, names the type too.
  const aRecords = (out: string) => (out.match(/^\S+\s+A\s+\d+\s+\d+\.\d+\.\d+\.\d+\s*$/gm) ?? []).length
  const look = await waitFor(async () => {
    const r = await c.mesh(['dns', 'lookup', 'tasks.web'])
    return r.code === 0 && aRecords(r.stdout) === 5 ? r : null
  }, 60_000, { intervalMs: 500, what: '`mesh dns lookup tasks.web` listing five A records' })
  t.equal(aRecords(look.stdout), 5, '`mesh dns lookup tasks.web` lists five A records')
})
