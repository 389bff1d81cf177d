/** The sockets of one DNS listen address: UDP (dgram or batched) and TCP on the same port, both SO_REUSEPORT. */
import net from 'node:net'
import { DnsError } from './errors.ts'
import type { ListenAddress } from './options.ts'
import type { Log } from './server.ts'
import { openUdp, type UdpAnswer, type UdpListener } from './udp.ts'

export interface Bound {
  udp: UdpListener
  /** Null on a worker thread (TCP is answered on the main thread only). */
  tcp: net.Server | null
  addr: ListenAddress
}

export function closeBound(b: Bound): Promise<void> {
  const tcp = b.tcp
  return Promise.all([
    tcp === null ? Promise.resolve() : new Promise<void>((r) => tcp.close(() => r())),
    b.udp.close(),
  ]).then(() => undefined)
}

/**
 * Bind UDP then TCP on the same address and port (port 0: the UDP port, retried when TCP finds it taken), both with
 * reusePort: a new agent process serves beside the old one until the old lets go (agent/handover.ts).
 */
export async function bindPair(addr: ListenAddress, kind: 'dgram' | 'batched', answer: UdpAnswer,
  onConn: ((c: net.Socket) => void) | null, maxConnections: number, log: Log): Promise<Bound> {
  for (let attempt = 0; ; attempt++) {
    let udp: UdpListener
    try {
      udp = await openUdp(kind, addr.host, addr.port, answer, (err) => log('warn', 'dns udp socket error', { addr: addr.host, err: err.message }))
    } catch (err) {
      throw new DnsError(`dns: cannot bind udp ${addr.host}:${addr.port}: ${(err as Error).message}`, { cause: err })
    }
    const port = udp.port
    if (onConn === null) return { udp, tcp: null, addr: { host: addr.host, port } }
    const tcp = net.createServer({ allowHalfOpen: true }, onConn)
    tcp.maxConnections = maxConnections
    try {
      await new Promise<void>((resolve, reject) => { tcp.once('error', reject); tcp.listen({ host: addr.host, port, reusePort: true }, () => { tcp.off('error', reject); resolve() }) })
      tcp.on('error', (err) => log('warn', 'dns tcp server error', { addr: addr.host, err: err.message }))
      return { udp, tcp, addr: { host: addr.host, port } }
    } catch (err) {
      await udp.close()
      if (addr.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 8) continue
      throw new DnsError(`dns: cannot listen on tcp ${addr.host}:${port}: ${(err as Error).message}`, { cause: err })
    }
  }
}
