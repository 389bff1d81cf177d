/**
 * The ecosystem's own clients against the manager's read-only Docker API (`<data-dir>/docker-api.sock`), on the
 * dashboard's 2-node lab, as a Swarm user would run them on the manager's node:
 * - the docker CLI (`DOCKER_HOST=unix://…/docker-api.sock`): `docker service ls`, `docker node ls`,
 *   `docker service ps web` list mesh's services, both nodes and the web tasks; `docker service rm web` answers
 *   the 501 line pointing to the mesh CLI and changes nothing; `docker events --filter type=service` (started
 *   first) shows a service created with `mesh service create`;
 * - Debian's Prometheus in the manager's namespaces, `dockerswarm_sd_configs` roles tasks and nodes against the
 *   socket (refresh 5 s), lists the hello and web tasks with their labels and drops a web task after
 *   `mesh service scale` down (then web is scaled back).
 * Bounded: every wait has a deadline; the whole part is about a minute.
 */
import type { Test } from 'tap'
import { join } from 'node:path'
import { DOCKER_API_SOCKET } from '../../../src/api/index.ts'
import { killAndReap, waitFor } from '../../support/procs.ts'
import { KEEP_RUNNING_TASKS, havePrometheus, jobTargets, startPrometheus, swarmJob, type ActiveTarget } from '../../support/prometheus.ts'
import type { UiLab } from './context.ts'

interface MeshTask { id: string; slot: number; desiredState: string; nodeId: string; status: { state: string } }
interface MeshService { id: string; spec: { name: string; mode: unknown } }
interface MeshNode { id: string; hostname: string; role: string }

/** dockerd's error line around mesh's 501 answer, which names the mesh command that does the write. */
const refused = (command: string) => new RegExp(`Error response from daemon: mesh's Docker API is read-only: use the mesh CLI \\(${command} …\\)`)

