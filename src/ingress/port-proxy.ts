import type { Backend } from './balancer.ts'

/**
 * The role every listener of one published port plays for the controller, whatever its protocol or engine:
 * TcpProxy (net.Socket), RawTcpProxy (libuv handles) and UdpProxy (a flow table) all satisfy it, so the controller
 * holds `PortProxy`s and never asks which one it has. Lifecycle as everywhere: construct (no side effects),
 * start() (binds with reusePort, so a new agent process can listen beside this one; rejects with IngressError when it cannot), stop() (closes the listener and every connection or
 * flow; safe after a failed start).
 */
export interface PortProxy {
  /** The bound port (the configured one until start() has bound). */
  readonly port: number
  /** Open connections (TCP) or flows (UDP), including those still connecting. */
  readonly open: number
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * Stop taking new connections (an agent handing its ports to a new process, which listens beside it with
   * reusePort): TCP closes its listener and lets open connections finish; UDP stops at once (no connection to
   * finish: a client's next datagram reaches the new process). stop() still ends what is left.
   */
  closeListener(): Promise<void>
  /**
   * These backends take no new connections (stopping, unhealthy or gone): their open connections or flows go on
   * until `graceMs` has passed, then are closed unless the backend is eligible again.
   */
  retire(backends: readonly Backend[], graceMs: number): void
  /** Connected connections (TCP) or flows (UDP) per backend key. */
  openByBackend(): Map<string, number>
  /** Bytes moved so far by connections still open, per backend key: [client→backend, backend→client]. */
  liveBytes(): Map<string, [number, number]>
  /** Bytes queued in this process's write buffers across open connections (0 for UDP). */
  queuedBytes(): number
}
