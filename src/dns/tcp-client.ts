/** One DNS exchange over TCP (RFC 1035 §4.2.2 length prefix): used to retry truncated upstream answers, and by tests. */
import net from 'node:net'
import { DnsError } from './errors.ts'

/** Send `msg` to host:port over a fresh TCP connection and resolve with the first framed answer. */
export function tcpQuery(host: string, port: number, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port })
    let buf: Buffer = Buffer.alloc(0)
    let done = false
    const finish = (err: Error | null, answer?: Buffer) => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(answer as Buffer)
    }
    const timer = setTimeout(() => finish(new DnsError(`dns: tcp ${host}:${port}: no answer within ${timeoutMs} ms`)), timeoutMs)
    sock.on('connect', () => {
      const frame = Buffer.allocUnsafe(2 + msg.length)
      frame.writeUInt16BE(msg.length, 0)
      msg.copy(frame, 2)
      sock.write(frame)
    })
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(null, buf.subarray(2, 2 + buf.readUInt16BE(0)))
    })
    sock.on('error', (err) => finish(new DnsError(`dns: tcp ${host}:${port}: ${err.message}`, { cause: err })))
    sock.on('close', () => finish(new DnsError(`dns: tcp ${host}:${port}: closed before an answer`)))
  })
}
