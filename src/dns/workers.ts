/**
 * DNS worker threads (`workers` > 1): N−1 node:worker_threads besides the main thread's sockets, each a UDP-only
 * DnsServer (dns-worker.ts) bound to the same addresses and ports with SO_REUSEPORT, so the kernel spreads queries
 * over the sockets by source address and port. Each worker gets the catalog snapshot when it starts, then per change
 * only the services that are not the same objects as before (the others as indexes into its list), so the worker
 * keeps unchanged services as the same objects and its zone update stays per changed service (a whole snapshot of
 * 1,000 services / 10,000 endpoints takes 9-40 ms to clone; bench/dns-catalog-hop.ts). Workers' answers follow a
 * change after that message hop, the main thread's at once. Forwarded names are forwarded by the worker itself (its own forward.ts).
 * Counters come back every 200 ms and are added to the main thread's in status() and the mesh_dns_* metrics.
 * A worker that exits is logged in one line and started again after a bounded backoff; stop() ends every worker.
 */
import { Worker } from 'node:worker_threads'
import type { CatalogService, CatalogSnapshot } from '../api/catalog.ts'
import { DnsError } from './errors.ts'
import type { DnsOptions, ListenAddress } from './options.ts'
import type { Log } from './server.ts'

/** The counters a DnsServer keeps, as one plain object (what a worker posts; what the metrics add up). */
export interface DnsCounters {
  /** [qtypeIndex * 16 + rcode] → answers sent (answer.ts DnsStats). */
  answers: Float64Array
  forwarded: number
  dropped: number
  formerr: number
  zoneBuilds: number
  udpDropped: number
  forwardTimeouts: number
  forwardInflight: number
}

/** What a worker is started with: plain data only (no functions, no sockets). */
export interface WorkerInit {
  id: number
  /** The main thread's options with listen ports resolved, upstreams resolved, udp chosen and workers 1. */
  opts: DnsOptions
  snapshot: CatalogSnapshot
}

export type ToWorker =
  | { t: 'catalog'; snapshot: CatalogSnapshot }
  /** The snapshot without its services, and the services: a number is the index of an unchanged service in the
   *  worker's previous list (kept as the same object, so its zone update is per changed service), else the service. */
  | { t: 'delta'; snapshot: Omit<CatalogSnapshot, 'services'>; services: (number | CatalogService)[] }
  | { t: 'extra'; addrs: ListenAddress[] }
  | { t: 'stop' }

export type ToMain =
  | { t: 'ready' }
  | { t: 'fatal'; msg: string }
  | { t: 'stats'; counters: DnsCounters }
  | { t: 'applied'; revision: number }
  | { t: 'log'; level: 'info' | 'warn' | 'error' | 'debug'; msg: string; fields?: Record<string, unknown> }

/** Restart backoff after a worker exits: doubles from the first to the last, reset by a run longer than RESET_MS. */
const BACKOFF_FIRST_MS = 100
const BACKOFF_MAX_MS = 5_000
const RESET_MS = 30_000
/** A worker asked to stop that has not ended after this long is terminated. */
const STOP_GRACE_MS = 5_000

/** The entry file next to this one: .ts when the sources run (tests), .js from dist/. */
function entryUrl(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './dns-worker.ts' : './dns-worker.js', import.meta.url)
}

/** One worker slot: the thread now in it, its last counters, its restart state. */
interface Slot {
  id: number
  worker: Worker | null
  counters: DnsCounters | null
  /** Counters of the slot's earlier threads (a restart does not lose what they answered). */
  past: DnsCounters | null
  startedAt: number
  restarts: number
  backoffMs: number
  timer: NodeJS.Timeout | null
  /** Catalog revision the thread last applied. */
  revision: number
  /** The service list the thread holds (what deltas are computed against); null: send the next one whole. */
  sent: readonly CatalogService[] | null
}

export class DnsWorkers {
  readonly #slots: Slot[]
  readonly #opts: DnsOptions
  readonly #snapshot: () => CatalogSnapshot
  readonly #log: Log
  #extra: ListenAddress[] = []
  #running = false
  /** Called with (worker id, revision) whenever a worker applied a catalog snapshot (tests, benchmarks). */
  onApplied: ((id: number, revision: number) => void) | null = null

