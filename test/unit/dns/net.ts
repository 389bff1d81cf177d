/** Loopback helpers for the DNS server tests: a UDP client, and a small upstream resolver that knows a few names. */
import dgram from 'node:dgram'
import net from 'node:net'
import dnsPacket from 'dns-packet'

/**
 * The server's UDP path these tests run on: `batched` (the recvmmsg addon, dist/native/udpmmsg.node: `npm run build`)
 * unless MESH_TEST_DNS_UDP says `dgram`; the *-dgram.test.ts files run the same tests over node:dgram. Never `auto`:
 * a missing addon must fail here, not quietly test dgram twice.
 */
export const UDP_PATH: 'dgram' | 'batched' = process.env.MESH_TEST_DNS_UDP === 'dgram' ? 'dgram' : 'batched'

/**
 * Send one UDP query from `localAddress` and resolve with the answer (rejects after timeoutMs: generous, a loaded CI
 * machine can stall this process for seconds; a test expecting no answer passes a short one).
 */
export function udpQuery(host: string, port: number, msg: Buffer, timeoutMs = 20_000, localAddress = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    const timer = setTimeout(() => { s.close(); reject(new Error(`no UDP answer from ${host}:${port} in ${timeoutMs} ms`)) }, timeoutMs)
    s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m) })
    s.on('error', (err) => { clearTimeout(timer); s.close(); reject(err) })
    s.bind(0, localAddress, () => s.send(msg, port, host))
  })
}

export function q(name: string, type = 'A', id = 1, extra: Partial<dnsPacket.Packet> = {}): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: type as dnsPacket.RecordType }], ...extra })
}

export interface TestUpstream {
  host: string
  port: number
  queries: number
  close(): Promise<void>
}

/**
 * An upstream resolver on host (port 0, UDP and TCP): `only.upstream.test` → 192.0.2.7; `big.upstream.test` → 120
 * addresses (over UDP cut to none with TC set, over TCP complete); anything else NXDOMAIN.
 */
export async function startUpstream(host: string): Promise<TestUpstream> {
  const answer = (msg: Buffer, tcp: boolean): Buffer => {
    const p = dnsPacket.decode(msg)
    const question = p.questions?.[0] as dnsPacket.Question
    const base = { type: 'response' as const, id: p.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: [question] }
    const name = question.name.toLowerCase()
    if (name === 'only.upstream.test') return dnsPacket.encode({ ...base, answers: [{ type: 'A', name: question.name, ttl: 60, data: '192.0.2.7' }] })
    if (name === 'big.upstream.test') {
      if (!tcp) return dnsPacket.encode({ ...base, flags: base.flags | dnsPacket.TRUNCATED_RESPONSE })
      return dnsPacket.encode({ ...base, answers: Array.from({ length: 120 }, (_, i) => ({ type: 'A' as const, name: question.name, ttl: 60, data: `198.51.100.${i}` })) })
    }
    return dnsPacket.encode({ ...base, flags: base.flags | 3 })
  }
  const up: TestUpstream = { host, port: 0, queries: 0, close: async () => {} }
  const udp = dgram.createSocket('udp4')
  udp.on('message', (m, r) => { up.queries++; udp.send(answer(m, false), r.port, r.address) })
  await new Promise<void>((res) => udp.bind(0, host, () => res()))
  up.port = udp.address().port
  const tcp = net.createServer((c) => {
    let buf = Buffer.alloc(0)
    c.on('error', () => {})
    c.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0))
        buf = buf.subarray(2 + msg.length)
        up.queries++
        const a = answer(msg, true)
        const len = Buffer.alloc(2)
        len.writeUInt16BE(a.length)
        c.write(Buffer.concat([len, a]))
      }
    })
  })
  await new Promise<void>((res) => tcp.listen(up.port, host, () => res()))
  up.close = async () => {
    await new Promise<void>((res) => udp.close(() => res()))
    await new Promise<void>((res) => tcp.close(() => res()))
  }
  return up
}
