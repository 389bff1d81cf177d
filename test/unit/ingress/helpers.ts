import type { Test } from 'tap'
import dgram from 'node:dgram'
import net from 'node:net'
import type { CatalogService, CatalogSnapshot, CatalogView, Endpoint } from '../../../src/catalog/index.ts'
import type { PortSpec } from '../../../src/api/types.ts'

/** A catalog view the test sets by hand. */
export class FakeCatalog implements CatalogView {
  #snap: CatalogSnapshot = { revision: 0, services: [], nodes: [] }
  readonly #fns = new Set<(s: CatalogSnapshot) => void>()
  current(): CatalogSnapshot {
    return this.#snap
  }
  onChange(fn: (s: CatalogSnapshot) => void): () => void {
    this.#fns.add(fn)
    return () => this.#fns.delete(fn)
  }
  set(services: CatalogService[]): void {
    this.#snap = { revision: this.#snap.revision + 1, services, nodes: [] }
    for (const fn of this.#fns) fn(this.#snap)
  }
}

export function ep(i: number, ip: string, o: Partial<Endpoint> = {}): Endpoint {
  return { taskId: `t${i}`, slot: i, taskName: `web.${i}`, nodeId: 'n1', node: 'node1', ip, state: 'running', health: 'none', ...o }
}

export function svc(ports: PortSpec[], endpoints: Endpoint[], o: Partial<CatalogService> = {}): CatalogService {
  return { id: 's1', name: 'web', shortName: 'web', endpointMode: 'vip', ports, stopGracePeriodMs: 10_000, endpoints, ...o }
}

/** A TCP port free on every given address right now. */
export async function freePort(addrs: string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = net.createServer()
    await new Promise<void>((r) => first.listen(0, addrs[0], () => r()))
    const port = (first.address() as net.AddressInfo).port
    const others: net.Server[] = []
    let ok = true
    for (const a of addrs.slice(1)) {
      const s = net.createServer()
      ok = await new Promise<boolean>((r) => {
        s.once('error', () => r(false))
        s.listen(port, a, () => r(true))
      })
      if (!ok) break
      others.push(s)
    }
    await Promise.all([first, ...others].map((s) => new Promise((r) => s.close(r))))
    if (ok) return port
  }
  throw new Error('no free port')
}

/**
 * Resolves when `cond()` holds, polling every 5 ms, or rejects after `ms`. The bound is generous on purpose: what
 * is waited for takes milliseconds, but a loaded CI machine can stall this process for seconds.
 */
export async function until(cond: () => boolean, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Connect, send `data`, half-close, read everything until the server closes. */
export function exchange(host: string, port: number, data: string | Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true })
    const chunks: Buffer[] = []
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('error', reject)
    s.on('end', () => {
      s.end()
      resolve(Buffer.concat(chunks))
    })
    s.end(data)
  })
}

export const noLog = (): void => undefined
export const noExec = async (): Promise<string> => ''

/** Run a subtest once per TCP engine (raw handles, net.Socket), one after another. */
export function bothEngines(root: Test, name: string, fn: (t: Test, engine: 'raw' | 'net') => Promise<void>): void {
  for (const e of ['raw', 'net'] as const) root.test(`${name} [${e}]`, async (t) => fn(t, e))
}

/** A UDP port free on `addr` now (bound to 0, read, closed). */
export async function udpPort(addr: string): Promise<number> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, addr, () => r()))
  const p = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return p
}
