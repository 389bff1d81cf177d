/**
 * End-to-end: the ingress routing mesh on 1 manager + 3 workers, with the client in the lab's own namespace on the
 * underlay (outside every node). A published port answers on every node and spreads over the tasks round-robin,
 * wherever they run; no errors while scaling; in nft mode (the default where the agents are root) a dead task or node
 * leaves the kernel rules and requests then all succeed; PROXY protocol (served by the proxy); UDP; userspace mode.
 * Addresses: only the lab's own namespaces.
 */
import t from 'tap'
import { isRoot, type LabNode } from '../lab/index.ts'
import { waitFor } from '../support/procs.ts'
import { importImage, meshLab, type Task } from '../support/mesh-lab.ts'

if (!isRoot()) {
  t.plan(0, 'the lab needs root')
  process.exit(0)
}
t.setTimeout(900_000)

const c = await meshLab(t, { nodes: 4 })
const nodes = c.lab.nodes as LabNode[]
const [mgr, , , w3] = nodes as [LabNode, LabNode, LabNode, LabNode]
const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']

const fetchLoop = c.fetchLoop.bind(c)
const errors = (rs: { body: string }[]) => rs.filter((r) => r.body === 'ERR' || r.body === '').length

t.test('12 requests to each node\'s published port: every task answers, in round-robin order', async (t) => {
  const r = await c.mesh(['service', 'create', '--name', 'web', '--update-monitor', '1s', '--replicas', '3', '-p', '8080:80', 'mesh/busybox:latest', ...WEB], 180_000)
  t.equal(r.code, 0, `create converges (${r.stderr.trim()})`)
  const tasks = await c.running('web')
  const names = new Set(tasks.map((x) => `web.${x.slot}.${x.id}`))
  t.equal(names.size, 3)
  // Every node has the catalog with three running endpoints before we count.
  for (const n of nodes) {
    await waitFor(async () => new Set((await fetchLoop(n.ip, 8080, 3)).map((x) => x.body)).size === 3, 20_000,
      { intervalMs: 500, what: `${n.name} serving all three tasks` })
  }
  for (const n of nodes) {
    const got = await fetchLoop(n.ip, 8080, 12)
    t.equal(got.length, 12, `${n.name}: 12 answers`)
    t.equal(errors(got), 0, `${n.name}: no failed request`)
    t.same(new Set(got.map((x) => x.body)), names, `${n.name}: every task answered`)
    const rr = got.every((x, i) => i < 3 || x.body === got[i - 3]?.body) && new Set(got.slice(0, 3).map((x) => x.body)).size === 3
    t.ok(rr, `${n.name}: round-robin order (${got.map((x) => x.body.split('.')[1]).join(' ')})`)
  }
})

t.test('a one-replica service on node4 answers through node1\'s published port', async (t) => {
  const r = await c.mesh(['service', 'create', '--name', 'solo', '--update-monitor', '1s', '--replicas', '1', '--constraint', `node.hostname==${w3.name}`,
    '-p', '8081:80', 'mesh/busybox:latest', ...WEB], 180_000)
  t.equal(r.code, 0, r.stderr.trim())
  const [task] = await c.running('solo')
  t.equal(c.nodeName.get(task?.nodeId ?? ''), w3.name, `the task runs on ${w3.name}`)
  const got = await waitFor(async () => {
    const rs = await fetchLoop(mgr.ip, 8081, 3)
    return errors(rs) === 0 ? rs : null
  }, 20_000, { intervalMs: 500, what: 'solo through node1' })
  t.match(got[0]?.body, /^solo\.1\./, `node1:8081 → the task on ${w3.name}`)
})

t.test('a UDP published port answers through every node', async (t) => {
  await importImage(nodes, 'mesh/socat:latest', ['/usr/bin/socat'])
  const r = await c.mesh(['service', 'create', '--name', 'echo', '--update-monitor', '1s', '--replicas', '2', '-p', '5353:53/udp', 'mesh/socat:latest',
    'socat', 'UDP4-RECVFROM:53,fork', 'EXEC:cat'], 180_000)
  t.equal(r.code, 0, r.stderr.trim())
  for (const n of nodes) {
    const got = await waitFor(async () => {
      const x = await c.lab.client.exec(['sh', '-c', `echo hello-${n.name} | socat -T2 - UDP4:${n.ip}:5353`], { timeoutMs: 10_000 })
      return x.stdout.includes(`hello-${n.name}`) ? x : null
    }, 20_000, { intervalMs: 500, what: `UDP echo through ${n.name}` })
    t.match(got.stdout, `hello-${n.name}`, `${n.name}:5353/udp echoes`)
  }
})

