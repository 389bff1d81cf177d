/**
 * A real Prometheus (Debian's `prometheus` package, /usr/bin/prometheus) as a test child: its own temp dir for the
 * config and the TSDB, the web UI on a loopback port, ready when `/-/ready` says so; the evidence is its own
 * `/api/v1/targets` (active and dropped targets, with the labels discovery gave them). Stopped by PID, dir removed.
 *
 * On this host by default; inside a lab node by passing the node's `spawn` and a `get` that runs curl in the node
 * (the node's loopback is not this process's): /tmp is shared with the nodes, so the config path is the same.
 * The config is JSON (a YAML subset, which Prometheus reads as YAML); `swarmJob` builds a dockerswarm_sd_configs job.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnProc, stop, StopWaiting, waitFor, type Proc } from './procs.ts'

export const PROMETHEUS_BIN = '/usr/bin/prometheus'

/** Whether Debian's prometheus is installed (test/setup.sh installs it). */
export const havePrometheus = (): boolean => existsSync(PROMETHEUS_BIN)

export interface HttpAnswer { status: number; body: string }

export interface PrometheusOptions {
  /** The whole configuration (global, scrape_configs), written as JSON. */
  config: Record<string, unknown>
  /** Start the command: default a child of this process; a lab node's `spawn` runs it in the node. */
  spawn?: (argv: string[], o: { name: string }) => Proc
  /** One GET: default fetch from this process; in a lab node, curl through `node.exec`. */
  get?: (url: string) => Promise<HttpAnswer>
  /** Listen port on 127.0.0.1: default a free port on this host's loopback. */
  port?: number
  /** How long to wait for `/-/ready`, ms. Default 30 s. */
  readyTimeoutMs?: number
}

/** One active target of /api/v1/targets (the fields the tests read). */
export interface ActiveTarget {
  discoveredLabels: Record<string, string>
  labels: Record<string, string>
  scrapePool: string
  scrapeUrl: string
  health: string
  lastError: string
}

/** A target that relabelling dropped: only what discovery gave. */
export interface DroppedTarget {
  discoveredLabels: Record<string, string>
}

export interface Targets {
  active: ActiveTarget[]
  dropped: DroppedTarget[]
}

export interface Prometheus {
  /** http://127.0.0.1:PORT (reachable where the process runs). */
  readonly url: string
  readonly dir: string
  readonly proc: Proc
  /** `/api/v1/targets?state=any`: active and dropped; rejects on a non-200 or a non-success answer. */
  targets(): Promise<Targets>
  /** SIGTERM by PID (then SIGKILL), reap, remove the dir. Idempotent. */
  stop(): Promise<void>
}

/** A free TCP port on this host's 127.0.0.1 (bound, read, closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

async function fetchGet(url: string): Promise<HttpAnswer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) })
  return { status: res.status, body: await res.text() }
}

/** Start Prometheus and wait until it is ready; on failure it is stopped and its dir removed before the throw. */
export async function startPrometheus(o: PrometheusOptions): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-prom-'))
  const configPath = join(dir, 'prometheus.yml')
  writeFileSync(configPath, JSON.stringify(o.config, null, 2))
  const port = o.port ?? (await freePort())
  const url = `http://127.0.0.1:${port}`
  const get = o.get ?? fetchGet
  const argv = [
    PROMETHEUS_BIN,
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=info',
  ]
  const proc = o.spawn ? o.spawn(argv, { name: 'prometheus' }) : spawnProc(argv[0] as string, argv.slice(1), { name: 'prometheus' })
  let stopped = false
  const prom: Prometheus = {
    url, dir, proc,
    async targets() {
      const r = await get(`${url}/api/v1/targets?state=any`)
      if (r.status !== 200) throw new Error(`prometheus /api/v1/targets: ${r.status} ${r.body.slice(0, 200)}`)
      const body = JSON.parse(r.body) as { status: string; data: { activeTargets: ActiveTarget[]; droppedTargets: DroppedTarget[] } }
      if (body.status !== 'success') throw new Error(`prometheus /api/v1/targets: ${r.body.slice(0, 200)}`)
      return { active: body.data.activeTargets, dropped: body.data.droppedTargets }
    },
    async stop() {
      if (stopped) return
      stopped = true
      await stop(proc, 'SIGTERM', 10_000)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await waitFor(async () => {
      if (!proc.running()) throw new StopWaiting(`prometheus exited: ${proc.tail(10)}`)
      return (await get(`${url}/-/ready`)).status === 200
    }, o.readyTimeoutMs ?? 30_000, { intervalMs: 250, what: `prometheus ${url}/-/ready` })
  } catch (err) {
    await prom.stop()
    throw err
  }
  return prom
}

export interface SwarmJobOptions {
  /** Job name (the `job` label and `scrapePool`). */
  name: string
  /** The Docker API address: `unix:///path/docker-api.sock`. */
  host: string
  role: 'tasks' | 'nodes' | 'services'
  /** Discovery refresh, seconds. Default 5. */
  refreshSeconds?: number
  /** Port for targets without a published port. Prometheus's default is 80. */
  port?: number
  /** relabel_configs, as Prometheus writes them. */
  relabel?: Record<string, unknown>[]
}

/** One scrape_configs entry with dockerswarm_sd_configs (scrape interval long: discovery is what is under test). */
export function swarmJob(o: SwarmJobOptions): Record<string, unknown> {
  return {
    job_name: o.name,
    scrape_interval: '1m',
    scrape_timeout: '2s',
    dockerswarm_sd_configs: [{
      host: o.host,
      role: o.role,
      refresh_interval: `${o.refreshSeconds ?? 5}s`,
      ...(o.port === undefined ? {} : { port: o.port }),
    }],
    ...(o.relabel ? { relabel_configs: o.relabel } : {}),
  }
}

/** The Prometheus docs' dockerswarm example: keep the tasks whose desired state is running. */
export const KEEP_RUNNING_TASKS: Record<string, unknown>[] = [
  { source_labels: ['__meta_dockerswarm_task_desired_state'], regex: 'running', action: 'keep' },
]

/** The active targets of one job. */
export const jobTargets = (t: Targets, job: string): ActiveTarget[] => t.active.filter((x) => x.scrapePool === job)
