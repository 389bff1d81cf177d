// Runs inside throwaway network namespaces (`unshare -n`), started by netdns-netns.test.ts. Without arguments it is
// the NODE: a veth `mbr-4097` (network a's bridge here, gateway 10.80.0.65/20, and 10.80.0.66, a "task" of that
// network answering DNS itself), the ruleset from $RULES applied with nft, and the real DnsServer (src/dns) on the
// gateway with a catalog holding networks a and b. It then starts itself again as a CONTAINER on network a (its own
// namespace, eth0 10.80.0.70/20 behind the gateway), which asks as a plain `docker run --network a` container's
// engine would: a resolver outside the network (192.0.2.53, nothing routes there), over UDP and TCP, and a task of
// its own network. It prints one JSON line of what each question got.
// Started any other way (`tap test/integration` runs every script in the folder) it would sit in the host's own
// namespace: without the $RULES netdns-netns.test.ts passes (the container inherits it) it does nothing and says why.
import { execFileSync, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { existsSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import dnsPacket from 'dns-packet'

if (process.env.RULES === undefined || process.env.CATALOG === undefined) {
  process.stderr.write('netdns-child.mjs: no $RULES/$CATALOG: netdns-netns.test.ts starts it under `unshare -n`\n')
  process.exit(0)
}

const run = (cmd, args, input) => execFileSync(cmd, args, input === undefined ? {} : { input })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const query = (name) => dnsPacket.encode({ type: 'query', id: 9, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] })
/** `RCODE addr…` of an answer, or what went wrong. */
const show = (msg) => {
  const p = dnsPacket.decode(msg)
  return [p.rcode ?? 'NOERROR', ...(p.answers ?? []).map((a) => a.data)].join(' ')
}

function udpAsk(host, name) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    const done = (v) => { clearTimeout(timer); s.close(); resolve(v) }
    const timer = setTimeout(() => done('timeout'), 10_000)
    s.on('message', (m, from) => done(`${show(m)} from ${from.address}`))
    s.on('error', (e) => done(e.code))
    s.send(query(name), 53, host)
  })
}

function tcpAsk(host, name) {
  return new Promise((resolve) => {
    const c = net.connect({ host, port: 53 })
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => { c.destroy(); resolve('timeout') }, 10_000)
    c.on('connect', () => {
      const q = query(name)
      const len = Buffer.alloc(2)
      len.writeUInt16BE(q.length)
      c.write(Buffer.concat([len, q]))
    })
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d])
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) { clearTimeout(timer); c.destroy(); resolve(show(buf.subarray(2, 2 + buf.readUInt16BE(0)))) }
    })
    c.on('error', (e) => { clearTimeout(timer); resolve(e.code) })
  })
}

if (process.argv[2] === 'container') {
  for (let i = 0; i < 200 && !existsSync('/sys/class/net/eth0'); i++) await sleep(25) // the node moves it in
  run('ip', ['link', 'set', 'lo', 'up'])
  run('ip', ['addr', 'add', '10.80.0.70/20', 'dev', 'eth0'])
  run('ip', ['link', 'set', 'eth0', 'up'])
  run('ip', ['route', 'add', 'default', 'via', '10.80.0.65'])
  const out = {
    outsideUdp: await udpAsk('192.0.2.53', 'shop'),
    outsideHidden: await udpAsk('192.0.2.53', 'other'),
    outsideTcp: await tcpAsk('192.0.2.53', 'shop'),
    ownTask: await udpAsk('10.80.0.66', 'shop'),
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
} else {
  const { DnsServer } = await import('../../../src/dns/index.ts')
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1') // this namespace's own setting
  run('ip', ['link', 'set', 'lo', 'up'])
  run('ip', ['link', 'add', 'mbr-4097', 'type', 'veth', 'peer', 'name', 'mbr-peer'])
  for (const a of ['10.80.0.65/20', '10.80.0.66/20']) run('ip', ['addr', 'add', a, 'dev', 'mbr-4097'])
  run('ip', ['link', 'set', 'mbr-4097', 'up'])
  run('nft', ['-f', '-'], process.env.RULES)
  const snap = JSON.parse(process.env.CATALOG)
  const dns = new DnsServer({ catalog: { current: () => snap, onChange: () => () => {} }, listen: [{ host: '10.80.0.65', port: 53 }], upstreams: [], udp: process.env.DNS_UDP })
  await dns.start()
  // A task of network a that serves DNS itself: asked directly, it must answer (no redirect inside the network).
  const task = dgram.createSocket('udp4')
  task.on('message', (m, from) => {
    const q = dnsPacket.decode(m)
    task.send(dnsPacket.encode({ type: 'response', id: q.id, questions: q.questions, answers: [{ type: 'A', name: q.questions[0].name, data: '192.0.2.66' }] }), from.port, from.address)
  })
  await new Promise((r) => task.bind(53, '10.80.0.66', r))
  const container = spawn('unshare', ['-n', process.execPath, process.argv[1], 'container'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let text = ''
  container.stdout.on('data', (d) => { text += d })
  const exited = new Promise((r) => container.on('exit', r))
  await sleep(50)
  run('ip', ['link', 'set', 'mbr-peer', 'netns', String(container.pid), 'name', 'eth0'])
  const code = await exited
  task.close()
  await dns.stop()
  if (code !== 0) throw new Error(`container exited ${code}`)
  process.stdout.write(text)
}
