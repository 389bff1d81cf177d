import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Child processes for integration tests: spawn with captured output, wait for conditions with a deadline, stop
 * by PID (signal, then SIGKILL), and never leak a process. Every spawned child is kept in a registry until it has
 * been reaped; if the test process exits (normally, by an uncaught error, or by SIGTERM/SIGINT/SIGHUP from tap)
 * the leftovers are SIGKILLed by PID. Where util-linux `setpriv` exists, children are also started with
 * PR_SET_PDEATHSIG=KILL, so even a SIGKILLed test process takes its children with it.
 *
 * Only PIDs this module spawned are ever signalled; nothing is killed by name.
 */

/** The repository root, and the `mesh` CLI entry point in it. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const MESH_BIN = fileURLToPath(new URL('../../bin/mesh.js', import.meta.url))

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Keep at most this much of each output stream (the oldest bytes are dropped first). */
const MAX_CAPTURE_BYTES = 64 * 1024 * 1024

class Capture {
  readonly #chunks: Buffer[] = []
  #bytes = 0
  /** Bytes seen in total, dropped or not. */
  total = 0
  /** Bytes dropped from the front once the cap was hit. */
  dropped = 0

  push(b: Buffer): void {
    this.#chunks.push(b)
    this.#bytes += b.length
    this.total += b.length
    while (this.#bytes > MAX_CAPTURE_BYTES && this.#chunks.length > 1) {
      const old = this.#chunks.shift() as Buffer
      this.#bytes -= old.length
      this.dropped += old.length
    }
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8')
  }
}

export interface Proc {
  /** A label for messages ("serf s1", "mesh m1"). */
  readonly name: string
  readonly pid: number
  readonly child: ChildProcess
  /** Everything the process wrote to stdout / stderr so far. */
  stdout(): string
  stderr(): string
  /** Resolves once the process has exited and been reaped. Never rejects. */
  readonly exited: Promise<ExitInfo>
  /** Null while running. */
  exitInfo(): ExitInfo | null
  running(): boolean
  /** The last `n` lines of stdout+stderr, for failure messages. */
  tail(n?: number): string
}

export interface SpawnOptions {
  name?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
}

const registry = new Set<Proc>()
let hooksInstalled = false
const PDEATHSIG = existsSync('/usr/bin/setpriv')

