import t, { type Test } from 'tap'
import net from 'node:net'
import { Ingress, type IngressOptions } from '../../../src/ingress/index.ts'
import type { PortSpec } from '../../../src/api/types.ts'
import { FakeCatalog, ep, exchange, freePort, noExec, noLog, svc, until, bothEngines } from './helpers.ts'

/** Every test runs against both TCP engines (raw handles, net.Socket); subtests run one after another. */
let engine: 'raw' | 'net' = 'raw'
const both = (name: string, fn: (t: Test) => Promise<void>) => bothEngines(t, name, async (tt, e) => { engine = e; await fn(tt) })

/** One raw TCP backend on 127.0.0.2 and an ingress in front of it on 127.0.0.1. */
async function setup(t: Test, onConn: (c: net.Socket) => void, port: Partial<PortSpec> = {}, o: Partial<IngressOptions> = {}) {
  const target = await freePort(['127.0.0.2'])
  const published = await freePort(['127.0.0.1'])
  const conns: net.Socket[] = []
  const backend = net.createServer({ allowHalfOpen: true }, (c) => {
    conns.push(c)
    c.on('error', () => undefined)
    onConn(c)
  })
  await new Promise<void>((r) => backend.listen(target, '127.0.0.2', () => r()))
  t.teardown(() => {
    for (const c of conns) c.destroy()
    return new Promise((r) => backend.close(r))
  })
  const cat = new FakeCatalog()
  cat.set([svc([{ published, target, protocol: 'tcp', mode: 'ingress', ...port }], [ep(1, '127.0.0.2')])])
  // A long connect timeout: a stalled process must not see its loopback connect as timed out.
  const ing = new Ingress({ catalog: cat, mode: 'userspace', bindAddr: '127.0.0.1', log: noLog, exec: noExec, tcpEngine: engine, connectTimeoutMs: 30_000, ...o })
  await ing.start()
  t.teardown(() => ing.stop())
  return { published, target, ing, conns }
}

both('half-close: the client ends its side, the backend still answers, then ends', async (t) => {
  const { published } = await setup(t, (c) => {
    const got: Buffer[] = []
    c.on('data', (d) => got.push(d))
    c.on('end', () => {
      // The request is complete only once the client has half-closed; answer after that.
      setImmediate(() => c.end(`got ${Buffer.concat(got).toString()}; bye`))
    })
  })
  const reply = await exchange('127.0.0.1', published, 'hello')
  t.equal(reply.toString(), 'got hello; bye')
})

both('half-close the other way: the backend ends first, the client still sends', async (t) => {
  let got = ''
  let ended = false
  const { published } = await setup(t, (c) => {
    c.end('hi')
    c.on('data', (d) => (got += d))
    c.on('end', () => (ended = true))
  })
  const s = net.connect({ port: published, host: '127.0.0.1', allowHalfOpen: true })
  t.teardown(() => s.destroy())
  let reply = ''
  s.on('data', (d) => (reply += d))
  await new Promise((r) => s.on('end', r))
  t.equal(reply, 'hi', 'the backend spoke and ended')
  s.end('later')
  await until(() => ended, 20_000, 'backend sees the client end')
  t.equal(got, 'later', 'bytes after the backend ended still arrive')
})

both('backpressure: a client that does not read makes the proxy stop reading, not buffer', async (t) => {
  const total = 32 * 1024 * 1024
  const chunk = Buffer.alloc(1024 * 1024, 7)
  let backendSock: net.Socket | null = null
  const { published, ing } = await setup(t, (c) => {
    backendSock = c
    for (let i = 0; i < total / chunk.length; i++) c.write(chunk) // the backend buffers whatever TCP will not take
    c.end()
  })
  const client = net.connect(published, '127.0.0.1')
  t.teardown(() => client.destroy())
  client.pause()
  await until(() => backendSock !== null, 20_000, 'backend connection')
  const b = backendSock as unknown as net.Socket
  const flushed = () => b.bytesWritten - b.writableLength
  // Wait until the backend cannot push any more (everything between it and the paused client is full): no progress
  // over 3 polls in a row, each after a turn of the event loop (one poll alone can follow a stall of this process,
  // before its I/O is read). Bounded: 20 s.
  let last = -1
  let still = 0
  for (const end = Date.now() + 20_000; Date.now() < end && still < 3;) {
    still = flushed() === last ? still + 1 : 0
    last = flushed()
    await new Promise((r) => setTimeout(r, 30))
  }
  const st = ing.status()[0]!
  t.ok(last > 1024 * 1024, `data flowed before the client stalled (${last} bytes)`)
  t.ok(last < total / 2, `the backend is held back: ${last} of ${total} bytes left it`)
  t.ok(st.queuedBytes <= 256 * 1024, `proxy buffers stay bounded: ${st.queuedBytes} bytes queued`)
  let received = 0
  client.on('data', (d: Buffer) => (received += d.length))
  client.resume()
  await new Promise((r) => client.on('end', r))
  t.equal(received, total, 'every byte arrives once the client reads')
})

