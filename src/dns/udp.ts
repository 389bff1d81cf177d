/**
 * UDP listeners of the DNS server: `node:dgram` (one callback and one send per datagram), or the batched socket of
 * native/udpmmsg.c (recvmmsg/sendmmsg through N-API: one callback per batch of up to 64 datagrams and one send for
 * all its answers). Loading the addon and falling back to dgram happen here and nowhere else. Both paths call the
 * same `UdpAnswer` with the same bytes, so answers are identical; both bind with SO_REUSEPORT (agent/handover.ts).
 */
import dgram from 'node:dgram'
import { createRequire } from 'node:module'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

/** auto: batched when the addon loads, else dgram (one log line); batched: fail to start without it; dgram: never it. */
export type UdpMode = 'auto' | 'dgram' | 'batched'
export const UDP_MODES: readonly UdpMode[] = Object.freeze(['auto', 'dgram', 'batched'])

/** Where an answer that is not ready at once (forwarded) goes later. */
export interface UdpReply {
  send(out: Buffer, port: number, host: string): void
}

/** Answer one datagram: the bytes to send back to its source now, or null (none yet, or never). */
export type UdpAnswer = (msg: Buffer, fromIp: string, fromPort: number, reply: UdpReply) => Buffer | null

export interface UdpListener extends UdpReply {
  readonly kind: 'dgram' | 'batched'
  readonly port: number
  /** Datagrams dropped before any answer was tried (batched: over 4096 bytes; answers the send queue could not hold). */
  readonly dropped: number
  close(): Promise<void>
}

/** The counters the addon keeps per socket. */
export interface UdpBatchStats {
  received: number
  batches: number
  /** Datagrams over 4096 bytes: dropped. */
  truncated: number
  sent: number
  sendErrors: number
  /** Answers dropped because the send queue was full. */
  sendDropped: number
  queued: number
  callbackErrors: number
  recvErrors: number
}

interface Addon {
  open(host: string, port: number, recvBufferBytes: number, onBatch: (buf: Buffer, n: number) => unknown[]): object
  port(h: object): number
  send(h: object, buf: Buffer, host: string, port: number): void
  close(h: object): void
  stats(h: object): UdpBatchStats
  META_BYTES: number
}

/** The receive buffer each DNS UDP socket asks for (bursts of queries wait here while a batch is answered). */
export const UDP_RECV_BUFFER_BYTES = 1 << 20

/**
 * dist/native/udpmmsg.node, built by scripts/build-native.sh (`npm run build`, test/setup.sh). From dist/src/dns/
 * it is ../../native/; from src/dns/ (tests run the sources) ../../dist/native/. MESH_UDPMMSG_PATH overrides both.
 */
function addonPaths(): string[] {
  const env = process.env.MESH_UDPMMSG_PATH
  if (env !== undefined && env !== '') return [env]
  return ['../../native/udpmmsg.node', '../../dist/native/udpmmsg.node'].map((p) => fileURLToPath(new URL(p, import.meta.url)))
}

const loaded = new Map<string, { addon: Addon } | { error: string }>()

/** The addon, or why it cannot be used (missing, built for another Node, no compiler on this host). Cached per path. */
export function loadUdpAddon(): { addon: Addon } | { error: string } {
  const paths = addonPaths()
  const key = paths.join('\n')
  const hit = loaded.get(key)
  if (hit !== undefined) return hit
  const req = createRequire(import.meta.url)
  let result: { addon: Addon } | { error: string } = { error: `no ${paths[paths.length - 1]}` }
  for (const p of paths) {
    try {
      result = { addon: req(p) as Addon }
      break
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      result = { error: e.code === 'MODULE_NOT_FOUND' ? `not built: ${paths[paths.length - 1]}` : firstLine(e.message) }
      if (e.code !== 'MODULE_NOT_FOUND') break
    }
  }
  loaded.set(key, result)
  return result
}

function firstLine(s: string): string {
  return s.split('\n')[0] as string
}

/** Open a UDP listener of this kind; rejects with the bind error (its `code` kept, e.g. EADDRINUSE). */
export async function openUdp(kind: 'dgram' | 'batched', host: string, port: number, answer: UdpAnswer,
  onError: (err: Error) => void): Promise<UdpListener> {
  if (kind === 'batched') {
    const r = loadUdpAddon()
    if ('error' in r) throw new Error(`batched UDP unavailable (${r.error})`)
    return new BatchedListener(r.addon, host, port, answer)
  }
  return openDgram(host, port, answer, onError)
}

