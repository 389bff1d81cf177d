import net from 'node:net'
import type { HealthChecker, HealthTarget } from './health-check.ts'

/**
 * Adapter: an active check is a TCP connect. Accepted within the timeout → healthy; refused, unreachable or still
 * connecting at the timeout → not. The socket is closed as soon as the answer is known; nothing is sent.
 */
export class TcpHealthChecker implements HealthChecker {
  probe(target: HealthTarget, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect({ host: target.ip, port: target.port })
      s.setTimeout(timeoutMs)
      const done = (ok: boolean) => {
        s.destroy()
        resolve(ok)
      }
      s.once('connect', () => done(true))
      s.once('timeout', () => done(false))
      s.once('error', () => done(false))
    })
  }
}
