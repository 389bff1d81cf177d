/**
 * Helpers for the 3-manager lab (test/e2e/ha.test.ts, bench/ha-failover.ts): which manager leads, killing a
 * manager's agent and its etcd member by PID (kill -9, as a crash), restarting it, an admin CLI in the lab's client
 * namespace that fails over between the managers (MESH_HOST=tcp://a,tcp://b,tcp://c), and the final state as users
 * see it (service inspect, service ps, docker ps on every node).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LabNode } from '../../lab/index.ts'
import { MESH_BIN, waitFor, type RunResult } from '../../support/procs.ts'
import type { MeshLab } from '../../support/mesh-lab.ts'
import type { ContainerState, ServiceState, TaskState } from './history.ts'

export const IMAGE = 'mesh/busybox:latest'
export const SLEEP = ['sleep', '86400']

/** The PID of the etcd member a manager's agent started (found by its data dir), or undefined. */
export function etcdPid(c: MeshLab, n: LabNode): number | undefined {
  const flag = `--data-dir=${join(c.dataDir(n), 'etcd')}`
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')
      if (argv.includes(flag) && argv.some((a) => a.endsWith('etcd'))) return Number(d)
    } catch {
      // gone meanwhile
    }
  }
  return undefined
}

/** kill -9 a manager's etcd member and its agent (both by PID), as a crash of the machine would. */
export async function killManager(c: MeshLab, n: LabNode): Promise<void> {
  const pid = etcdPid(c, n)
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await c.killAgent(n)
  if (pid !== undefined) await waitFor(() => !isAlive(pid), 10_000, { intervalMs: 50, what: `etcd ${pid} on ${n.name} gone` })
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    // A zombie still answers: look at its state.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** Restart a manager's agent (its etcd member restarts from <data-dir>/etcd); resolves once its API answers. */
export async function restartManager(c: MeshLab, n: LabNode, timeoutMs = 120_000): Promise<void> {
  const p = c.agent(n, [])
  await waitFor(async () => {
    if (!p.running()) throw new Error(`${n.name}'s agent exited at restart: ${p.tail(5)}`)
    return (await c.mesh(['node', 'ls'], 30_000, n)).code === 0
  }, timeoutMs, { intervalMs: 1000, what: `manager ${n.name} serving again` })
}

interface NodeJson { id: string; hostname: string; state: string; managerStatus?: { leader?: boolean; reachability?: string } }

/** The leading manager's hostname as `on` sees it (`mesh node ls`), or undefined. */
export async function leaderName(c: MeshLab, on: LabNode): Promise<string | undefined> {
  const r = await c.mesh(['node', 'ls', '--json'], 30_000, on)
  if (r.code !== 0) return undefined
  return (JSON.parse(r.stdout) as NodeJson[]).find((x) => x.managerStatus?.leader)?.hostname
}

/**
 * The mesh CLI as an admin on the lab's client namespace (outside every node), with an admin bundle
 * (`mesh ca issue-client`) and MESH_HOST listing every manager, `first` first (the CLI tries them in order).
 */
export class AdminCli {
  readonly #c: MeshLab
  readonly #dir: string

  private constructor(c: MeshLab, dir: string) {
    this.#c = c
    this.#dir = dir
  }

  static async issue(c: MeshLab): Promise<AdminCli> {
    const dir = join(c.manager.dir, 'admin-ha')
    const r = await c.mesh(['ca', 'issue-client', 'ha', '--out', dir])
    if (r.code !== 0) throw new Error(`mesh ca issue-client: ${r.stderr.trim()}`)
    return new AdminCli(c, dir)
  }

  hosts(first: number): string {
    const ms = this.#c.managers
    return ms.map((_, k) => `tcp://${(ms[(first + k) % ms.length] as LabNode).ip}:7947`).join(',')
  }

  run(args: readonly string[], first = 0, timeoutMs = 90_000): Promise<RunResult> {
    return this.#c.lab.client.exec(['env', `MESH_HOST=${this.hosts(first)}`, `MESH_CERT_PATH=${this.#dir}`, 'node', MESH_BIN, ...args], { timeoutMs })
  }
}

interface ServiceJson { spec: { name: string; env?: string[]; mode: { replicated?: { replicas: number } } } }
interface TaskJson { serviceName: string; slot: number; desiredState: string; status: { state: string } }

/** The final state through `run` (a CLI): services, their tasks, and the running containers on every live node. */
export async function observe(c: MeshLab, run: (args: string[]) => Promise<RunResult>): Promise<{ services: ServiceState[]; tasks: TaskState[]; containers: ContainerState[] }> {
  const ok = async (args: string[]): Promise<string> => {
    const r = await run(args)
    if (r.code !== 0) throw new Error(`mesh ${args.join(' ')}: ${r.stderr.trim()}`)
    return r.stdout
  }
  const ids = (await ok(['service', 'ls', '-q'])).split('\n').map((x) => x.trim()).filter(Boolean)
  const views = ids.length > 0 ? JSON.parse(await ok(['service', 'inspect', ...ids])) as ServiceJson[] : []
  const services = views.map((v) => ({ name: v.spec.name, replicas: v.spec.mode.replicated?.replicas ?? -1, env: v.spec.env ?? [] }))
  const tasks: TaskState[] = []
  if (services.length > 0) {
    for (const x of JSON.parse(await ok(['service', 'ps', ...services.map((s) => s.name), '--json'])) as TaskJson[]) {
      tasks.push({ serviceName: x.serviceName, slot: x.slot, desiredState: x.desiredState, state: x.status.state })
    }
  }
  const containers: ContainerState[] = []
  for (const n of c.lab.nodes) {
    if (!c.agents.has(n.name)) continue
    const r = await n.docker(['ps', '--filter', 'label=mesh.managed', '--format', '{{.Names}}'])
    if (r.code !== 0) throw new Error(`${n.name}: docker ps: ${r.stderr.trim()}`)
    for (const name of r.stdout.split('\n').map((x) => x.trim()).filter(Boolean)) containers.push({ node: n.name, name })
  }
  return { services, tasks, containers }
}
