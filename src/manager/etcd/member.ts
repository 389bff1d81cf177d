import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { MemberConfig } from './config.ts'
import { EtcdMemberError } from './errors.ts'
import { effectiveMode, memberArgs, restartDelayMs, type StartMode } from './flags.ts'
import { LogRing } from './log-ring.ts'
import { forgetPid, recordPid, stopOrphan } from './orphan.ts'

type LogFn = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

export interface EtcdMemberOptions {
  readonly config: MemberConfig
  /** How the first start goes (flags.ts StartMode); later starts restart from the data dir. */
  readonly mode: StartMode
  /** The etcd binary. Default `etcd` on PATH. */
  readonly bin?: string
  /**
   * Arguments before etcd's flags, for a `bin` that execs etcd: tests run `setpriv --pdeathsig KILL -- etcd` so a
   * killed test process takes its members with it. Default none.
   */
  readonly binArgs?: readonly string[]
  /** How long stop() waits after SIGTERM before SIGKILL, ms. Default 10000. */
  readonly stopTimeoutMs?: number
  /** A run at least this long resets the crash backoff, ms. Default 30000. */
  readonly stableAfterMs?: number
  readonly log?: LogFn
}

/** What happened to the child, for the wiring's logs and metrics (and tests). */
export type MemberEvent =
  | { readonly event: 'started'; readonly pid: number; readonly mode: StartMode['kind'] }
  | { readonly event: 'exited'; readonly pid: number; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  | { readonly event: 'restarting'; readonly delayMs: number; readonly failures: number }

/**
 * Supervises a manager's `etcd` as a child of the agent: starts it (flags.ts decides the command line), restarts it
 * with a backoff when it dies, stops it by PID (SIGTERM, then SIGKILL after a bound) and keeps its stderr in a
 * bounded ring. Constructing it does nothing; start() stops an etcd a killed agent left on the same data dir
 * (orphan.ts) and spawns; stop() undoes start() and works after a failed one;
 * wipe() (after stop) deletes the data dir of a removed member.
 */
export class EtcdMember {
  readonly #o: EtcdMemberOptions
  readonly #ring = new LogRing()
  readonly #listeners = new Set<(e: MemberEvent) => void>()
  #child: ChildProcess | null = null
  #exited: Promise<void> = Promise.resolve()
  #restartTimer: NodeJS.Timeout | null = null
  #running = false
  #failures = 0
  #starts = 0

  constructor(o: EtcdMemberOptions) {
    this.#o = o
  }

  get config(): MemberConfig {
    return this.#o.config
  }

  /** The running etcd's PID, or undefined between a crash and its restart (and when stopped). */
  pid(): number | undefined {
    return this.#child?.pid
  }

  /** How many times etcd was spawned (1 after start(), +1 per restart). */
  starts(): number {
    return this.#starts
  }

  /** etcd's last stderr lines (its zap JSON logs), oldest first. */
  logs(): string[] {
    return this.#ring.lines()
  }

  onEvent(cb: (e: MemberEvent) => void): () => void {
    this.#listeners.add(cb)
    return () => this.#listeners.delete(cb)
  }

  /** Makes the data dir (0700) and spawns etcd. Resolves once it is spawned, not once it serves (see waitReady). */
  async start(): Promise<void> {
    if (this.#running) return
    const dir = this.#o.config.dataDir
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await chmod(dir, 0o700)
    const orphan = await stopOrphan(dir, this.#o.stopTimeoutMs ?? 10_000)
    if (orphan !== undefined) this.#log('warn', 'stopped the etcd a previous agent left running', { pid: orphan, member: this.#o.config.name })
    this.#running = true
    this.#spawn()
  }

  #spawn(): void {
    const c = this.#o.config
    const mode = effectiveMode(this.#o.mode, existsSync(join(c.dataDir, 'member')))
    const args = memberArgs(c, mode)
    const child = spawn(this.#o.bin ?? 'etcd', [...(this.#o.binArgs ?? []), ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })
    this.#child = child
    this.#starts++
    const startedAt = Date.now()
    child.stderr?.on('data', (b: Buffer) => this.#ring.push(b))
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        this.#log('error', 'etcd did not start', { err: err.message })
      })
      child.once('close', (code, signal) => {
        if (this.#child === child) this.#child = null
        this.#emit({ event: 'exited', pid: child.pid ?? -1, code, signal })
        this.#exitedAfter(Date.now() - startedAt, code, signal)
        resolve()
      })
    })
    if (child.pid !== undefined) {
      const pid = child.pid
      recordPid(c.dataDir, pid).catch((err: Error) => this.#log('warn', 'etcd PID not recorded', { err: err.message }))
      this.#emit({ event: 'started', pid, mode: mode.kind })
      this.#log('info', 'etcd started', { pid, mode: mode.kind, member: c.name })
    }
  }

  #exitedAfter(ranMs: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (!this.#running) return
    this.#failures = ranMs >= (this.#o.stableAfterMs ?? 30_000) ? 1 : this.#failures + 1
    const delayMs = restartDelayMs(this.#failures)
    this.#log('warn', 'etcd exited; restarting', { code, signal, delayMs, member: this.#o.config.name, last: this.#ring.lines().at(-1) })
    this.#emit({ event: 'restarting', delayMs, failures: this.#failures })
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null
      if (this.#running) this.#spawn()
    }, delayMs)
  }

  /** Stops supervising and stops etcd: SIGTERM, then SIGKILL when it is still there after the bound. */
  async stop(): Promise<void> {
    this.#running = false
    if (this.#restartTimer) clearTimeout(this.#restartTimer)
    this.#restartTimer = null
    const child = this.#child
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
      await this.#exited
      if (this.#starts > 0) await forgetPid(this.#o.config.dataDir)
      return
    }
    child.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#log('warn', 'etcd ignored SIGTERM; killing it', { pid: child.pid })
        child.kill('SIGKILL')
        resolve()
      }, this.#o.stopTimeoutMs ?? 10_000)
    })
    await Promise.race([this.#exited, killed])
    clearTimeout(timer)
    await this.#exited
    await forgetPid(this.#o.config.dataDir)
  }

  /** Deletes the member's data dir (a removed member; it can never start from it again). Only when stopped. */
  async wipe(): Promise<void> {
    if (this.#running) throw new EtcdMemberError(`etcd member "${this.#o.config.name}": stop it before wiping its data dir`)
    await rm(this.#o.config.dataDir, { recursive: true, force: true })
    await forgetPid(this.#o.config.dataDir)
  }

  #emit(e: MemberEvent): void {
    for (const cb of this.#listeners) cb(e)
  }

  #log(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): void {
    this.#o.log?.(level, msg, { sub: 'etcd', ...fields })
  }
}
