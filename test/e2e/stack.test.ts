/**
 * End-to-end: the Docker Swarm tutorial's stack (examples/getstartedlab.yml) on 1 manager + 3 workers, deployed
 * with `mesh stack deploy` as a user would: pinned services on the manager, 5 web replicas spread and answering
 * round-robin on port 4000 of every node, a named volume that outlives its task, a redeploy 5→2, bad files refused,
 * and `stack rm` leaving no container, network, route or rule behind on any node.
 * Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isRoot, type LabNode } from '../lab/index.ts'
import { waitFor } from '../support/procs.ts'
import { meshLab, type Task } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(600_000)

const FILE = new URL('../../examples/getstartedlab.yml', import.meta.url).pathname
const tmp = mkdtempSync(join(tmpdir(), 'mesh-stack-e2e-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const c = await meshLab(t, { nodes: 4 })
const nodes = c.lab.nodes as LabNode[]
const mgr = nodes[0] as LabNode

/** What a node has that a stack could leave behind: task containers, networks, routes, nft rules, listeners. */
async function footprint(n: LabNode): Promise<{ containers: string; networks: string; routes: string; rules: string; listeners: string }> {
  const [containers, networks, routes, rules, listeners] = await Promise.all([
    n.docker(['ps', '-aq', '--filter', 'label=mesh.managed=true']),
    n.docker(['network', 'ls', '--format', '{{.Name}}']),
    n.exec(['ip', 'route', 'show']),
    n.exec(['sh', '-c', 'nft list table ip mesh-ingress 2>/dev/null | grep -E "dnat|dport" || true']),
    n.exec(['sh', '-c', 'ss -ltnu | grep -E ":(4000|8080|6379) " || true']),
  ])
  // A bridge route is flagged `linkdown` while no container is attached: the flag is not something we leave behind.
  const sorted = (s: { stdout: string }) => s.stdout.trim().split('\n').map((l) => l.replace(/ linkdown\s*$/, '').trimEnd()).sort().join('\n')
  return { containers: sorted(containers), networks: sorted(networks), routes: sorted(routes), rules: sorted(rules), listeners: sorted(listeners) }
}
// The overlay is complete (a route to every other node's subnet) before the footprint is taken.
for (const n of nodes) {
  await waitFor(async () => ((await n.exec(['ip', 'route', 'show', 'dev', 'mesh0'])).stdout.match(/^10\.77\./gm) ?? []).length === nodes.length - 1,
    60_000, { intervalMs: 500, what: `${n.name}: routes to the other nodes' subnets` })
}
const before = await Promise.all(nodes.map(footprint))

const curl = (ip: string, port: number, path = '/') => c.lab.client.exec(['curl', '-s', '-m', '3', `http://${ip}:${port}${path}`])

t.test('stack deploy: pinned services on the manager, five web replicas spread, port 4000 round-robin on every node', async (t) => {
  const r = await c.mesh(['stack', 'deploy', '-c', FILE, 'getstartedlab'], 240_000)
  t.equal(r.code, 0, `deploy converges (${r.stderr.trim()})`)
  t.match(r.stdout, /Creating service getstartedlab_web/)
  for (const pinned of ['getstartedlab_visualizer', 'getstartedlab_redis']) {
    const [task] = await c.running(pinned)
    t.equal(c.nodeName.get(task?.nodeId ?? ''), mgr.name, `${pinned} runs on the manager`)
  }
  const web = await c.running('getstartedlab_web')
  t.equal(web.length, 5, 'five web tasks running')
  const per = new Map<string, number>()
  for (const x of web) per.set(x.nodeId, (per.get(x.nodeId) ?? 0) + 1)
  t.ok(per.size >= 3 && [...per.values()].every((n) => n <= 2), `spread: ${JSON.stringify(Object.fromEntries([...per].map(([k, v]) => [c.nodeName.get(k), v])))}`)
  const names = new Set(web.map((x) => `getstartedlab_web.${x.slot}.${x.id}`))
  for (const n of nodes) {
    const got = await waitFor(async () => {
      const bodies: string[] = []
      for (let i = 0; i < 10; i++) bodies.push((await curl(n.ip, 4000)).stdout.trim())
      return new Set(bodies).size === 5 ? bodies : null
    }, 30_000, { intervalMs: 500, what: `${n.name}:4000 answering from all five tasks` })
    t.same(new Set(got), names, `${n.name}:4000 → all five tasks`)
    t.ok(got.every((b, i) => i < 5 || b === got[i - 5]), `${n.name}: round-robin order`)
  }
})

t.test('data in the named volume survives a task restart', async (t) => {
  const hit = async () => Number(/hits=(\d+)/.exec((await curl(nodes[2]?.ip as string, 6379, '/cgi-bin/hits')).stdout)?.[1] ?? NaN)
  const first = await waitFor(async () => { const n = await hit(); return Number.isFinite(n) ? n : null }, 30_000, { intervalMs: 500, what: 'the counter' })
  const second = await hit()
  t.equal(second, first + 1, 'the counter counts')
  const [task] = await c.running('getstartedlab_redis') as [Task]
  await mgr.docker(['kill', `getstartedlab_redis.${task.slot}.${task.id}`])
  const replaced = await waitFor(async () => {
    const [x] = await c.running('getstartedlab_redis')
    return x && x.id !== task.id ? x : null
  }, 60_000, { intervalMs: 1000, what: 'a new redis task' })
  t.not(replaced.id, task.id, 'the task was replaced (restart policy)')
  const third = await waitFor(async () => { const n = await hit(); return Number.isFinite(n) ? n : null }, 30_000, { intervalMs: 500, what: 'the counter again' })
  t.equal(third, second + 1, `the new task continues from the volume (${second} → ${third})`)
})