export async function run(t: Test, ctx: UiLab): Promise<void> {
  const { mgr } = ctx
  const sock = join(ctx.dataDir(mgr), DOCKER_API_SOCKET)
  const docker = (args: string[], timeoutMs = 30_000) => mgr.exec(['env', `DOCKER_HOST=unix://${sock}`, 'docker', ...args], { timeoutMs })
  const meshJson = async <T>(args: string[]): Promise<T> => {
    const r = await ctx.mesh([...args, '--json'])
    if (r.code !== 0) throw new Error(`mesh ${args.join(' ')}: ${r.stderr.trim()}`)
    return JSON.parse(r.stdout) as T
  }
  const runningWeb = async () => (await meshJson<MeshTask[]>(['service', 'ps', 'web'])).filter((x) => x.status.state === 'running' && x.desiredState === 'running')
  const nodes = await meshJson<MeshNode[]>(['node', 'ls'])
  const hostname = (id: string) => nodes.find((n) => n.id === id)?.hostname

  await t.test('docker service ls, node ls, service ps web list mesh\'s services, nodes and tasks', async (t) => {
    const services = await meshJson<MeshService[]>(['service', 'ls'])
    const ls = await docker(['service', 'ls'])
    t.equal(ls.code, 0, ls.stderr)
    t.match(ls.stdout, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS$/m, 'docker\'s own table')
    for (const s of services) t.match(ls.stdout, new RegExp(`^${s.id.slice(0, 12)}\\s+${s.spec.name}\\s+replicated\\s+\\d+/\\d+\\s+mesh/busybox:latest`, 'm'), s.spec.name)
    t.match(ls.stdout, /\s\*:8080->80\/tcp$/m, 'hello\'s published port')
    const web = await runningWeb()
    const replicas = await docker(['service', 'ls', '--filter', 'name=web', '--format', '{{.Name}} {{.Replicas}}'])
    t.equal(replicas.stdout.trim(), `web ${web.length}/${web.length}`, 'running/desired as mesh counts them')

    const nl = await docker(['node', 'ls'])
    t.equal(nl.code, 0, nl.stderr)
    t.match(nl.stdout, /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION$/m)
    t.match(nl.stdout, new RegExp(`^\\S+ \\*\\s+${mgr.name}\\s+Ready\\s+Active\\s+Leader\\b`, 'm'), 'the manager: this node (*), leader')
    t.match(nl.stdout, new RegExp(`^\\S+\\s+${ctx.w1.name}\\s+Ready\\s+Active\\s*(\\S+)?$`, 'm'), 'the worker')
    t.equal(nl.stdout.trim().split('\n').length, 3, 'two nodes')

    const ps = await docker(['service', 'ps', 'web'])
    t.equal(ps.code, 0, ps.stderr)
    for (const task of web) {
      t.match(ps.stdout, new RegExp(`^${task.id.slice(0, 12)}\\s+web\\.${task.slot}\\s+mesh/busybox:latest\\s+${hostname(task.nodeId)}\\s+Running\\s+Running `, 'm'), `web.${task.slot}`)
    }
  })

  await t.test('a write answers 501 with the pointer to mesh, and changes nothing', async (t) => {
    const specs = async () => (await meshJson<MeshService[]>(['service', 'ls'])).map((x) => `${x.id} ${x.spec.name} ${JSON.stringify(x.spec.mode)}`)
    const before = await specs()
    const rm = await docker(['service', 'rm', 'web'])
    t.not(rm.code, 0, 'docker service rm fails')
    t.match(rm.stderr, refused('mesh service rm'), rm.stderr.trim())
    t.same(await specs(), before, 'the services are as they were')
    const scale = await docker(['service', 'scale', 'web=0', '--detach'])
    t.match(scale.stderr, refused('mesh service update'), `scale too: ${scale.stderr.trim()}`)
  })

  await t.test('docker events --filter type=service shows a service created with mesh service create', async (t) => {
    const events = mgr.spawn(['env', `DOCKER_HOST=unix://${sock}`, 'docker', 'events', '--filter', 'type=service', '--format', '{{json .}}'],
      { name: 'docker events' })
    ctx.procs.push(events)
    // docker events prints nothing until an event: give the stream a moment to be open before the create.
    await new Promise((r) => setTimeout(r, 1500))
    t.ok(events.running(), `docker events runs (${events.tail(3)})`)
    const r = await ctx.mesh(['service', 'create', '--name', 'evt', '--detach', '--replicas', '0', 'mesh/busybox:latest', 'sleep', '600'])
    t.equal(r.code, 0, r.stderr.trim())
    const id = r.stdout.trim()   // the short id, as docker prints it
    const line = await waitFor(() => events.stdout().split('\n').find((l) => l.includes('"create"') && l.includes('evt')), 20_000,
      { intervalMs: 250, what: 'the create event' })
    const e = JSON.parse(line) as { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; scope?: string }
    t.match(e, { Type: 'service', Action: 'create', Actor: { Attributes: { name: 'evt' } } })
    t.ok(e.Actor.ID.startsWith(id) && id.length === 12, `the service's id (${e.Actor.ID})`)
    await killAndReap(events)
    t.equal((await ctx.mesh(['service', 'rm', 'evt'])).code, 0)
  })

  await t.test('Prometheus dockerswarm_sd_configs: the tasks with their labels; a task gone after scale down', { skip: !havePrometheus() && 'no /usr/bin/prometheus' }, async (t) => {
    const host = `unix://${sock}`
    const prom = await startPrometheus({
      config: {
        global: { scrape_interval: '1m', evaluation_interval: '1m' },
        scrape_configs: [
          swarmJob({ name: 'tasks', host, role: 'tasks', refreshSeconds: 5, relabel: KEEP_RUNNING_TASKS }),
          swarmJob({ name: 'nodes', host, role: 'nodes', refreshSeconds: 5, port: 9947 }),
        ],
      },
      port: 19090,
      spawn: (argv, o) => mgr.spawn(argv, o),
      get: async (url) => {
        const r = await mgr.exec(['curl', '-s', '--max-time', '5', '-w', '\n%{http_code}', url])
        const cut = r.stdout.lastIndexOf('\n')
        return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) }
      },
    })
    ctx.procs.push(prom.proc)
    t.teardown(() => prom.stop())
    const of = (ts: ActiveTarget[], service: string) => ts.filter((x) => x.discoveredLabels.__meta_dockerswarm_service_name === service)
    const slots = (ts: ActiveTarget[]) => ts.map((x) => Number(x.discoveredLabels.__meta_dockerswarm_task_slot)).sort()
    const want = async () => (await runningWeb()).map((x) => x.slot).sort()

    const web = await want()
    const got = await waitFor(async () => {
      const ts = jobTargets(await prom.targets(), 'tasks')
      return of(ts, 'hello').length >= 1 && slots(of(ts, 'web')).join() === web.join() ? ts : null
    }, 30_000, { intervalMs: 1000, what: `tasks targets for hello and web slots ${web.join()}` })
    for (const x of [...of(got, 'web'), ...of(got, 'hello')]) {
      const l = x.discoveredLabels
      t.match(l, {
        __meta_dockerswarm_task_desired_state: 'running',
        __meta_dockerswarm_task_state: 'running',
        __meta_dockerswarm_network_name: 'mesh',
        __meta_dockerswarm_node_hostname: /^node[12]$/,
        __meta_dockerswarm_service_mode: 'replicated',
      }, `${l.__meta_dockerswarm_service_name}.${l.__meta_dockerswarm_task_slot} on ${l.__meta_dockerswarm_node_hostname} at ${l.__address__}`)
      t.match(l.__address__, /^10\.77\.\d+\.\d+:\d+$/, 'its overlay address')
    }
    t.match(of(got, 'hello')[0]?.discoveredLabels.__address__, /:8080$/, 'hello: the published port, as Prometheus writes it')
    const nodeTargets = jobTargets(await prom.targets(), 'nodes')
    t.same(nodeTargets.map((x) => x.discoveredLabels.__meta_dockerswarm_node_hostname).sort(), [mgr.name, ctx.w1.name], 'nodes role: both nodes')
    t.same(nodeTargets.map((x) => x.discoveredLabels.__address__).sort(), [`${mgr.ip}:9947`, `${ctx.w1.ip}:9947`])

    const scale = await ctx.mesh(['service', 'scale', `web=${web.length - 1}`], 120_000)
    t.equal(scale.code, 0, scale.stderr.trim())
    const fewer = await want()
    t.equal(fewer.length, web.length - 1)
    await waitFor(async () => slots(of(jobTargets(await prom.targets(), 'tasks'), 'web')).join() === fewer.join(), 20_000,
      { intervalMs: 1000, what: `web targets down to slots ${fewer.join()}` })
    t.pass(`web targets: slots ${web.join()} → ${fewer.join()}`)
    await prom.stop()
    const back = await ctx.mesh(['service', 'scale', `web=${web.length}`], 120_000)
    t.equal(back.code, 0, `web back to ${web.length} (${back.stderr.trim()})`)
  })
}
