/**
 * The I/O of bench/agent-scale.ts: a bounded DNS query over UDP, percentiles, waits, and the two child processes of
 * the idle-connection phase (a backend that holds every connection, a client that opens N and holds them), so their
 * descriptors and memory are not counted in the agent's.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import net from 'node:net'
import { createInterface } from 'node:readline'
import dnsPacket from 'dns-packet'

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Resolves once `cond()` holds (polled every ms), rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(1)
  }
}

/** Nearest-rank percentile of `xs` (p in 0..100); 0 for none. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number
}

/**
 * The A records of `name` from the server at `addr`; with `wantIp`, asks again (every ms) until the answer holds it.
 * Rejects after `timeoutMs`.
 */
export async function dnsAsk(addr: { host: string; port: number }, name: string, timeoutMs: number, wantIp?: string): Promise<string[]> {
  const sock = dgram.createSocket('udp4')
  const end = performance.now() + timeoutMs
  let id = 0
  // One listener for the whole exchange: a reply that comes after its attempt gave up still counts if it answers.
  let waiter: ((ips: string[]) => void) | null = null
  sock.on('message', (m) => {
    const d = dnsPacket.decode(m)
    const ips = (d.answers ?? []).flatMap((a) => (a.type === 'A' ? [String(a.data)] : []))
    if (!wantIp || ips.includes(wantIp)) waiter?.(ips)
  })
  try {
    for (;;) {
      const left = end - performance.now()
      if (left <= 0) throw new Error(`DNS ${name}${wantIp ? ` → ${wantIp}` : ''}: no such answer within ${timeoutMs} ms`)
      id = (id + 1) & 0xffff
      const q = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] })
      const ips = await new Promise<string[] | null>((resolve) => {
        // An answer without the address (the zone not rebuilt yet) is not a reply: ask again after 1 ms.
        const timer = setTimeout(() => resolve(null), Math.min(wantIp ? 5 : 500, left))
        waiter = (got) => { clearTimeout(timer); resolve(got) }
        sock.send(q, addr.port, addr.host)
      })
      if (ips) return ips
    }
  } finally {
    waiter = null
    sock.close()
  }
}

/**
 * Latencies of a coalescing pipeline: `expect(rev)` when revision `rev` is applied, `arrived(rev)` when a stage has
 * caught up with `rev` (it skips revisions that were superseded meanwhile, as the ingress does): every revision
 * expected up to it gets its latency then.
 */
export class Arrivals {
  readonly ms: number[] = []
  readonly #pending: { rev: number; at: number }[] = []

  expect(rev: number, at: number): void {
    this.#pending.push({ rev, at })
  }

  arrived(rev: number, at: number): void {
    while (this.#pending.length > 0 && (this.#pending[0] as { rev: number }).rev <= rev) this.ms.push(at - (this.#pending.shift() as { at: number }).at)
  }

  get waiting(): number {
    return this.#pending.length
  }
}

export interface Child {
  child: ChildProcess
}

function firstLine(c: ChildProcess, ms: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    createInterface({ input: c.stdout! }).once('line', (l) => { clearTimeout(timer); resolve(l) })
    c.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code})`)) })
  })
}

/** A child holding every connection to host:port open (the idle phase's backend). */
export async function serveBackend(self: string, host: string, port: number, children: ChildProcess[]): Promise<Child> {
  const child = spawn(process.execPath, [...process.execArgv, self, '--backend', host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  await firstLine(child, 10_000, 'backend')
  return { child }
}

/** A child opening `n` connections to host:port (200 connecting at once) and holding them; what it holds after 1 s. */
export async function holdConnections(self: string, host: string, port: number, n: number, children: ChildProcess[]) {
  const child = spawn(process.execPath, [...process.execArgv, self, '--hold', host, String(port), String(n)], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const r = JSON.parse(await firstLine(child, 180_000, 'client')) as { connected: number; open: number; failed: number }
  return { child, ...r }
}

/** The children's side: `--backend HOST PORT` or `--hold HOST PORT N`. */
export async function childMain(argv: string[]): Promise<void> {
  const [role, host, portText, nText] = argv
  const port = Number(portText)
  const socks = new Set<net.Socket>()
  if (role === '--backend') {
    const server = net.createServer((s) => { s.on('error', () => undefined); socks.add(s) })
    server.maxConnections = 1_000_000
    await new Promise<void>((r) => server.listen({ host, port, backlog: 4096 }, () => r()))
    console.log('ready')
    return
  }
  const n = Number(nText)
  let connected = 0
  let failed = 0
  let open = 0
  let started = 0
  await new Promise<void>((done) => {
    const one = () => {
      if (started >= n) {
        if (connected + failed >= n) done()
        return
      }
      started++
      const s = net.connect({ host, port })
      let ok = false
      s.on('connect', () => { ok = true; connected++; open++; socks.add(s); one() })
      s.on('error', () => undefined)
      s.on('close', () => {
        if (ok) open--
        else { failed++; one() }
        socks.delete(s)
      })
    }
    for (let i = 0; i < Math.min(200, n); i++) one()
  })
  await sleep(1000)
  console.log(JSON.stringify({ connected, open, failed }))
}
