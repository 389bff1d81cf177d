import http from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StopWaiting, killAndReap, run, spawnMesh, spawnProc, waitFor, type Proc, type RunResult } from './procs.ts'
import type { MemberInfo } from '../../src/api/index.ts'

/**
 * Real agents for gossip integration tests: Debian's `serf` and our `mesh agent`, each on its own 127.x address,
 * owned by a TestCluster that kills them (by PID) and removes their data dirs in the test's teardown. When the
 * test failed, the dir is kept and every process's output is written into it.
 */

/**
 * How long an agent may take to come up. `mesh agent` compiles its TypeScript through tsx at start: ~1.5 s on an
 * idle machine, but over 20 s was seen on 2 busy cores, and a deadline here is not what the tests assert.
 */
const START_TIMEOUT_MS = 60_000

/** The serf binary (Debian package `serf`, 0.9.4 / agent protocol 5). */
export const SERF = process.env.SERF_BIN ?? '/usr/bin/serf'

/** The shape of `serf members -format=json`. */
export interface SerfMemberJson {
  name: string
  addr: string
  port: number
  tags: Record<string, string>
  status: 'alive' | 'leaving' | 'left' | 'failed' | string
  protocol: { min: number; max: number; version: number }
}

/** The shape of `mesh status --json` (and GET /v1/status on the control socket). */
export interface MeshStatus {
  node: string
  address: string
  members: MemberInfo[]
  counters: Record<string, number>
}

export interface SerfAgent {
  kind: 'serf'
  name: string
  ip: string
  /** "ip:7946": what others pass to join. */
  bind: string
  /** "ip:7373": its RPC address for `serf members` etc. */
  rpc: string
  proc: Proc
}

export interface MeshAgent {
  kind: 'mesh'
  name: string
  ip: string
  bind: string
  dataDir: string
  proc: Proc
}

export interface SerfOptions {
  name: string
  ip: string
  join?: string
  encrypt?: string
  tags?: Record<string, string>
  logLevel?: string
  /** Wait until its RPC answers (default true). */
  wait?: boolean
}

export interface MeshOptions {
  name: string
  ip: string
  join?: string[]
  encrypt?: string
  tags?: Record<string, string>
  profile?: 'lan' | 'local'
  logLevel?: string
  extraArgs?: string[]
  /** Wait until the control socket answers (default true). Throws if the agent exits first. */
  wait?: boolean
}

/** Minimal surface of a tap Test that TestCluster needs. */
interface TapLike {
  teardown(fn: () => unknown): void
  passing(): boolean
  name: string
}

/** `serf members -format=json`; null if the RPC did not answer. */
export async function serfMembers(rpc: string, timeoutMs = 15_000): Promise<SerfMemberJson[] | null> {
  const r = await run(SERF, ['members', '-format=json', `-rpc-addr=${rpc}`], { timeoutMs })
  if (r.code !== 0) return null
  try {
    return (JSON.parse(r.stdout) as { members: SerfMemberJson[] }).members
  } catch {
    return null
  }
}

/** One member as a serf agent sees it, or null (not listed / RPC down). */
export async function serfMember(rpc: string, name: string): Promise<SerfMemberJson | null> {
  return (await serfMembers(rpc))?.find((m) => m.name === name) ?? null
}

/** Any other serf subcommand against an agent's RPC address. */
export function serfCmd(rpc: string, args: string[], timeoutMs = 15_000): Promise<RunResult> {
  const [sub, ...rest] = args
  return run(SERF, [sub as string, `-rpc-addr=${rpc}`, ...rest], { timeoutMs })
}

/** `serf keygen`: a fresh base64 32-byte key. */
export async function serfKeygen(): Promise<string> {
  const r = await run(SERF, ['keygen'], { timeoutMs: 5000 })
  if (r.code !== 0) throw new Error(`serf keygen failed: ${r.stderr}`)
  return r.stdout.trim()
}

/**
 * GET /v1/status from an agent's control socket (what `mesh status --json` prints), without spawning the CLI,
 * so it can be polled every 100 ms. Null if the agent does not answer within `timeoutMs` (generous by default: a
 * test that asserts on one answer must not get null because a loaded machine was slow).
 */