function killLeftovers(): void {
  for (const p of registry) {
    if (p.running()) {
      try {
        process.kill(p.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
}

function installHooks(): void {
  if (hooksInstalled) return
  hooksInstalled = true
  process.on('exit', killLeftovers)
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killLeftovers()
      // Step aside and re-raise so the default action (or tap's own handler, now that the listener counts match
      // again) still ends the process.
      process.removeListener(sig, onSignal)
      process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

/** Processes still registered (spawned and not yet reaped). */
export function liveProcs(): Proc[] {
  return [...registry].filter((p) => p.running())
}

/** Spawn `cmd args` (not detached, no shell) with stdout/stderr captured in memory. */
export function spawnProc(cmd: string, args: readonly string[], o: SpawnOptions = {}): Proc {
  installHooks()
  const [file, argv] = PDEATHSIG ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, [...args]]
  const child = spawn(file, argv, {
    cwd: o.cwd ?? REPO_ROOT,
    env: o.env ?? process.env,
    detached: false,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT etc.); the 'error' event carries the reason.
    throw new Error(`cannot spawn ${cmd}`)
  }
  const out = new Capture()
  const err = new Capture()
  child.stdout?.on('data', (b: Buffer) => out.push(b))
  child.stderr?.on('data', (b: Buffer) => err.push(b))
  let info: ExitInfo | null = null
  const exited = new Promise<ExitInfo>((resolve) => {
    // 'close' fires after 'exit' and after the pipes are drained, so captured output is complete.
    child.on('close', (code, signal) => {
      info = { code, signal }
      registry.delete(proc)
      resolve(info)
    })
    child.on('error', () => {
      if (child.exitCode === null && child.signalCode === null && child.pid === undefined) {
        info = { code: null, signal: null }
        registry.delete(proc)
        resolve(info)
      }
    })
  })
  const proc: Proc = {
    name: o.name ?? cmd,
    pid: child.pid,
    child,
    stdout: () => out.text(),
    stderr: () => err.text(),
    exited,
    exitInfo: () => info,
    running: () => info === null,
    tail: (n = 30) => {
      const lines = `${out.text()}\n${err.text()}`.split('\n').filter((l) => l.trim() !== '')
      return lines.slice(-n).join('\n')
    },
  }
  registry.add(proc)
  return proc
}

/** Spawn `node bin/mesh.js ...args`. */
export function spawnMesh(args: readonly string[], o: SpawnOptions = {}): Proc {
  return spawnProc(process.execPath, [MESH_BIN, ...args], { name: o.name ?? `mesh ${args[0] ?? ''}`, ...o })
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export class WaitTimeout extends Error {}

/** Throw this from a waitFor check to stop waiting at once (e.g. the process being waited on has exited). */
export class StopWaiting extends Error {}

/**
 * Poll `check` every `intervalMs` until it returns something other than undefined/null/false, and return that.
 * Throws WaitTimeout (naming `what` and the last value seen) when `timeoutMs` passes. Errors thrown by `check`
 * count as "not yet", except StopWaiting, which is rethrown at once. Bounded: at most timeoutMs/intervalMs + 1 checks.
 */
export async function waitFor<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs: number,
  o: { intervalMs?: number; what?: string } = {},
): Promise<T> {
  const interval = o.intervalMs ?? 100
  const deadline = Date.now() + timeoutMs
  const maxChecks = Math.ceil(timeoutMs / interval) + 1
  let last: unknown
  for (let i = 0; i < maxChecks; i++) {
    try {
      const v = await check()
      if (v !== undefined && v !== null && v !== false) return v
      last = v
    } catch (err) {
      if (err instanceof StopWaiting) throw err
      last = err
    }
    if (Date.now() >= deadline) break
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())))
  }
  const seen = last instanceof Error ? last.message : JSON.stringify(last)
  throw new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${o.what ?? 'condition'} (last: ${seen})`)
}

/** Resolve with the exit info, or null if the process is still running after `timeoutMs`. */
export async function waitExit(p: Proc, timeoutMs: number): Promise<ExitInfo | null> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((r) => { timer = setTimeout(() => r(null), timeoutMs) })
  try {
    return await Promise.race([p.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Send `signal` to the process (by PID) and wait up to `graceMs` for it to exit; if it has not, SIGKILL it and
 * reap. Returns how it exited. Safe on a process that already exited.
 */
export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<ExitInfo> {
  if (!p.running()) return (p.exitInfo() ?? (await p.exited))
  try {
    process.kill(p.pid, signal)
  } catch {
    // raced with its exit
  }
  const info = await waitExit(p, graceMs)
  return info ?? killAndReap(p)
}

/** SIGKILL by PID and wait until reaped (bounded: 10 s, which SIGKILL never needs). */
export async function killAndReap(p: Proc): Promise<ExitInfo> {
  if (!p.running()) return (p.exitInfo() ?? (await p.exited))
  try {
    process.kill(p.pid, 'SIGKILL')
  } catch {
    // raced with its exit
  }
  const info = await waitExit(p, 10_000)
  if (!info) throw new Error(`${p.name} (pid ${p.pid}) did not exit after SIGKILL`)
  return info
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  /** Wall time, ms. */
  ms: number
  timedOut: boolean
}

/** Run a one-shot command with a timeout (killed with SIGKILL when it expires). Never rejects. */
export function run(cmd: string, args: readonly string[], o: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  const started = Date.now()
  return new Promise((resolve) => {
    const [file, argv] = PDEATHSIG ? ['/usr/bin/setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args]] : [cmd, [...args]]
    execFile(file, argv, {
      cwd: o.cwd ?? REPO_ROOT, env: o.env ?? process.env, timeout: o.timeoutMs ?? 10_000, killSignal: 'SIGKILL',
      maxBuffer: 16 * 1024 * 1024, encoding: 'utf8',
    }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: NodeJS.Signals }) | null
      resolve({
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout, stderr, ms: Date.now() - started,
        timedOut: Boolean(e?.killed),
      })
    })
  })
}

/**
 * Run `node bin/mesh.js ...args` once. The default bound is generous (a command takes well under a second, but node
 * starting on a loaded CI machine can take many seconds); a test that waits for a timeout passes its own.
 */
export function runMesh(args: readonly string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return run(process.execPath, [MESH_BIN, ...args], { timeoutMs: o.timeoutMs ?? 120_000, ...(o.env ? { env: o.env } : {}) })
}

/** Resident set size of a running process, bytes (from /proc/PID/status VmRSS), or null if gone. */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}
