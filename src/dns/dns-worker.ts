/**
 * Entry of one DNS worker thread (started by workers.ts, never imported): a UDP-only DnsServer on the main thread's
 * addresses and ports (SO_REUSEPORT), with its own Responder over a catalog the main thread posts, and its own
 * forwarder sockets (forward.ts as on the main thread). It reports its counters every STATS_MS and its log lines by
 * message; it holds no state the main thread needs to get back.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { CatalogService, CatalogSnapshot, CatalogView } from '../api/catalog.ts'
import { DnsServer } from './server.ts'
import type { ToMain, ToWorker, WorkerInit } from './workers.ts'

/** How often the worker posts its counters (status() and metrics are this stale for workers' queries). */
const STATS_MS = 200

/** The catalog as the messages built it: unchanged services stay the same objects, so zone updates are per change. */
class PostedCatalog implements CatalogView {
  #snap: CatalogSnapshot
  readonly #subs = new Set<(s: CatalogSnapshot) => void>()
  constructor(snap: CatalogSnapshot) { this.#snap = snap }
  current(): CatalogSnapshot { return this.#snap }
  onChange(fn: (s: CatalogSnapshot) => void): () => void {
    this.#subs.add(fn)
    return () => { this.#subs.delete(fn) }
  }
  set(snap: CatalogSnapshot): void {
    this.#snap = snap
    for (const fn of this.#subs) fn(snap)
  }
}

const port = parentPort
if (port === null) throw new Error('dns-worker.ts runs only as a worker thread')
const init = workerData as WorkerInit
const post = (m: ToMain) => port.postMessage(m)
const catalog = new PostedCatalog(init.snapshot)
const server = new DnsServer({
  ...init.opts,
  catalog,
  udpOnly: true,
  log: (level, msg, fields) => post({ t: 'log', level, msg, fields: { ...fields, worker: init.id } }),
})
let timer: NodeJS.Timeout | null = null
const report = () => post({ t: 'stats', counters: server.counters() })

port.on('message', (m: ToWorker) => {
  if (m.t === 'catalog' || m.t === 'delta') {
    let snap: CatalogSnapshot
    if (m.t === 'catalog') snap = m.snapshot
    else {
      const prev = catalog.current().services
      snap = { ...m.snapshot, services: m.services.map((s) => (typeof s === 'number' ? prev[s] as CatalogService : s)) }
    }
    catalog.set(snap)
    server.zoneRevision() // build now, so the next query does not pay for it
    post({ t: 'applied', revision: snap.revision })
  } else if (m.t === 'extra') {
    void server.setExtraListen(m.addrs)
  } else if (m.t === 'stop') {
    if (timer !== null) clearInterval(timer)
    void server.stop().then(() => { report(); port.close() })
  }
})

server.start().then(
  () => {
    timer = setInterval(report, STATS_MS)
    post({ t: 'ready' })
  },
  (err: Error) => { post({ t: 'fatal', msg: err.message }); port.close() },
)