t.test('with proxy-protocol on, the backend sees the client\'s real address', async (t) => {
  const r = await c.mesh(['service', 'create', '--name', 'pp', '--update-monitor', '1s', '--replicas', '1', '--publish', 'published=8082,target=80,proxy-protocol=v1',
    'mesh/busybox:latest', 'nc', '-ll', '-p', '80', '-e', 'sh', '-c', 'read l; echo "got: $l"'], 180_000)
  t.equal(r.code, 0, r.stderr.trim())
  const clientIp = c.lab.gateway
  const got = await waitFor(async () => {
    const x = await c.lab.client.exec(['sh', '-c', `echo hi | busybox nc -w 3 ${mgr.ip} 8082`], { timeoutMs: 10_000 })
    return x.stdout.includes('got: PROXY') ? x : null
  }, 20_000, { intervalMs: 500, what: 'a PROXY line at the backend' })
  t.match(got.stdout.trim(), new RegExp(`^got: PROXY TCP4 ${clientIp.replace(/\./g, '\\.')} ${mgr.ip.replace(/\./g, '\\.')} \\d+ 8082`),
    `the backend read the client's address ${clientIp} (${got.stdout.trim()})`)
})

t.test('scaling 3→1 and 1→3 under load: no failed request; new tasks get traffic while the load runs', async (t) => {
  const loadStart = Date.now()
  const load = fetchLoop(nodes[1]?.ip as string, 8080, 5000, 0, 50)
  await new Promise((r) => setTimeout(r, 1000))
  t.equal((await c.mesh(['service', 'scale', 'web=1'], 180_000)).code, 0, 'scale down converges')
  await new Promise((r) => setTimeout(r, 2000))
  t.equal((await c.mesh(['service', 'scale', 'web=3'], 180_000)).code, 0, 'scale up converges')
  const tasks = await c.json<(Task & { status: { timestamp: number } })[]>(['service', 'ps', 'web'])
  const got = await load
  t.equal(errors(got), 0, `0 failed of ${got.length} requests`)
  // The tasks the scale-up started (the survivor of the scale-down was running before the load began).
  const fresh = tasks.filter((y) => y.desiredState === 'running' && y.status.state === 'running' && y.status.timestamp > loadStart)
  t.equal(fresh.length, 2, 'two new tasks')
  for (const x of fresh) {
    const first = got.find((g) => g.body === `web.${x.slot}.${x.id}`)
    // How soon is a figure, not a test goal (it moves with the machine's load); that it answers at all is the test.
    t.ok(first, `web.${x.slot} answered during the load`)
    if (first) t.comment(`web.${x.slot} first answered ${first.ms - x.status.timestamp} ms after it was running (back-to-back requests, round-robin over 3)`)
  }
})

/** Whether node `n`'s kernel rule for published port 8080 DNATs to `ip` (null: no rule). */
async function inRule(n: LabNode, ip: string): Promise<boolean | null> {
  const r = await n.exec(['nft', 'list', 'chain', 'ip', 'mesh-ingress', 'port-tcp-8080'], { timeoutMs: 10_000 })
  return r.code === 0 ? r.stdout.includes(`${ip} . 80`) : null
}

/**
 * nft mode (the default): the kernel cannot retry a connect, so a dead task must leave every node's rules. Each node
 * learns it from its own runtime (its own task), its node check of the task's node (a dead node, every 250 ms),
 * its endpoint checks (every 2 s) or the manager's catalog. Asserted: once the rule no longer lists the dead task
 * (what `nft list` shows), 50 requests through that node all succeed. How long that took, and requests failed
 * under a steady load from 1 s after the death, are printed (figures, not test goals).
 */
