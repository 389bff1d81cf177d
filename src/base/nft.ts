/**
 * The one place mesh runs nftables rulesets (the ingress table, the VIP rules, the overlay firewall and network
 * isolation). Two adapters of one role:
 *  - `LibNft`: libnftables in-process (native/nftables.c through N-API; dist/native/nftables.node): no fork/exec,
 *    and one nft context kept per runner so its cache survives between calls. The addon runs each command off the JS
 *    thread; calls on one runner are queued here (a context is not thread-safe).
 *  - `ProcessNft`: `nft -f -`, one process per call (the fallback, and `--nft-exec process`).
 * Both answer `{ ok, output, error }`: `error` is nft's error text (the process's stderr, the library's error buffer);
 * callers turn a failure into their own one-line error with `nftErrorLine`. Loading the addon and falling back happen
 * here and nowhere else (`createNftRunner`).
 */
import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { ConfigError } from './errors.ts'

/** auto: the library when the addon loads, else `nft -f -` (one log line); lib: the library or refuse to start; process: `nft -f -`. */
export type NftExecMode = 'auto' | 'lib' | 'process'
export const NFT_EXEC_MODES: readonly NftExecMode[] = Object.freeze(['auto', 'lib', 'process'])

/** What one command buffer gave: nft's exit status as a boolean, its output and its error text. */
export interface NftAnswer {
  ok: boolean
  output: string
  error: string
}

/** Runs one nft command buffer: a ruleset (`nft -f -`) or a single command (`delete table ip mesh-ingress`). */
export interface NftRunner {
  readonly kind: 'lib' | 'process'
  run(text: string): Promise<NftAnswer>
  /** Release the library context (a no-op for processes). Runs after the calls already queued. */
  close(): Promise<void>
}

/** The first line of nft's error text, as the callers' one-line errors show it ("no answer" when empty). */
export function nftErrorLine(a: NftAnswer): string {
  return a.error.trim().split('\n')[0] || 'failed'
}

/** Rulesets larger than this are refused before nft sees them (both adapters): the library's own bound. */
export const NFT_MAX_INPUT_BYTES = 64 * 1024 * 1024

export interface NftAddon {
  open(): object
  run(h: object, text: string): Promise<NftAnswer>
  close(h: object): void
}

/**
 * dist/native/nftables.node, built by scripts/build-native.sh. From dist/src/base/ it is ../../native/; from
 * src/base/ (tests run the sources) ../../dist/native/. MESH_NFTABLES_PATH overrides both ("none": never load it).
 */
function addonPaths(): string[] {
  const env = process.env.MESH_NFTABLES_PATH
  if (env !== undefined && env !== '') return [env]
  return ['../../native/nftables.node', '../../dist/native/nftables.node'].map((p) => fileURLToPath(new URL(p, import.meta.url)))
}

const loaded = new Map<string, { addon: NftAddon } | { error: string }>()

/** The addon with libnftables.so.1 opened, or why not (not built, another Node's build, no libnftables1). Cached per path. */
export function loadNftAddon(): { addon: NftAddon } | { error: string } {
  const paths = addonPaths()
  const key = paths.join('\n')
  const hit = loaded.get(key)
  if (hit !== undefined) return hit
  const req = createRequire(import.meta.url)
  let result: { addon: NftAddon } | { error: string } = { error: `not built: ${paths[paths.length - 1]}` }
  for (const p of paths) {
    try {
      const addon = req(p) as NftAddon
      addon.close(addon.open()) // dlopen("libnftables.so.1") happens here: its absence is a load failure too
      result = { addon }
      break
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      result = { error: e.code === 'MODULE_NOT_FOUND' ? `not built: ${paths[paths.length - 1]}` : (e.message.split('\n')[0] as string) }
      if (e.code !== 'MODULE_NOT_FOUND') break
    }
  }
  loaded.set(key, result)
  return result
}

/**
 * libnftables in-process; calls run one at a time in order. `keep: false` (default): a new context per call, closed
 * after it — nft refetches its cache whenever the ruleset's generation changed, and every apply changes it, so a kept
 * context saves nothing measurable (benchmarks.md) while holding the cache of a 10,000-endpoint table in memory.
 * `keep: true`: one context for the runner's life.
 */
export class LibNft implements NftRunner {
  readonly kind = 'lib'
  readonly #addon: NftAddon
  readonly #keep: boolean
  #handle: object | null = null
  #tail: Promise<unknown> = Promise.resolve()

  constructor(addon: NftAddon, o: { keep?: boolean } = {}) {
    this.#addon = addon
    this.#keep = o.keep ?? false
  }

