/**
 * Part `restart` of test/e2e/host.test.ts: stop is not leave, and an agent restart drops no traffic.
 *
 * 1. A service published on a port, tasks on several nodes. A request loop from the lab's client through EVERY
 *    node's published port while each of the 4 agents in turn is replaced by a new process on the same data dir
 *    (same flags, no token): the old one hands over and exits 0. Then: 0 failed requests, the same task containers
 *    (ids), every node Ready, and the new processes serving (`mesh status` on a worker).
 * 2. SIGTERM to one worker's agent: it exits 0 without leaving; its containers and WireGuard interface stay,
 *    requests through the other nodes' ports keep working, `mesh node ls` shows it down, then ready once it is
 *    started again (the same node id).
 */
import type { Test } from 'tap'
import { join } from 'node:path'
import { writeFileSync, rmSync } from 'node:fs'
import type { LabNode } from '../../lab/index.ts'
import { killAndReap, waitFor, type Proc } from '../../support/procs.ts'
import type { Node } from '../../support/mesh-lab.ts'
import type { HostContext } from './context.ts'

const PORT = 8090
const WEB = ['sh', '-c', 'mkdir -p /www && echo "$MESH_TASK_NAME" > /www/index.html && exec httpd -f -p 80 -h /www']

/** The flags c.agent started each node with (meshLab): the manager with --init, workers joining it. */
function agentArgs(ctx: HostContext, n: LabNode): string[] {
  return n === ctx.c.manager ? ['--init'] : ['--join', ctx.c.manager.ip]
}

/** Task container ids on a node (docker ps, full ids, sorted). */
async function containerIds(n: LabNode): Promise<string[]> {
  const r = await n.docker(['ps', '-q', '--no-trunc', '--filter', 'name=rs.'])
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean).sort()
}

/**
 * GETs of http://ip:PORT/ from the lab's client until `stopFile` exists (at most `maxS` seconds, 3 s per request):
 * counts of ok and failed requests.
 */
async function requestLoop(ctx: HostContext, ip: string, stopFile: string, maxS: number): Promise<{ ok: number; failed: number; lines: string[] }> {
  const script = `end=$(( $(date +%s) + ${maxS} )); while [ ! -e ${stopFile} ] && [ $(date +%s) -lt $end ]; do ` +
    `b=$(curl -s -m 3 http://${ip}:${PORT}/) || b=ERR; [ -n "$b" ] || b=EMPTY; echo "$(date +%s%3N) $b"; sleep 0.05; done`
  const r = await ctx.c.lab.client.exec(['sh', '-c', script], { timeoutMs: maxS * 1000 + 30_000 })
  const lines = r.stdout.trim().split('\n').filter(Boolean)
  const failed = lines.filter((l) => / (ERR|EMPTY)$/.test(l))
  return { ok: lines.length - failed.length, failed: failed.length, lines: failed.slice(0, 10) }
}

/** Wait for a replaced agent process to end; its output goes to the lab logs. */
async function waitExit(ctx: HostContext, n: LabNode, p: Proc, timeoutMs: number): Promise<number | null> {
  const info = await waitFor(() => p.exitInfo(), timeoutMs, { intervalMs: 200, what: `the old agent on ${n.name} exits` })
  ctx.c.saveLog(`${n.name}-old`, p)
  return info.code
}

