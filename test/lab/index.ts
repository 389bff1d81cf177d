/**
 * test/lab: several fake hosts on one machine, for mesh end-to-end tests.
 *
 * Each node is a network namespace with its own pinned mount + uts namespace: hostname `nodeI`, a private
 * tmpfs /run (so its own /run/wireguard, /run/docker.sock, ...), its own /etc/{hosts,resolv.conf,machine-id,
 * docker}, per-node cgroups, and its own containerd + dockerd (docker 20.10, API 1.41). Every engine has the
 * image `mesh/busybox:latest` (static busybox: sh, httpd, nc, nslookup, wget, ping, ...) and a user-defined
 * bridge network `lab` (172.31.I.0/24, outside mesh's overlay range; the default bridge is off, so always pass
 * `--network lab`). The nodes sit on an underlay bridge, 192.168.77.0/24 with node I at .1I, inside a
 * namespace `<prefix>-net` (.1) that has no uplink and no link to the host: nothing leaves the lab.
 *
 * Who calls it: e2e tests (test/e2e/*.test.ts), typically
 *   const lab = await createLab({ nodes: 3 })
 *   t.teardown(() => lab.down())
 *   await lab.nodes[0].exec(['ip', '-br', 'addr'])                        // one-shot, inside node1
 *   const agent = lab.nodes[0].spawn(['node', 'bin/mesh.js', 'agent'])   // a Proc (test/support/procs.ts)
 *   await lab.nodes[1].docker(['run', '-d', '--network', 'lab', 'mesh/busybox', 'httpd', '-f'])
 *   await lab.client.exec(['wget', '-qO-', 'http://192.168.77.11:8080/'])   // from outside every node
 *
 * The work is done by test/lab/lab.sh (bash, needs root); this module is a typed wrapper around it.
 * docs/lab.md has the layout, the CLI and the pitfalls.
 *
 * Invariants: everything a run creates is recorded in /var/lib/meshlab/<prefix>/state before it exists, and
 * teardown goes by recorded PIDs, cgroups and namespace inodes, never by process name. A run goes away by
 * `down()`, else by the 'exit'/signal backstop installed here, else by the stale sweep at the next `up`
 * (this process is the run's recorded owner).
 * Never: traffic outside 127.0.0.0/8 and the lab's own namespaces; touching anything the run did not create.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { run, spawnProc, type Proc, type RunResult } from '../support/procs.ts'

/** The bash implementation this module drives. */
export const LAB_SH = fileURLToPath(new URL('./lab.sh', import.meta.url))
/** The docker CLI matching the lab's dockerd 20.10 (/usr/local/bin/docker is a 28.x CLI). */
export const LAB_DOCKER = '/usr/bin/docker'
/** The image every engine has, and the user-defined network every engine has. */
export const LAB_IMAGE = 'mesh/busybox:latest'
export const LAB_NETWORK = 'lab'

export interface LabOptions {
  /** Number of nodes, 1..40. */
  nodes: number
  /** Run prefix, `^[a-z][a-z0-9]{1,11}$`; names `<prefix>-net`, `<prefix>-nI`. Default: `ml` + 6 random hex digits. */
  prefix?: string
  /** Limit for `up`, ms. Default 120000. */
  upTimeoutMs?: number
  /** Leave a failed `up` in place for inspection (`lab.sh -p P down` later). Default false. */
  keepOnFailure?: boolean
  /** Registries every engine may reach over plain HTTP (`daemon.json` insecure-registries), e.g. `192.168.77.1:5000`. */
  insecureRegistries?: string[]
}

export interface ExecOptions {
  /** Killed with SIGKILL after this long, ms. Default 30000. */
  timeoutMs?: number
  env?: NodeJS.ProcessEnv
}

export interface SpawnOptions {
  /** Label used in messages and by `Proc.name`. Default: `nodeI <cmd>`. */
  name?: string
  env?: NodeJS.ProcessEnv
}

export interface ApiResponse {
  status: number
  body: string
}

export interface NodeStats {
  node: string
  /** Charged to the node's memory cgroup (daemons, containers, page cache they touched first), MiB. */
  memoryMiB: number
  rssMiB: number
  /** Proportional set size of its tasks (shared binary text split between the nodes), MiB. */
  pssMiB: number
  tasks: number
}

export class LabError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = 'LabError'
  }
}

interface NodeInfo {
  index: number
  name: string
  netns: string
  ip: string
  dir: string
  socket: string
  alive: boolean
}

interface RunInfo {
  prefix: string
  stateDir: string
  labnet: string
  gateway: string
  nodes: NodeInfo[]
}

/** True when the lab can be built at all here (it needs root). */
export function isRoot(): boolean {
  return process.getuid?.() === 0
}

const lastLines = (s: string, n = 8): string => s.trim().split('\n').slice(-n).join('\n')

