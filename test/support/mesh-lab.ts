/**
 * A mesh cluster on the netns lab, as a user builds it: `mesh agent --init` on node1, `mesh agent --join … --token`
 * on the others, driven with the `mesh` CLI run on the manager. Shared by the e2e tests (test/e2e/*.test.ts).
 *
 *   const c = await meshLab(t, { nodes: 4 })          // lab + agents up, all nodes Ready; torn down with the test
 *   await c.mesh(['service', 'create', …])            // the CLI on node1 (local manager socket)
 *   const tasks = await c.json<Task[]>(['service', 'ps', 'web'])
 *
 * Addresses: only the lab's own namespaces. Agents are killed by PID at teardown (test/support/procs.ts).
 *
 * Services the e2e tests create only as a setting are given `--update-monitor 1s`: the CLI counts a task only once it
 * has run for the monitor period (docker's default 5 s, which the parity and crash-loop tests keep), and 5 s on every
 * command adds minutes to CI for no assertion.
 */
import { execFileSync } from 'node:child_process'
import { appendFileSync, chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { createLab, type Lab, type LabNode, type LabOptions } from '../lab/index.ts'
import { MESH_BIN, StopWaiting, killAndReap, waitFor, type Proc, type RunResult } from './procs.ts'

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

const ARTIFACTS = fileURLToPath(new URL('../artifacts/e2e-logs', import.meta.url))

/** The teardown hook a tap test has. */
interface Teardown { teardown(fn: () => unknown): void }

export interface MeshLabOptions extends Omit<LabOptions, 'nodes'> {
  /** Lab nodes; node1 is the manager, the rest join as workers (or as managers: `managers`). */
  nodes: number
  /**
   * Managers (default 1): node1 `--init`, then node2…node<managers> join with the manager token, one at a time (each
   * adds an etcd member: with more than one, pass `managerArgs: ['--store', 'etcd']`). The rest join as workers.
   */
  managers?: number
  /** Extra `mesh agent` flags for every node. */
  agentArgs?: string[]
  /** Extra flags for the manager only (e.g. `--cert-expiry 2m`). */
  managerArgs?: string[]
  /** Runs once the manager is up, before any worker joins (e.g. start a capture of the join). */
  beforeJoin?: (c: MeshLab) => Promise<void>
}

export class MeshLab {
  readonly agents = new Map<string, Proc>()
  token = ''
  /** Node id → hostname, filled once every node is Ready. */
  readonly nodeName = new Map<string, string>()

  readonly lab: Lab
  readonly agentArgs: string[]

  constructor(lab: Lab, agentArgs: string[]) {
    this.lab = lab
    this.agentArgs = agentArgs
  }

  /** How many of the first nodes are managers (meshLab's `managers`). */
  managerCount = 1

  get manager(): LabNode { return this.lab.nodes[0] as LabNode }
  /** The manager nodes: node1 and the ones that joined with the manager token. */
  get managers(): LabNode[] { return this.lab.nodes.slice(0, this.managerCount) }
  get workers(): LabNode[] { return this.lab.nodes.slice(this.managerCount) }

  dataDir(n: LabNode): string { return join(n.dir, 'mesh') }

  /** Start (or restart) `mesh agent` on a node; `env` (e.g. MESH_JOIN_TOKEN) keeps secrets out of argv. */
  agent(n: LabNode, args: string[], env: Record<string, string> = {}): Proc {
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
    const p = n.spawn([...(vars.length > 0 ? ['env', ...vars] : []), 'node', MESH_BIN, 'agent', '--bind', n.ip, '--name', n.name, '--data-dir', this.dataDir(n), '--overlay', 'on',
      ...this.agentArgs, ...args], { name: `agent ${n.name}` })
    this.agents.set(n.name, p)
    return p
  }

  /** Kill a node's agent by PID (SIGKILL); its output is kept (see saveLog). */
  async killAgent(n: LabNode): Promise<void> {
    const p = this.agents.get(n.name)
    if (p) {
      await killAndReap(p)
      this.saveLog(n.name, p)
    }
    this.agents.delete(n.name)
  }

  /** Append an agent's output to test/artifacts/e2e-logs/<lab prefix>/<node>.log (for post-mortems; gitignored). */
  saveLog(node: string, p: Proc): void {
    const dir = join(ARTIFACTS, this.lab.prefix)
    mkdirSync(dir, { recursive: true })
    appendFileSync(join(dir, `${node}.log`), `--- ${p.name} pid ${p.pid} ${JSON.stringify(p.exitInfo())}\n${p.stdout()}${p.stderr()}`)
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

  /**
   * Up to `n` GETs of http://ip:port/ from the lab's client namespace (and for at most `maxS` seconds when given,
   * ending early once `stopFile` exists), one result each: the time and the body, or ERR. Bounded: 3 s per request.
   */
  async fetchLoop(ip: string, port: number, n: number, pauseS = 0, maxS = 0, stopFile = ''): Promise<{ ms: number; body: string }[]> {
    const stop = (maxS > 0 ? `[ $(date +%s) -ge $end ] && break; ` : '') + (stopFile ? `[ -e '${stopFile}' ] && break; ` : '')
    const script = `end=$(( $(date +%s) + ${maxS} )); for i in $(seq ${n}); do ${stop}b=$(curl -s -m 3 http://${ip}:${port}/) || b=ERR; ` +
      `echo "$(date +%s%3N) $b"; ${pauseS > 0 ? `sleep ${pauseS};` : ''} done`
    const r = await this.lab.client.exec(['sh', '-c', script], { timeoutMs: (maxS > 0 ? maxS * 1000 + 5000 : n * 4000) + 30_000 })
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => {
      const [ms, ...rest] = l.split(' ')
      return { ms: Number(ms), body: rest.join(' ').trim() }
    })
  }

  async stop(): Promise<void> {
    for (const [node, a] of this.agents) {
      await killAndReap(a).catch(() => undefined)
      this.saveLog(node, a)
    }
    this.agents.clear()
  }
}

/** A lab with `mesh` running on every node (node1 manager, the others workers), all Ready. */
export async function meshLab(t: Teardown, o: MeshLabOptions): Promise<MeshLab> {
  const { agentArgs = [], managerArgs = [], beforeJoin, managers = 1, ...labOpts } = o
  const lab = await createLab(labOpts)
  t.teardown(() => lab.down())
  const c = new MeshLab(lab, agentArgs)
  c.managerCount = managers
  t.teardown(() => c.stop())
  const m = c.agent(c.manager, ['--init', ...managerArgs])
  await waitFor(async () => {
    // An agent that exits at start (a bad flag, a stale dist/: bin/mesh.js says so) fails here with its own words.
    if (!m.running()) throw new StopWaiting(`the manager's agent exited at start ${JSON.stringify(m.exitInfo())}: ${m.tail(5)}`)
    return (await c.mesh(['token', 'show', 'worker', '-q'])).code === 0
  }, 60_000, { intervalMs: 500, what: 'manager API up' })
  c.token = (await c.mesh(['token', 'show', 'worker', '-q'])).stdout.trim()
  await beforeJoin?.(c)
  if (managers > 1) {
    const token = (await c.mesh(['token', 'show', 'manager', '-q'])).stdout.trim()
    for (const n of c.managers.slice(1)) {
      // One at a time: etcd adds one member only while every earlier one is started (--strict-reconfig-check).
      const p = c.agent(n, ['--join', c.manager.ip], { MESH_JOIN_TOKEN: token })
      await waitFor(async () => {
        if (!p.running()) throw new StopWaiting(`${n.name}'s agent exited at start ${JSON.stringify(p.exitInfo())}: ${p.tail(5)}`)
        return (await c.mesh(['node', 'ls'], 30_000, n)).code === 0
      }, 120_000, { intervalMs: 1000, what: `manager ${n.name} serving` })
    }
  }
  for (const w of c.workers) c.agent(w, ['--join', c.manager.ip], { MESH_JOIN_TOKEN: c.token })
  await c.waitReady(o.nodes)
  return c
}

/**
 * Import an image made of the lab's static busybox plus host binaries and the shared libraries they load
 * (`ldd`), on every node — for tools the busybox image lacks (e.g. socat for a UDP echo). No registry needed.
 */
export async function importImage(nodes: readonly LabNode[], name: string, binaries: readonly string[]): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'mesh-img-'))
  try {
    chmodSync(root, 0o755)
    mkdirSync(join(root, 'bin'), { recursive: true })
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'))
    execFileSync(join(root, 'bin/busybox'), ['--install', join(root, 'bin')])
    const files = new Set<string>()
    for (const b of binaries) {
      files.add(b)
      const ldd = execFileSync('ldd', [b], { encoding: 'utf8' })
      for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) files.add(m[1] as string)
    }
    for (const f of files) {
      mkdirSync(join(root, dirname(f)), { recursive: true })
      copyFileSync(f, join(root, f))
      chmodSync(join(root, f), 0o755)
    }
    const tar = join(root, '..', `${root.split('/').pop()}.tar`)
    execFileSync('tar', ['-C', root, '-cf', tar, '.'])
    try {
      for (const n of nodes) {
        const r = await n.docker(['import', '--change', 'CMD ["sh"]', '--change', 'ENV PATH=/usr/bin:/bin', tar, name], { timeoutMs: 120_000 })
        if (r.code !== 0) throw new Error(`${n.name}: docker import ${name}: ${r.stderr.trim()}`)
      }
    } finally {
      rmSync(tar, { force: true })
    }
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}