t.test('a stack\'s services reach each other by their short names', async (t) => {
  const [web] = await c.running('getstartedlab_web') as [Task]
  const host = nodes.find((n) => n.name === c.nodeName.get(web.nodeId)) as LabNode
  // The stack's services are on getstartedlab_webnet: the VIP is the one on that network (an array, as docker).
  const redis = (JSON.parse((await c.mesh(['service', 'inspect', 'getstartedlab_redis'])).stdout) as { vip?: string; virtualIps?: { addr: string }[] }[])[0]
  const vip = (redis?.vip ?? redis?.virtualIps?.[0]?.addr) as string
  const exec = (cmd: string) => host.docker(['exec', `getstartedlab_web.${web.slot}.${web.id}`, 'sh', '-c', cmd], { timeoutMs: 30_000 })
  const ns = await exec('nslookup redis')
  t.match(ns.stdout, new RegExp(`Name:\\s+redis[\\s\\S]*Address:?\\s*(\\d+:\\s*)?${vip.replace(/\./g, '\\.')}`), `redis → getstartedlab_redis's VIP ${vip}`)
  const hits = await exec('timeout 5 wget -qO- http://redis:6379/cgi-bin/hits')
  t.match(hits.stdout, /^hits=\d+/, `a web task fetches http://redis:6379/ (${hits.stdout.trim()}${hits.stderr.trim()})`)
})

t.test('bad files are refused with the key path, and nothing changes', async (t) => {
  const good = readFileSync(FILE, 'utf8')
  const cases = [
    { desc: 'unknown top-level key', text: `${good}\nservicez: {}\n`, re: /servicez/ },
    { desc: 'bad port', text: good.replace('"4000:80"', '"4000:"'), re: /services\.web\.ports\[0\]/ },
    { desc: 'invalid constraint', text: good.replace('constraints: [node.role == manager]', 'constraints: [node.colour == red]'), re: /services\.visualizer\.deploy\.placement\.constraints.*node\.colour/ },
    { desc: 'wrong type', text: good.replace('replicas: 5', 'replicas: five'), re: /services\.web\.deploy\.replicas/ },
  ]
  const services = (await c.json<unknown[]>(['service', 'ls'])).length
  for (const [i, x] of cases.entries()) {
    const f = join(tmp, `bad${i}.yml`)
    writeFileSync(f, x.text)
    const r = await c.mesh(['stack', 'deploy', '-c', f, 'badstack'])
    t.equal(r.code, 1, `${x.desc}: exit 1`)
    t.match(r.stderr, x.re, `${x.desc}: ${r.stderr.trim()}`)
    t.match(r.stderr.trim(), new RegExp(`^mesh: .*bad${i}\\.yml`), 'the message names the file')
  }
  t.equal((await c.json<unknown[]>(['service', 'ls'])).length, services, 'nothing deployed')
})

t.test('redeploy with web 5→2 converges and changes only web', async (t) => {
  const f = join(tmp, 'two.yml')
  writeFileSync(f, readFileSync(FILE, 'utf8').replace('replicas: 5', 'replicas: 2'))
  const redis = (await c.running('getstartedlab_redis'))[0]?.id
  const r = await c.mesh(['stack', 'deploy', '-c', f, 'getstartedlab'], 180_000)
  t.equal(r.code, 0, r.stderr.trim())
  t.match(r.stdout, /Updating service getstartedlab_web/)
  t.notMatch(r.stdout, /Updating service getstartedlab_redis/, 'unchanged services are left alone')
  const web = await waitFor(async () => { const x = await c.running('getstartedlab_web'); return x.length === 2 ? x : null }, 60_000,
    { intervalMs: 1000, what: 'two web tasks' })
  t.equal(web.length, 2)
  t.equal((await c.running('getstartedlab_redis'))[0]?.id, redis, 'the redis task kept running')
})

t.test('stack rm leaves no container, network, route or rule behind on any node', async (t) => {
  const r = await c.mesh(['stack', 'rm', 'getstartedlab'], 120_000)
  t.equal(r.code, 0, r.stderr.trim())
  for (const [i, n] of nodes.entries()) {
    const after = await waitFor(async () => {
      const f = await footprint(n)
      // The stack's network goes last (after its tasks' containers), then each node drops its bridge and routes.
      return JSON.stringify(f) === JSON.stringify(before[i]) ? f : null
    }, 60_000, { intervalMs: 1000, what: `${n.name} clean` }).catch(async () => footprint(n))
    t.same(after, before[i], `${n.name}: containers, networks, routes, nft rules and listeners as before the deploy`)
  }
})