/** One fake host. Commands run inside its namespaces and cgroups; `docker` talks to its own engine. */
export class LabNode {
  readonly index: number
  /** `nodeI`, also its hostname. */
  readonly name: string
  readonly netns: string
  /** Underlay address, 192.168.77.1I. */
  readonly ip: string
  /** Its state dir: logs in `log/`, docker data-root in `docker/`. */
  readonly dir: string
  /** Its dockerd's host-visible API socket (inside the node it is also /run/docker.sock). */
  readonly socketPath: string
  #alive: boolean
  readonly #lab: Lab

  constructor(lab: Lab, i: NodeInfo) {
    this.#lab = lab
    this.index = i.index
    this.name = i.name
    this.netns = i.netns
    this.ip = i.ip
    this.dir = i.dir
    this.socketPath = i.socket
    this.#alive = i.alive
  }

  get alive(): boolean {
    return this.#alive
  }

  /** @internal kept in step by Lab.killNode / restartNode */
  setAlive(v: boolean): void {
    this.#alive = v
  }

  /** Run `cmd` inside the node (its net + mount + uts namespaces and cgroups), cwd = repo root. Never rejects. */
  exec(cmd: readonly string[], o: ExecOptions = {}): Promise<RunResult> {
    return this.#lab.sh(['exec', this.name, '--', ...cmd], o)
  }

  /** Run /usr/bin/docker against this node's engine. Never rejects. */
  docker(args: readonly string[], o: ExecOptions = {}): Promise<RunResult> {
    return run(LAB_DOCKER, ['-H', `unix://${this.socketPath}`, ...args], { timeoutMs: o.timeoutMs ?? 60_000, ...(o.env ? { env: o.env } : {}) })
  }

  /** One request to this node's Docker Engine API (e.g. `api('GET', '/_ping')`). Rejects on a socket error. */
  api(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
      const req = http.request({
        socketPath: this.socketPath, method, path, timeout: timeoutMs,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new LabError('LAB_ERR_API', `lab: ${this.name}: ${method} ${path} timed out after ${timeoutMs} ms`)))
      req.on('error', reject)
      req.end(data)
    })
  }

  /**
   * Start `cmd` in the background inside the node (PID recorded in the run's state; killed by down/killNode at
   * the latest, or with this process). Returns a Proc from test/support/procs.ts (stdout()/stderr(), exited;
   * stop() and waitFor() work on it) plus `logPath`, a copy of its output in the node's log dir.
   */
  spawn(cmd: readonly string[], o: SpawnOptions = {}): Proc & { logPath: string } {
    const [file, args] = this.#lab.shArgs(['exec', this.name, '--record', '--', ...cmd])
    const proc = spawnProc(file, args, { name: o.name ?? `${this.name} ${cmd[0] ?? ''}`, ...(o.env ? { env: o.env } : {}) })
    const label = (o.name ?? cmd[0] ?? 'proc').replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 40)
    const logPath = `${this.dir}/log/spawn-${label}-${proc.pid}.log`
    const log = createWriteStream(logPath, { flags: 'a' })
    log.on('error', () => {}) // the run may be torn down under it
    proc.child.stdout?.on('data', (b: Buffer) => log.write(b))
    proc.child.stderr?.on('data', (b: Buffer) => log.write(b))
    void proc.exited.then(() => log.end())
    return Object.assign(proc, { logPath })
  }
}

/** A running lab: `nodes[0]` is node1. */
export class Lab {
  readonly prefix: string
  readonly stateDir: string
  /** The underlay namespace, and its address on lab0 (also every node's default gateway and resolver). */
  readonly labnet: string
  readonly gateway: string
  readonly nodes: LabNode[]
  /** Commands in the labnet namespace: on the underlay, outside every node (curl-from-outside tests). */
  readonly client: { exec(cmd: readonly string[], o?: ExecOptions): Promise<RunResult> }
  /** How long `up` took, ms. */
  readonly upMs: number
  #down: Promise<void> | null = null

  constructor(info: RunInfo, upMs: number) {
    this.prefix = info.prefix
    this.stateDir = info.stateDir
    this.labnet = info.labnet
    this.gateway = info.gateway
    this.upMs = upMs
    this.nodes = info.nodes.map((n) => new LabNode(this, n))
    this.client = { exec: (cmd, o = {}) => this.sh(['client', ...cmd], o) }
  }

  /** @internal argv that runs lab.sh for this run */
  shArgs(args: readonly string[]): [string, string[]] {
    return ['bash', [LAB_SH, '-p', this.prefix, ...args]]
  }

  /** @internal */
  sh(args: readonly string[], o: ExecOptions = {}): Promise<RunResult> {
    const [file, argv] = this.shArgs(args)
    return run(file, argv, { timeoutMs: o.timeoutMs ?? 30_000, ...(o.env ? { env: o.env } : {}) })
  }

