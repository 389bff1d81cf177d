import net from 'node:net'
import type { HealthChecker, HealthTarget } from './health-check.ts'

/**
 * Adapter: an active check is a TCP connect. Accepted within the timeout → healthy; refused, unreachable or still
 * connecting at the timeout → not. The socket is closed as soon as the answer is known; nothing is sent.
 * A timeout is decided only after one more turn of the event loop (setImmediate): when the process stalled, the
 * timer phase runs before the poll phase that would deliver a connect already completed in the kernel, and a
 * live endpoint must not fail its check for this process's own delay.
 */
export class TcpHealthChecker implements HealthChecker {
  probe(target: HealthTarget, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const s = net.connect({ host: target.ip, port: target.port })
      s.setTimeout(timeoutMs)
      let settled = false
      const done = (ok: boolean) => {
        if (settled) return
        settled = true
        s.destroy()
        resolve(ok)
      }
      s.once('connect', () => done(true))
      s.once('timeout', () => setImmediate(() => done(false)))
      s.once('error', () => done(false))
    })
  }
}