export function meshStatus(dataDir: string, timeoutMs = 10_000): Promise<MeshStatus | null> {
  return new Promise((resolve) => {
    let settled = false
    const done = (v: MeshStatus | null) => {
      if (!settled) {
        settled = true
        resolve(v)
      }
    }
    const req = http.get({ socketPath: join(dataDir, 'mesh.sock'), path: '/v1/status', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', () => done(null))
      res.on('end', () => {
        try {
          done(res.statusCode === 200 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as MeshStatus) : null)
        } catch {
          done(null)
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => done(null))
  })
}

/** A member as a mesh agent sees it, or null. */
export async function meshMember(dataDir: string, name: string): Promise<MeshStatus['members'][number] | null> {
  return (await meshStatus(dataDir))?.members.find((m) => m.name === name) ?? null
}

/**
 * The agents of one test. Construct it at the top of a (sub)test: it registers one teardown that SIGKILLs every
 * process it started (by PID), waits until they are reaped, and removes the temporary directory.
 */
export class TestCluster {
  readonly dir: string
  readonly procs: Proc[] = []
  readonly #t: TapLike

  constructor(t: TapLike, label: string) {
    this.#t = t
    this.dir = mkdtempSync(join(tmpdir(), `mesh-it-${label}-`))
    t.teardown(() => this.close())
  }

  /** Start a serf agent on ip:7946 with RPC on ip:7373. */
  async serf(o: SerfOptions): Promise<SerfAgent> {
    const args = ['agent', `-node=${o.name}`, `-bind=${o.ip}:7946`, `-rpc-addr=${o.ip}:7373`, `-log-level=${o.logLevel ?? 'debug'}`]
    if (o.join) args.push(`-join=${o.join}`)
    if (o.encrypt) args.push(`-encrypt=${o.encrypt}`)
    for (const [k, v] of Object.entries(o.tags ?? {})) args.push('-tag', `${k}=${v}`)
    const proc = spawnProc(SERF, args, { name: `serf ${o.name}` })
    this.procs.push(proc)
    const a: SerfAgent = { kind: 'serf', name: o.name, ip: o.ip, bind: `${o.ip}:7946`, rpc: `${o.ip}:7373`, proc }
    if (o.wait ?? true) {
      await waitFor(async () => {
        if (!proc.running()) throw new StopWaiting(`serf ${o.name} exited ${JSON.stringify(proc.exitInfo())}: ${proc.tail(10)}`)
        return (await serfMembers(a.rpc, 2000)) !== null
      }, START_TIMEOUT_MS, { what: `serf ${o.name} RPC on ${a.rpc}` }).catch((err: Error) => {
        throw new Error(`${err.message}\n${proc.tail(20)}`)
      })
    }
    return a
  }

  /** Start `mesh agent` on ip:7946 with its own data dir under the cluster's temp dir. */
  async mesh(o: MeshOptions): Promise<MeshAgent> {
    const dataDir = join(this.dir, o.name)
    const args = ['agent', '--bind', o.ip, '--name', o.name, '--data-dir', dataDir, '--log-level', o.logLevel ?? 'debug']
    for (const j of o.join ?? []) args.push('--join', j)
    if (o.profile) args.push('--profile', o.profile)
    for (const [k, v] of Object.entries(o.tags ?? {})) args.push('--tag', `${k}=${v}`)
    args.push(...(o.extraArgs ?? []))
    // Gossip is encrypted by default: an agent of no cluster and no key refuses to start, so a keyless one says so.
    if (!o.encrypt && !args.includes('--encrypt') && !args.includes('--encrypt-file')) args.push('--gossip-plaintext')
    // The key by environment, as the docs recommend (argv is visible in ps, and --encrypt prints a warning).
    const proc = spawnMesh(args, { name: `mesh ${o.name}`, ...(o.encrypt ? { env: { ...process.env, MESH_GOSSIP_KEY: o.encrypt } } : {}) })
    this.procs.push(proc)
    const a: MeshAgent = { kind: 'mesh', name: o.name, ip: o.ip, bind: `${o.ip}:7946`, dataDir, proc }
    if (o.wait ?? true) {
      await waitFor(async () => {
        if (!proc.running()) throw new StopWaiting(`mesh ${o.name} exited ${JSON.stringify(proc.exitInfo())}: ${proc.stderr().trim()}`)
        return (await meshStatus(dataDir, 1000)) !== null
      }, START_TIMEOUT_MS, { what: `mesh ${o.name} control socket` }).catch((err: Error) => {
        throw new Error(`${err.message}\n${proc.tail(20)}`)
      })
    }
    return a
  }

  /** Last lines of every process's output (for failure messages). */
  dump(lines = 25): string {
    return this.procs.map((p) => `--- ${p.name} (pid ${p.pid}, ${p.running() ? 'running' : JSON.stringify(p.exitInfo())})\n${p.tail(lines)}`).join('\n')
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => killAndReap(p).catch(() => undefined)))
    if (this.#t.passing()) {
      rmSync(this.dir, { recursive: true, force: true })
      return
    }
    for (const [i, p] of this.procs.entries()) {
      const file = join(this.dir, `${i}-${p.name.replace(/[^A-Za-z0-9._-]+/g, '_')}.log`)
      writeFileSync(file, `${p.stdout()}\n--- stderr ---\n${p.stderr()}`)
    }
    process.stderr.write(`# ${this.#t.name}: failed; process logs kept in ${this.dir}\n`)
  }
}
