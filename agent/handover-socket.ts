import net from 'node:net'
import { existsSync, unlinkSync } from 'node:fs'
import { realClock } from '../src/base/clock.ts'
import { LineSplitter } from '../src/base/ndjson.ts'
import { listenUnix } from '../src/base/unix-socket.ts'
import { Incoming, type HandoverMessage, type HandoverTransport, type IncomingResult, type Outgoing } from './handover.ts'

/**
 * The handover protocol (handover.ts) over `<data-dir>/handover.sock`: a unix socket, mode 0600, one JSON message
 * per line. Adapter only: the running agent listens (HandoverListener → Outgoing), a new process on the same data
 * dir connects (`takeOver` → Incoming).
 */
export const HANDOVER_SOCKET = 'handover.sock'

/** How long a new process waits for the running one to release (its store closes, its sockets unbind). */
export const RELEASE_TIMEOUT_MS = 60_000

class SocketTransport implements HandoverTransport {
  readonly sock: net.Socket
  constructor(sock: net.Socket) { this.sock = sock }
  send(msg: HandoverMessage): void {
    if (!this.sock.destroyed) this.sock.write(`${JSON.stringify(msg)}\n`)
  }
  close(): void {
    this.sock.end()
  }
}

/** Call `onMessage` per line (bad JSON ends the connection), `onClose` once. */
function frame(sock: net.Socket, onMessage: (m: HandoverMessage) => void, onClose: () => void): void {
  const lines = new LineSplitter({ maxLineChars: 64 * 1024 })
  sock.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) {
      let msg: HandoverMessage
      try {
        msg = JSON.parse(line) as HandoverMessage
      } catch {
        sock.destroy()
        return
      }
      onMessage(msg)
    }
  })
  sock.on('error', () => undefined)
  sock.once('close', onClose)
}

/** The running agent's side: accepts newcomers and feeds them to `outgoing`. */
export class HandoverListener {
  readonly #path: string
  readonly #outgoing: Outgoing
  #server: net.Server | null = null

  constructor(path: string, outgoing: Outgoing) {
    this.#path = path
    this.#outgoing = outgoing
  }

  async start(): Promise<void> {
    if (existsSync(this.#path)) unlinkSync(this.#path) // the control socket said no agent runs: a stale file
    const server = net.createServer((sock) => {
      const tr = new SocketTransport(sock)
      frame(sock, (m) => void this.#outgoing.onMessage(tr, m), () => void this.#outgoing.onClose(tr))
    })
    await listenUnix(server, this.#path, 0o600)
    this.#server = server
  }

  /** Stop accepting (the path is free for the new process); accepted connections go on. */
  async stop(): Promise<void> {
    const s = this.#server
    this.#server = null
    if (!s) return
    // Not awaited: close's callback waits for every accepted connection, and the handover's own stays open.
    await new Promise<void>((r) => { s.close(); s.once('close', () => undefined); setImmediate(r) })
    if (existsSync(this.#path)) unlinkSync(this.#path)
  }
}

/** A handover in progress on the new process's side: tell the old one we serve, or that we failed. */
export interface TakingOver {
  up(): void
  failed(reason: string): void
}

/**
 * The new process's side: null when no agent answers on `path` (nothing to take over). Otherwise says hello and
 * resolves once the running agent has released (its gossip port, store and control socket are free), or with the
 * refusal. The connection stays open: closing it (this process ends) before `up()` makes the old one resume.
 */
export async function takeOver(path: string, pid = process.pid, name?: string): Promise<{ result: IncomingResult; handover: TakingOver } | null> {
  if (!existsSync(path)) return null
  const sock = await new Promise<net.Socket | null>((resolve) => {
    const s = net.connect(path)
    s.once('connect', () => resolve(s))
    s.once('error', () => resolve(null))
  })
  if (!sock) return null
  const tr = new SocketTransport(sock)
  const incoming = new Incoming({ clock: realClock(), releaseTimeoutMs: RELEASE_TIMEOUT_MS })
  frame(sock, (m) => incoming.onMessage(m), () => incoming.onClose())
  const result = await incoming.begin(tr, pid, name)
  sock.unref() // it must not keep this process alive
  return {
    result,
    handover: {
      up: () => { tr.send({ type: 'up' }); tr.close() },
      failed: (reason) => { tr.send({ type: 'failed', reason }); tr.close() },
    },
  }
}