export async function run(t: Test, ctx: HostContext): Promise<void> {
  const { c } = ctx
  const nodes = c.lab.nodes as LabNode[]
  const olds: Proc[] = []
  t.teardown(async () => {
    for (const p of olds) {
      if (p.exitInfo()) continue
      await killAndReap(p).catch(() => undefined)
      c.saveLog('old-agent', p)
    }
  })
  const created = await c.mesh(['service', 'create', '--name', 'rs', '--update-monitor', '1s', '--replicas', '4', '-p', `${PORT}:80`, 'mesh/busybox:latest', ...WEB], 180_000)
  t.equal(created.code, 0, `create converges (${created.stderr.trim()})`)
  t.teardown(() => c.mesh(['service', 'rm', 'rs']).then(() => undefined))
  await waitFor(async () => (await c.running('rs')).length === 4 ? true : null, 60_000, { what: '4 running tasks' })
  const before = new Map<string, string[]>()
  for (const n of nodes) before.set(n.name, await containerIds(n))
  const onNodes = [...before.values()].filter((ids) => ids.length > 0).length
  t.ok(onNodes >= 2, `tasks run on ${onNodes} nodes`)
  const idsBefore = new Map((await c.json<Node[]>(['node', 'ls'])).map((x) => [x.hostname, x.id]))

  await t.test('rolling restart of every agent under a request loop through every node: 0 failed requests', async (t) => {
    const stopFile = join(c.manager.dir, 'restart-stop')
    rmSync(stopFile, { force: true })
    t.teardown(() => rmSync(stopFile, { force: true }))
    // Traffic first, so every restart happens under load.
    const loops = nodes.map((n) => requestLoop(ctx, n.ip, stopFile, 400))
    await new Promise((r) => setTimeout(r, 2000))
    for (const n of [...c.workers, c.manager]) {
      const old = c.agents.get(n.name) as Proc
      olds.push(old)
      const started = Date.now()
      c.agent(n, agentArgs(ctx, n)) // a new process on the same data dir, same flags, no token
      const code = await waitExit(ctx, n, old, 120_000)
      t.equal(code, 0, `${n.name}: the old agent handed over and exited 0 after ${Date.now() - started} ms`)
      await c.waitReady(nodes.length, 90_000)
    }
    await new Promise((r) => setTimeout(r, 2000))
    writeFileSync(stopFile, '')
    const results = await Promise.all(loops)
    results.forEach((r, i) => {
      t.ok(r.ok > 20, `${nodes[i]?.name}: ${r.ok} requests served during the restarts`)
      t.equal(r.failed, 0, `${nodes[i]?.name}: 0 failed requests ${r.lines.join(' | ')}`)
    })
    for (const n of nodes) t.same(await containerIds(n), before.get(n.name), `${n.name}: the same task containers`)
    const ready = await c.waitReady(nodes.length)
    t.same(new Map(ready.map((x) => [x.hostname, x.id])), idsBefore, 'every node Ready, the same node ids')
    const w = c.workers[0] as LabNode
    const st = await c.mesh(['status'], 60_000, w)
    t.equal(st.code, 0, `mesh status on ${w.name} answers through the new process (${st.stderr.trim()})`)
    t.match(st.stdout, w.name)
  })

  await t.test('SIGTERM stops a worker without leaving: containers, interface and routes to it stay; back as the same node', async (t) => {
    const w = c.workers[0] as LabNode
    const p = c.agents.get(w.name) as Proc
    process.kill(p.pid, 'SIGTERM')
    const info = await waitFor(() => p.exitInfo(), 30_000, { intervalMs: 200, what: `${w.name}'s agent exits on SIGTERM` })
    c.saveLog(`${w.name}-sigterm`, p)
    c.agents.delete(w.name)
    t.equal(info.code, 0, 'exit 0')
    t.notMatch(p.stdout() + p.stderr(), /not open/, 'no node update reached a closed store')
    t.same(await containerIds(w), before.get(w.name), 'its task containers still run')
    const link = await w.exec(['ip', 'link', 'show', 'mesh0'])
    t.equal(link.code, 0, 'its WireGuard interface is still there')
    const down = await waitFor(async () => {
      const all = await c.json<Node[]>(['node', 'ls'])
      return all.find((x) => x.hostname === w.name)?.state === 'down' ? all : null
    }, 90_000, { intervalMs: 1000, what: `${w.name} shown down` })
    t.ok(down, `${w.name} is down in node ls`)
    for (const n of nodes.filter((x) => x !== w)) {
      const rs = await c.fetchLoop(n.ip, PORT, 12)
      t.equal(rs.filter((r) => r.body === 'ERR' || r.body === '').length, 0, `requests through ${n.name} keep working`)
    }
    c.agent(w, agentArgs(ctx, w))
    const ready = await c.waitReady(nodes.length)
    t.equal(ready.find((x) => x.hostname === w.name)?.id, idsBefore.get(w.name), `${w.name} is ready again, the same node id`)
    t.same(await containerIds(w), before.get(w.name), 'and adopted its containers')
  })
}
