/**
 * A mesh cluster on the netns lab, as a user builds it: `mesh agent --init` on node1, `mesh agent --join … --token`
 * on the others, driven with the `mesh` CLI run on the manager. Shared by the e2e tests (test/e2e/*.test.ts).
 *
 *   const c = await meshLab(t, { nodes: 4 })          // lab + agents up, all nodes Ready; torn down with the test
 *   await c.mesh(['service', 'create', …])            // the CLI on node1 (local manager socket)
 *   const tasks = await c.json<Task[]>(['service', 'ps', 'web'])
 *
 * Addresses: only the lab's own namespaces. Agents are killed by PID at teardown (test/support/procs.ts).
 */
import { join } from 'node:path'
import { createLab, type Lab, type LabNode, type LabOptions } from '../lab/index.ts'
import { MESH_BIN, killAndReap, waitFor, type Proc, type RunResult } from './procs.ts'

export interface Task {
  id: string
  serviceName: string
  slot: number
  nodeId: string
  desiredState: string
  status: { state: string; message: string; err?: string; health?: string }
  ip?: string
}
export interface Node { id: string; hostname: string; state: string; role: string; availability: string }

/** The teardown hook a tap test has. */
interface Teardown { teardown(fn: () => unknown): void }

export interface MeshLabOptions extends Omit<LabOptions, 'nodes'> {
  /** Lab nodes; node1 is the manager, the rest join as workers. */
  nodes: number
  /** Extra `mesh agent` flags for every node. */
  agentArgs?: string[]
}

export class MeshLab {
  readonly agents = new Map<string, Proc>()
  token = ''
  /** Node id → hostname, filled once every node is Ready. */
  readonly nodeName = new Map<string, string>()

  constructor(readonly lab: Lab, readonly agentArgs: string[]) {}

  get manager(): LabNode { return this.lab.nodes[0] as LabNode }
  get workers(): LabNode[] { return this.lab.nodes.slice(1) }

  dataDir(n: LabNode): string { return join(n.dir, 'mesh') }

  /** Start (or restart) `mesh agent` on a node. */
  agent(n: LabNode, args: string[]): Proc {
    const p = n.spawn(['node', MESH_BIN, 'agent', '--bind', n.ip, '--name', n.name, '--data-dir', this.dataDir(n), '--overlay', 'on',
      ...this.agentArgs, ...args], { name: `agent ${n.name}` })
    this.agents.set(n.name, p)
    return p
  }

  /** Kill a node's agent by PID (SIGKILL). */
  async killAgent(n: LabNode): Promise<void> {
    const p = this.agents.get(n.name)
    if (p) await killAndReap(p)
    this.agents.delete(n.name)
  }

  /** The `mesh` CLI on `on` (default: the manager, through its local socket). */
  mesh(args: string[], timeoutMs = 60_000, on: LabNode = this.manager): Promise<RunResult> {
    return on.exec(['env', `MESH_DATA_DIR=${this.dataDir(on)}`, 'node', MESH_BIN, ...args], { timeoutMs })
  }

  async json<T>(args: string[]): Promise<T> {
    const r = await this.mesh([...args, '--json'])
    if (r.code !== 0) throw new Error(`mesh ${args.join(' ')}: ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }

  /** Tasks of a service that are desired running and running. */
  async running(service: string): Promise<Task[]> {
    return (await this.json<Task[]>(['service', 'ps', service])).filter((x) => x.desiredState === 'running' && x.status.state === 'running')
  }

  /** Wait until `n` nodes are Ready in `node ls`. */
  async waitReady(n: number, timeoutMs = 90_000): Promise<Node[]> {
    const nodes = await waitFor(async () => {
      const all = await this.json<Node[]>(['node', 'ls'])
      return all.filter((x) => x.state === 'ready').length === n ? all : null
    }, timeoutMs, { intervalMs: 1000, what: `${n} ready nodes` })
    for (const x of nodes) this.nodeName.set(x.id, x.hostname)
    return nodes
  }

  async stop(): Promise<void> {
    for (const a of this.agents.values()) await killAndReap(a).catch(() => undefined)
    this.agents.clear()
  }
}

/** A lab with `mesh` running on every node (node1 manager, the others workers), all Ready. */
export async function meshLab(t: Teardown, o: MeshLabOptions): Promise<MeshLab> {
  const { agentArgs = [], ...labOpts } = o
  const lab = await createLab(labOpts)
  t.teardown(() => lab.down())
  const c = new MeshLab(lab, agentArgs)
  t.teardown(() => c.stop())
  c.agent(c.manager, ['--init'])
  await waitFor(async () => (await c.mesh(['token', 'show', 'worker', '-q'])).code === 0, 60_000, { intervalMs: 500, what: 'manager API up' })
  c.token = (await c.mesh(['token', 'show', 'worker', '-q'])).stdout.trim()
  for (const w of c.workers) c.agent(w, ['--join', c.manager.ip, '--token', c.token])
  await c.waitReady(o.nodes)
  return c
}