  constructor(count: number, opts: DnsOptions, snapshot: () => CatalogSnapshot, log: Log) {
    this.#opts = opts
    this.#snapshot = snapshot
    this.#log = log
    this.#slots = Array.from({ length: count }, (_, i) => ({
      id: i + 1, worker: null, counters: null, past: null, startedAt: 0, restarts: 0, backoffMs: BACKOFF_FIRST_MS, timer: null, revision: -1, sent: null,
    }))
  }

  /** Start every worker; rejects (after ending those that started) when one cannot bind or load. */
  async start(): Promise<void> {
    this.#running = true
    try {
      await Promise.all(this.#slots.map((s) => this.#spawn(s)))
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  #spawn(slot: Slot): Promise<void> {
    const init: WorkerInit = { id: slot.id, opts: this.#opts, snapshot: this.#snapshot() }
    // No inherited Node flags: the agent's (--input-type, heap sizes) are per process or refused in a worker.
    const w = new Worker(entryUrl(), { workerData: init, name: `dns-worker-${slot.id}`, execArgv: [] })
    slot.worker = w
    slot.startedAt = Date.now()
    slot.revision = init.snapshot.revision
    slot.sent = init.snapshot.services
    return new Promise<void>((resolve, reject) => {
      let ready = false
      w.on('message', (m: ToMain) => {
        if (m.t === 'stats') slot.counters = m.counters
        else if (m.t === 'applied') { slot.revision = m.revision; this.onApplied?.(slot.id, m.revision) }
        else if (m.t === 'log') this.#log(m.level, m.msg, m.fields)
        else if (m.t === 'ready') {
          ready = true
          if (this.#extra.length > 0) w.postMessage({ t: 'extra', addrs: this.#extra } satisfies ToWorker)
          if (this.#snapshot() !== init.snapshot) this.#post(slot, this.#snapshot())
          resolve()
        } else if (m.t === 'fatal') reject(new DnsError(`dns: worker ${slot.id}: ${m.msg}`))
      })
      w.on('error', (err) => { if (!ready) reject(new DnsError(`dns: worker ${slot.id}: ${err.message}`, { cause: err })) })
      w.on('exit', (code) => {
        if (slot.worker !== w) return
        slot.worker = null
        slot.past = addCounters(slot.past, slot.counters)
        slot.counters = null
        if (!ready) { reject(new DnsError(`dns: worker ${slot.id} exited (code ${code}) before it was ready`)); return }
        if (!this.#running) return
        if (Date.now() - slot.startedAt > RESET_MS) slot.backoffMs = BACKOFF_FIRST_MS
        const wait = slot.backoffMs
        slot.backoffMs = Math.min(slot.backoffMs * 2, BACKOFF_MAX_MS)
        slot.restarts++
        this.#log('warn', `dns worker ${slot.id} exited (code ${code}); restarting in ${wait} ms`)
        slot.timer = setTimeout(() => {
          slot.timer = null
          if (!this.#running) return
          this.#spawn(slot).catch((err: Error) => this.#log('error', `dns worker ${slot.id} did not restart: ${err.message}`))
        }, wait)
      })
    })
  }

  /**
   * Send `snapshot` to the slot's thread: only the services that are not the same objects as in the list it holds
   * (a structured clone of those; the rest go as indexes), or the whole snapshot when it holds none.
   */
  #post(slot: Slot, snapshot: CatalogSnapshot): void {
    const w = slot.worker
    if (w === null) return
    let msg: ToWorker
    if (slot.sent === null) msg = { t: 'catalog', snapshot }
    else {
      const index = new Map<CatalogService, number>()
      slot.sent.forEach((s, i) => { if (!index.has(s)) index.set(s, i) })
      const { services, ...rest } = snapshot
      msg = { t: 'delta', snapshot: rest, services: services.map((s) => index.get(s) ?? s) }
    }
    try {
      w.postMessage(msg)
      slot.sent = snapshot.services
    } catch {
      slot.sent = null // the thread is ending; its restart gets the whole snapshot
    }
  }

  /** Send the catalog's current snapshot to every worker (changed services only). */
  catalogChanged(): void {
    const snap = this.#snapshot()
    for (const s of this.#slots) this.#post(s, snap)
  }

  /** The extra listen addresses, for the workers too. */
  setExtra(addrs: readonly ListenAddress[]): void {
    this.#extra = addrs.map((a) => ({ ...a }))
    for (const s of this.#slots) s.worker?.postMessage({ t: 'extra', addrs: this.#extra } satisfies ToWorker)
  }

  /** Per worker: id, whether a thread runs now, restarts, its counters (earlier threads' included). */
  list(): { id: number; running: boolean; restarts: number; revision: number; counters: DnsCounters | null }[] {
    return this.#slots.map((s) => ({ id: s.id, running: s.worker !== null, restarts: s.restarts, revision: s.revision, counters: addCounters(s.past, s.counters) }))
  }

  /** End one worker's thread as if it had crashed (tests: the restart path). */
  async terminate(id: number): Promise<void> {
    await this.#slots.find((s) => s.id === id)?.worker?.terminate()
  }

  /** Threads running now (tests: none after stop). */
  get threads(): number {
    return this.#slots.filter((s) => s.worker !== null).length
  }

  /** End every worker: each closes its sockets and exits; one that does not within STOP_GRACE_MS is terminated. */
  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#slots.map(async (s) => {
      if (s.timer !== null) { clearTimeout(s.timer); s.timer = null }
      const w = s.worker
      if (w === null) return
      const exited = new Promise<void>((r) => w.once('exit', () => r()))
      try { w.postMessage({ t: 'stop' } satisfies ToWorker) } catch { /* already ending */ }
      const t = setTimeout(() => { void w.terminate() }, STOP_GRACE_MS)
      await exited
      clearTimeout(t)
    }))
  }
}

/** a + b, field by field (null counts as zero). */
export function addCounters(a: DnsCounters | null, b: DnsCounters | null): DnsCounters | null {
  if (a === null) return b
  if (b === null) return a
  const answers = new Float64Array(a.answers.length)
  for (let i = 0; i < answers.length; i++) answers[i] = (a.answers[i] as number) + (b.answers[i] as number)
  return {
    answers, forwarded: a.forwarded + b.forwarded, dropped: a.dropped + b.dropped, formerr: a.formerr + b.formerr,
    zoneBuilds: a.zoneBuilds + b.zoneBuilds, udpDropped: a.udpDropped + b.udpDropped,
    forwardTimeouts: a.forwardTimeouts + b.forwardTimeouts, forwardInflight: a.forwardInflight + b.forwardInflight,
  }
}