  /**
   * Check now that a context opens (kept: open it). Throws when it cannot be had. The addon keeps a few descriptors
   * below 1024 for contexts (libnftables select()s on its socket), taken when it loads and given back when a context
   * closes, so a runner works however many sockets the process opens later.
   */
  open(): this {
    this.#handle ??= this.#addon.open()
    if (!this.#keep) {
      this.#addon.close(this.#handle)
      this.#handle = null
    }
    return this
  }

  run(text: string): Promise<NftAnswer> {
    const next = this.#tail.then(() => this.#runNow(text))
    this.#tail = next.catch(() => undefined)
    return next
  }

  async #runNow(text: string): Promise<NftAnswer> {
    if (typeof text !== 'string') return { ok: false, output: '', error: 'nftables: the ruleset must be text' }
    if (text.length > NFT_MAX_INPUT_BYTES) return { ok: false, output: '', error: 'nftables: ruleset over 64 MiB refused' }
    let h: object | null = null
    try {
      h = this.#handle ?? this.#addon.open()
      if (this.#keep) this.#handle = h
      return await this.#addon.run(h, text)
    } catch (err) {
      const m = (err as Error).message.split('\n')[0] as string
      return { ok: false, output: '', error: m.startsWith('nftables: ') ? m : `nftables: ${m}` }
    } finally {
      if (h !== null && !this.#keep) this.#addon.close(h)
    }
  }

  close(): Promise<void> {
    const done = this.#tail.then(() => {
      if (this.#handle !== null) this.#addon.close(this.#handle)
      this.#handle = null
    })
    this.#tail = done
    return done
  }
}

/** Starts a process; what `ProcessNft` runs `nft -f -` with (injected so tests need no nft binary). */
export type NftSpawn = (input: string, timeoutMs: number) => Promise<NftAnswer>

const spawnNft: NftSpawn = (input, timeoutMs) => new Promise((resolve) => {
  const child = execFile('nft', ['-f', '-'], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
    if (!err) return resolve({ ok: true, output: stdout, error: stderr })
    const code = (err as NodeJS.ErrnoException).code
    resolve({ ok: false, output: stdout, error: code === 'ENOENT' ? 'nft: command not found' : (stderr.trim() || err.message) })
  })
  // nft may exit before reading all of its input (a refused ruleset, the timeout): EPIPE then, not a crash.
  child.stdin?.on('error', () => undefined)
  child.stdin?.end(input)
})

/** `nft -f -`, one process per call. */
export class ProcessNft implements NftRunner {
  readonly kind = 'process'
  readonly #spawn: NftSpawn

  constructor(spawn: NftSpawn = spawnNft) {
    this.#spawn = spawn
  }

  async run(text: string): Promise<NftAnswer> {
    if (typeof text !== 'string') return { ok: false, output: '', error: 'nftables: the ruleset must be text' }
    if (text.length > NFT_MAX_INPUT_BYTES) return { ok: false, output: '', error: 'nftables: ruleset over 64 MiB refused' }
    if (text.includes('\0')) return { ok: false, output: '', error: 'nftables: a NUL byte in the ruleset refused' }
    // A whole table at 10,000 endpoints takes seconds to load on a busy machine: a minute for it, 10 s otherwise.
    return this.#spawn(text, text.length > 64 * 1024 ? 60_000 : 10_000)
  }

  async close(): Promise<void> {}
}

/**
 * The runner for `mode`, its library context opened at once (call it at start, before sockets pile up). auto: the
 * library when the addon loads and a context opens, else processes, calling `onFallback` with the reason (the caller
 * logs it once). lib without them: ConfigError. `load` and `spawn` are injected by tests.
 */
export function createNftRunner(mode: NftExecMode, o: { onFallback?: (why: string) => void; load?: typeof loadNftAddon; spawn?: NftSpawn } = {}): NftRunner {
  if (!NFT_EXEC_MODES.includes(mode)) throw new ConfigError(`nft exec "${String(mode)}": must be auto, lib or process`)
  if (mode === 'process') return new ProcessNft(o.spawn)
  const r = (o.load ?? loadNftAddon)()
  let why: string
  if ('addon' in r) {
    try {
      return new LibNft(r.addon).open()
    } catch (err) {
      why = (err as Error).message.split('\n')[0] as string
    }
  } else why = r.error
  if (mode === 'lib') throw new ConfigError(`--nft-exec lib: libnftables unavailable (${why}); install nftables (libnftables1) and run npm run build, or use --nft-exec process`)
  o.onFallback?.(why)
  return new ProcessNft(o.spawn)
}
