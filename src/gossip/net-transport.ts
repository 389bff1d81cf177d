import dgram from 'node:dgram'
import net from 'node:net'
import { isIP } from 'node:net'
import type { Address, Framer, Transport, TransportHandler } from './transport.ts'

/**
 * The real transport: one UDP socket and one TCP listener on the same address and port (memberlist's
 * NetTransport). Thin: it moves bytes, enforces size and time limits, and never throws on network input.
 */

export interface NetTransportOptions {
  bindAddr: string
  bindPort: number
  /** Deadline of a whole inbound or outbound stream, ms. */
  streamTimeoutMs: number
  /** Inbound streams larger than this are cut off. */
  maxStreamBytes?: number
  /** Called for socket-level errors that do not stop the transport (logged by the caller). */
  onError?: (err: Error, where: string) => void
}

const DEFAULT_MAX_STREAM = 32 * 1024 * 1024
/** Inbound streams served at once; more are refused (each may decompress up to 20 MiB). */
const MAX_INBOUND_STREAMS = 64

export class NetTransport implements Transport {
  readonly #o: NetTransportOptions
  #udp: dgram.Socket | null = null
  #tcp: net.Server | null = null
  #port = 0
  readonly #conns = new Set<net.Socket>()

  constructor(o: NetTransportOptions) {
    this.#o = o
  }

  get localAddress(): Address {
    return { ip: this.#o.bindAddr, port: this.#port }
  }

  async listen<T>(handler: TransportHandler<T>): Promise<void> {
    const family = isIP(this.#o.bindAddr) === 6 ? 'udp6' : 'udp4'
    const tcp = net.createServer((sock) => this.#serve(sock, handler))
    tcp.on('error', (err) => this.#o.onError?.(err, 'tcp'))
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject)
      tcp.listen({ host: this.#o.bindAddr, port: this.#o.bindPort, exclusive: true }, () => {
        tcp.off('error', reject)
        resolve()
      })
    })
    this.#tcp = tcp
    this.#port = (tcp.address() as net.AddressInfo).port
    const udp = dgram.createSocket({ type: family, reuseAddr: false })
    udp.on('message', (msg, rinfo) => {
      try {
        handler.onPacket(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { ip: rinfo.address, port: rinfo.port })
      } catch (err) {
        this.#o.onError?.(err as Error, 'udp handler')
      }
    })
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject)
      udp.bind({ address: this.#o.bindAddr, port: this.#port, exclusive: true }, () => {
        udp.off('error', reject)
        resolve()
      })
    }).catch(async (err) => {
      await new Promise<void>((r) => tcp.close(() => r()))
      this.#tcp = null
      throw err
    })
    udp.on('error', (err) => this.#o.onError?.(err, 'udp'))
    this.#udp = udp
  }

  sendPacket(to: Address, data: Uint8Array): void {
    const udp = this.#udp
    if (!udp) return
    try {
      udp.send(data, to.port, to.ip, (err) => { if (err) this.#o.onError?.(err, 'udp send') })
    } catch (err) {
      this.#o.onError?.(err as Error, 'udp send')
    }
  }

  request<T>(to: Address, data: Uint8Array, frame: Framer<T>, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const sock = net.connect({ host: to.ip, port: to.port })
      this.#conns.add(sock)
      let buf: Buffer = Buffer.alloc(0)
      let done = false
      const finish = (err: Error | null, value?: T) => {
        if (done) return
        done = true
        clearTimeout(timer)
        sock.destroy()
        this.#conns.delete(sock)
        if (err) reject(err)
        else resolve(value as T)
      }
      const timer = setTimeout(() => finish(new Error(`stream to ${to.ip}:${to.port}: i/o timeout`)), timeoutMs)
      sock.on('connect', () => sock.write(data))
      sock.on('data', (chunk) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
        try {
          const r = frame(buf)
          if (r) finish(null, r.value)
        } catch (err) {
          finish(err as Error)
        }
      })
      sock.on('error', (err) => finish(err))
      sock.on('close', () => finish(new Error(`stream to ${to.ip}:${to.port}: closed without a complete reply`)))
    })
  }

  send(to: Address, data: Uint8Array, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = net.connect({ host: to.ip, port: to.port })
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('i/o timeout')) }, timeoutMs)
      sock.on('connect', () => sock.end(data, () => { clearTimeout(timer); resolve() }))
      sock.on('error', (err) => { clearTimeout(timer); reject(err) })
    })
  }

  #serve<T>(sock: net.Socket, handler: TransportHandler<T>): void {
    if (this.#conns.size >= MAX_INBOUND_STREAMS) {
      sock.destroy()
      return
    }
    this.#conns.add(sock)
    const max = this.#o.maxStreamBytes ?? DEFAULT_MAX_STREAM
    let buf: Buffer = Buffer.alloc(0)
    let handled = false
    const timer = setTimeout(() => sock.destroy(), this.#o.streamTimeoutMs)
    const close = () => {
      clearTimeout(timer)
      this.#conns.delete(sock)
    }
    const reply = (data: Uint8Array | null) => {
      if (data && !sock.destroyed) sock.end(data)
      else sock.end()
    }
    sock.on('error', () => sock.destroy())
    sock.on('close', close)
    sock.on('data', (chunk) => {
      if (handled) return
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      if (buf.length > max) {
        handled = true
        sock.destroy()
        return
      }
      let r: { value: T; bytes: number } | null
      try {
        r = handler.frame(buf)
      } catch (err) {
        handled = true
        reply(handler.onStreamError(err, remoteOf(sock)))
        return
      }
      if (!r) return
      handled = true
      handler.onStream(r.value, remoteOf(sock)).then(reply, (err: Error) => {
        this.#o.onError?.(err, 'stream handler')
        sock.destroy()
      })
    })
  }

  async close(): Promise<void> {
    for (const s of this.#conns) s.destroy()
    this.#conns.clear()
    const udp = this.#udp
    const tcp = this.#tcp
    this.#udp = null
    this.#tcp = null
    if (udp) await new Promise<void>((r) => udp.close(() => r()))
    if (tcp) await new Promise<void>((r) => tcp.close(() => r()))
  }
}

function remoteOf(sock: net.Socket): Address {
  return { ip: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 }
}