both('idle timeout closes a silent connection (both sides)', async (t) => {
  let backendClosed = false
  const { published } = await setup(t, (c) => {
    c.resume()
    c.on('end', () => (backendClosed = true))
    c.on('close', () => (backendClosed = true))
  }, {}, { idleTimeoutMs: 150 })
  const s = net.connect(published, '127.0.0.1')
  s.on('error', () => undefined)
  const opened = Date.now()
  s.write('x')
  await new Promise((r) => s.on('close', r))
  const ms = Date.now() - opened
  t.ok(ms >= 140, `closed after ${ms} ms of silence (idle timeout 150 ms)`)
  await until(() => backendClosed, 20_000, 'backend side closed')
})

both('idle timeout is reset by traffic', async (t) => {
  // Traffic every ~100 ms for twice the idle timeout. The idle timeout is long next to the gaps so that a stall of
  // this process on a loaded machine (a gap of a second) does not look like silence.
  const idleTimeoutMs = 1500
  const { published } = await setup(t, (c) => c.on('data', (d) => c.write(d)), {}, { idleTimeoutMs })
  const s = net.connect(published, '127.0.0.1')
  t.teardown(() => s.destroy())
  let echoed = 0
  s.on('data', (d: Buffer) => (echoed += d.length))
  s.on('error', () => undefined)
  const opened = Date.now()
  let sent = 0
  let gap = 0
  for (let at = opened; Date.now() - opened < 2 * idleTimeoutMs && !s.destroyed;) {
    gap = Math.max(gap, Date.now() - at)
    at = Date.now()
    s.write('ping')
    sent++
    await until(() => echoed === sent * 4 || s.destroyed, 20_000, 'the echo')
    await new Promise((r) => setTimeout(r, 100))
  }
  t.comment(`${sent} pings over ${Date.now() - opened} ms, longest gap ${gap} ms`)
  t.notOk(s.destroyed, `still open after ${2 * idleTimeoutMs} ms of traffic (idle timeout ${idleTimeoutMs} ms)`)
  t.equal(echoed, sent * 4, 'every ping echoed')
})

async function firstBytes(t: Test, proxyProtocol: 'v1' | 'v2') {
  let got: Buffer = Buffer.alloc(0)
  const { published } = await setup(t, (c) => c.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); if (got.includes('payload')) c.end() }), { proxyProtocol })
  const s = net.connect({ port: published, host: '127.0.0.1', localAddress: '127.0.0.1' })
  await new Promise((r) => s.on('connect', r))
  const clientPort = s.localPort as number
  s.write('payload')
  await new Promise((r) => s.on('close', r))
  return { got, clientPort, published }
}

both('PROXY protocol v1 line before the client bytes', async (t) => {
  const { got, clientPort, published } = await firstBytes(t, 'v1')
  t.equal(got.toString('latin1'), `PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${published}\r\npayload`)
})

both('PROXY protocol v2 header before the client bytes', async (t) => {
  const { got, clientPort, published } = await firstBytes(t, 'v2')
  const want = Buffer.alloc(28)
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(want, 0)
  want[12] = 0x21
  want[13] = 0x11
  want.writeUInt16BE(12, 14)
  Buffer.from([127, 0, 0, 1, 127, 0, 0, 1]).copy(want, 16)
  want.writeUInt16BE(clientPort, 24)
  want.writeUInt16BE(published, 26)
  t.equal(got.subarray(0, 28).toString('hex'), want.toString('hex'))
  t.equal(got.subarray(28).toString(), 'payload')
})