  /** A node by index (1-based), name (`node2`) or object. */
  node(n: LabNode | number | string): LabNode {
    const found = typeof n === 'object' ? n : this.nodes.find((x) => x.index === Number(String(n).replace(/^node/, '')))
    if (!found || !this.nodes.includes(found)) throw new LabError('LAB_ERR_NODE', `lab ${this.prefix}: no node ${String(n)}`)
    return found
  }

  /** SIGKILL everything of the node and delete its namespaces, like a host losing power. Its data dir stays. */
  async killNode(n: LabNode | number | string): Promise<void> {
    const node = this.node(n)
    const r = await this.sh(['kill-node', node.name], { timeoutMs: 60_000 })
    if (r.code !== 0) throw new LabError('LAB_ERR_NODE', `lab ${this.prefix}: kill-node ${node.name} failed: ${lastLines(r.stderr)}`)
    node.setAlive(false)
  }

  /** Re-create a node (killing it first if alive) with the same address, identity and docker data. */
  async restartNode(n: LabNode | number | string): Promise<void> {
    const node = this.node(n)
    const r = await this.sh(['restart-node', node.name], { timeoutMs: 120_000 })
    if (r.code !== 0) throw new LabError('LAB_ERR_NODE', `lab ${this.prefix}: restart-node ${node.name} failed: ${lastLines(r.stderr)}`)
    node.setAlive(true)
  }

  /** Memory and task count per live node. */
  async stats(): Promise<NodeStats[]> {
    const r = await this.sh(['stats'])
    const out: NodeStats[] = []
    for (const m of r.stdout.matchAll(/^(node\d+) memory_cgroup_MiB=(\d+) rss_MiB=(\d+) pss_MiB=(\d+) tasks=(\d+)$/gm)) {
      out.push({ node: m[1] as string, memoryMiB: Number(m[2]), rssMiB: Number(m[3]), pssMiB: Number(m[4]), tasks: Number(m[5]) })
    }
    return out
  }

  /** Tear everything down (idempotent; concurrent calls share one teardown). Rejects if something stayed. */
  down(): Promise<void> {
    this.#down ??= (async () => {
      const r = await this.sh(['down'], { timeoutMs: 120_000 })
      if (r.code !== 0) {
        this.#down = null
        throw new LabError('LAB_ERR_DOWN', `lab ${this.prefix}: down failed: ${lastLines(r.stderr)}`)
      }
      live.delete(this.prefix)
    })()
    return this.#down
  }
}

/** Runs of this process not yet torn down: the backstop below downs them. */
const live = new Set<string>()
let hooksInstalled = false

function downSync(prefix: string): void {
  spawnSync('bash', [LAB_SH, '-p', prefix, 'down'], { stdio: 'ignore', timeout: 120_000 })
  live.delete(prefix)
}

function downLiveSync(): void {
  for (const prefix of live) downSync(prefix)
}

/** 'exit' and SIGINT/SIGTERM/SIGHUP/SIGALRM (tap's timeout) tear down this process's runs synchronously. */
function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', downLiveSync)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM'] as const) {
    const onSignal = (): void => {
      downLiveSync()
      // Step aside and re-raise, so the default action (or whoever else listens) still ends the process.
      process.removeListener(sig, onSignal)
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

/**
 * Build a lab of `o.nodes` nodes (also sweeps away runs whose owner process is gone). Rejects with a LabError
 * naming the failed step; a failed `up` leaves nothing behind unless `keepOnFailure`.
 */
export async function createLab(o: LabOptions): Promise<Lab> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 40) {
    throw new LabError('LAB_ERR_ARGS', `lab: nodes must be an integer in 1..40, got ${o.nodes}`)
  }
  if (!isRoot()) throw new LabError('LAB_ERR_ROOT', 'lab: needs root (namespaces, mounts, cgroups)')
  const prefix = o.prefix ?? `ml${randomBytes(3).toString('hex')}`
  if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix)) throw new LabError('LAB_ERR_ARGS', `lab: bad prefix "${prefix}" (want ^[a-z][a-z0-9]{1,11}$)`)
  installHooks()
  live.add(prefix)
  const args = [LAB_SH, 'up', String(o.nodes), '--prefix', prefix, '--owner', String(process.pid), '--json']
  if (o.keepOnFailure) args.push('--keep-on-failure')
  for (const r of o.insecureRegistries ?? []) args.push('--insecure-registry', r)
  const started = Date.now()
  const r = await run('bash', args, { timeoutMs: o.upTimeoutMs ?? 120_000 })
  if (r.code !== 0) {
    if (o.keepOnFailure) live.delete(prefix)
    else downSync(prefix) // after a timeout lab.sh could not clean up itself
    throw new LabError('LAB_ERR_UP', `lab ${prefix}: up ${o.nodes} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${lastLines(r.stderr)}`)
  }
  const json = r.stdout.trim().split('\n').pop() ?? ''
  return new Lab(JSON.parse(json) as RunInfo, Date.now() - started)
}