t.test('nft mode (default): a killed container, then a killed node, leave the kernel rules; then 50 of 50 requests succeed', async (t) => {
  const mode = await c.mesh(['status'], 30_000)
  t.match(mode.stdout, /Ingress: nft/, 'the agents chose the kernel path (root, nft usable)')
  t.match(mode.stdout, /web {2}8080\/tcp → 80 {3}via nft/, 'port 8080 is served by the kernel')
  t.match(mode.stdout, /pp {2}8082\/tcp → 80 \(PROXY v1\) {3}via userspace \(PROXY protocol/, 'the PROXY protocol port stays with the proxy')
  const running = await c.running('web')
  const victim = running.find((x) => c.nodeName.get(x.nodeId) !== mgr.name && x.ip) as Task
  const host = nodes.find((n) => n.name === c.nodeName.get(victim.nodeId)) as LabNode
  const via = nodes.filter((n) => n !== host)
  for (const n of via) t.equal(await inRule(n, victim.ip as string), true, `${n.name}: the rule lists ${victim.ip} before the kill`)
  const loads = via.map((n) => fetchLoop(n.ip, 8080, 40, 0.1))
  await new Promise((r) => setTimeout(r, 1000))
  const killedAt = Date.now()
  await host.docker(['kill', `web.${victim.slot}.${victim.id}`])
  const killReturned = Date.now()
  // Every node is watched at once: the replacement task may get the same address a few seconds later.
  await Promise.all(via.map(async (n) => {
    await waitFor(async () => (await inRule(n, victim.ip as string)) === false, 30_000, { intervalMs: 50, what: `${n.name}: ${victim.ip} out of the rule` })
    t.comment(`${n.name}: the killed task left the kernel rule ≤ ${Date.now() - killedAt} ms after the kill started, ≤ ${Date.now() - killReturned} ms after \`docker kill\` returned (polled every 50 ms)`)
  }))
  for (const n of via) {
    const got = await fetchLoop(n.ip, 8080, 50)
    t.equal(errors(got), 0, `via ${n.name}: 50 of 50 requests after the rule dropped the killed task`)
  }
  for (const [i, got] of (await Promise.all(loads)).entries()) {
    t.comment(`via ${via[i]?.name}: ${errors(got.filter((g) => g.ms > killedAt + 1000))} failed of ${got.filter((g) => g.ms > killedAt + 1000).length} from 1 s after the kill (${errors(got)} in all)`)
  }
  // A whole worker (agent and namespace) dies; requests go through the others.
  const alive = await waitFor(async () => {
    const rs = await c.running('web')
    return rs.length === 3 && rs.every((x) => x.ip) ? rs : null
  }, 120_000, { intervalMs: 1000, what: 'three web tasks again' })
  const dead = nodes.find((n) => n !== mgr && alive.some((x) => c.nodeName.get(x.nodeId) === n.name)) as LabNode
  const deadIps = alive.filter((x) => c.nodeName.get(x.nodeId) === dead.name).map((x) => x.ip as string)
  const others = nodes.filter((n) => n !== dead)
  for (const n of others) {
    await waitFor(async () => (await Promise.all(deadIps.map((ip) => inRule(n, ip)))).every((x) => x === true), 30_000,
      { intervalMs: 250, what: `${n.name}: ${deadIps.join(', ')} in the rule` })
  }
  const loads2 = others.map((n) => fetchLoop(n.ip, 8080, 40, 0.1))
  await new Promise((r) => setTimeout(r, 1000))
  const deadAt = Date.now()
  await c.killAgent(dead)
  await c.lab.killNode(dead)
  const killReturned2 = Date.now()
  await Promise.all(others.map(async (n) => {
    await waitFor(async () => (await Promise.all(deadIps.map((ip) => inRule(n, ip)))).every((x) => x === false), 30_000,
      { intervalMs: 50, what: `${n.name}: ${dead.name}'s tasks out of the rule` })
    t.comment(`${n.name}: ${dead.name}'s tasks left the kernel rule ≤ ${Date.now() - deadAt} ms after its agent's kill started, ≤ ${Date.now() - killReturned2} ms after its namespace was gone (polled every 50 ms)`)
  }))
  for (const n of others) {
    const got = await fetchLoop(n.ip, 8080, 50)
    t.equal(errors(got), 0, `via ${n.name}: 50 of 50 requests after the rule dropped ${dead.name}'s tasks`)
  }
  for (const [i, got] of (await Promise.all(loads2)).entries()) {
    t.comment(`via ${others[i]?.name}: ${errors(got.filter((g) => g.ms > deadAt + 1000))} failed of ${got.filter((g) => g.ms > deadAt + 1000).length} from 1 s after ${dead.name} died (${errors(got)} in all)`)
  }
})

t.test('--ingress-mode userspace: the proxy serves every port, and a killed container costs no request after 1 s (retries)', async (t) => {
  const live = nodes.filter((n) => c.agents.has(n.name))
  for (const n of live) {
    await c.killAgent(n)
    c.agent(n, ['--ingress-mode', 'userspace'])
  }
  await c.waitReady(live.length)
  await waitFor(async () => (await c.running('web')).length === 3, 120_000, { intervalMs: 1000, what: 'three web tasks' })
  for (const n of live) {
    await waitFor(async () => (await n.exec(['nft', 'list', 'chain', 'ip', 'mesh-ingress', 'port-tcp-8080'])).code !== 0, 30_000,
      { intervalMs: 500, what: `${n.name}: no kernel rule for 8080` })
    const got = await waitFor(async () => {
      const rs = await fetchLoop(n.ip, 8080, 12)
      return errors(rs) === 0 && new Set(rs.map((x) => x.body)).size === 3 ? rs : null
    }, 30_000, { intervalMs: 1000, what: `${n.name}: 12 answers from 3 tasks in userspace mode` })
    t.equal(got.length, 12, `${n.name}: 12 answers, every task, no error`)
  }
  t.match((await c.mesh(['status'], 30_000)).stdout, /web {2}8080\/tcp → 80 {3}via userspace/, 'status: the proxy serves 8080')
  const running = await c.running('web')
  const victim = running.find((x) => c.nodeName.get(x.nodeId) !== mgr.name) as Task
  const host = live.find((n) => n.name === c.nodeName.get(victim.nodeId)) as LabNode
  const via = live.filter((n) => n !== host)
  const loads = via.map((n) => fetchLoop(n.ip, 8080, 40, 0.1))
  await new Promise((r) => setTimeout(r, 1000))
  const killedAt = Date.now()
  await host.docker(['kill', `web.${victim.slot}.${victim.id}`])
  for (const [i, got] of (await Promise.all(loads)).entries()) {
    const late = got.filter((g) => g.ms > killedAt + 1000)
    t.equal(errors(late), 0, `via ${via[i]?.name}: 0 failed of ${late.length} requests from 1 s after the kill (${errors(got)} in all)`)
  }
})