/** Addresses we send to are always IPs (a peer's source or an upstream): no resolver call, no extra tick per packet. */
export function syncLookup4(address: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, 4)
}
export function syncLookup6(address: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, 6)
}

async function openDgram(host: string, port: number, answer: UdpAnswer, onError: (err: Error) => void): Promise<UdpListener> {
  const type = net.isIPv6(host) ? 'udp6' : 'udp4'
  const opts: dgram.SocketOptions & { reusePort: boolean } = { type, lookup: type === 'udp6' ? syncLookup6 : syncLookup4, recvBufferSize: UDP_RECV_BUFFER_BYTES, reusePort: true } // Node ≥ 23.1
  const udp = dgram.createSocket(opts)
  udp.on('error', onError)
  try {
    await new Promise<void>((resolve, reject) => { udp.once('error', reject); udp.bind(port, host, () => { udp.off('error', reject); resolve() }) })
  } catch (err) {
    udp.close()
    throw err
  }
  const reply: UdpReply = { send: (out, p, h) => udp.send(out, p, h) }
  udp.on('message', (msg, rinfo) => {
    const out = answer(msg, rinfo.address, rinfo.port, reply)
    if (out !== null) udp.send(out, rinfo.port, rinfo.address)
  })
  let closed: Promise<void> | null = null
  return {
    kind: 'dgram',
    port: udp.address().port,
    dropped: 0,
    send: reply.send,
    close: () => (closed ??= new Promise<void>((r) => { try { udp.close(() => r()) } catch { r() } })),
  }
}

/** A socket of the addon: one `answer` call per datagram of a batch, one sendmmsg for the batch's answers. */
class BatchedListener implements UdpListener {
  readonly kind = 'batched'
  readonly port: number
  readonly #addon: Addon
  #h: object | null

  constructor(addon: Addon, host: string, port: number, answer: UdpAnswer) {
    this.#addon = addon
    const meta = addon.META_BYTES
    const self: UdpReply = this
    // The source of consecutive datagrams is often the same client: its text is decoded once.
    let lastFam = 0, lastA = 0, lastB = 0, lastC = 0, lastD = 0, lastIp = ''
    const onBatch = (buf: Buffer, n: number): unknown[] => {
      const out = new Array<unknown>(n)
      for (let i = 0; i < n; i++) {
        const m = i * meta
        const off = buf.readUInt32LE(m)
        const len = buf.readUInt32LE(m + 4)
        const srcPort = buf.readUInt32LE(m + 8)
        const fam = buf.readUInt32LE(m + 12)
        const a = buf.readUInt32LE(m + 16), b = buf.readUInt32LE(m + 20), c = buf.readUInt32LE(m + 24), d = buf.readUInt32LE(m + 28)
        if (fam !== lastFam || a !== lastA || b !== lastB || c !== lastC || d !== lastD) {
          const end = buf.indexOf(0, m + 32)
          lastIp = buf.toString('latin1', m + 32, end < 0 || end > m + meta ? m + meta : end)
          lastFam = fam; lastA = a; lastB = b; lastC = c; lastD = d
        }
        try {
          out[i] = answer(buf.subarray(off, off + len), lastIp, srcPort, self)
        } catch {
          out[i] = null // the responder does not throw; one bad datagram must not cost the batch its answers
        }
      }
      return out
    }
    this.#h = addon.open(host, port, UDP_RECV_BUFFER_BYTES, onBatch)
    this.port = addon.port(this.#h)
  }

  send(out: Buffer, port: number, host: string): void {
    if (this.#h !== null) this.#addon.send(this.#h, out, host, port)
  }

  get stats(): UdpBatchStats | null {
    return this.#h === null ? null : this.#addon.stats(this.#h)
  }

  get dropped(): number {
    const st = this.stats
    return st === null ? 0 : st.truncated + st.sendDropped
  }

  close(): Promise<void> {
    if (this.#h !== null) { this.#addon.close(this.#h); this.#h = null }
    return Promise.resolve()
  }
}
