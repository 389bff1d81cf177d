// Runs inside throwaway network namespaces (`unshare -n`), started by vip-netns.test.ts. Without arguments it is
// the NODE: a veth `mesh-br` (gateway 10.77.1.1) with two "task" addresses, the ruleset from $RULES applied with
// nft, TCP :5432 and UDP :5353 servers on each task address answering with that address. It then starts itself
// again as a CONTAINER (`client`, its own namespace, eth0 10.77.1.10 behind the gateway), asks the VIPs from there
// and from the node itself, and prints one JSON line: which task answered each new TCP connection / UDP flow on
// ports nothing publishes, and what a VIP without a serving task answers.
// Started any other way (`tap test/integration` runs every script in the folder) it would sit in the host's own
// namespace, where its veths, routes and ip_forward would stay behind: without the $RULES vip-netns.test.ts passes
// (the client inherits it) it does nothing and says why.
import { execFileSync, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { existsSync, writeFileSync } from 'node:fs'
import net from 'node:net'

if (process.env.RULES === undefined) {
  process.stderr.write('vip-child.mjs: no $RULES: vip-netns.test.ts starts it under `unshare -n` with the ruleset\n')
  process.exit(0)
}

const run = (cmd, args, input) => execFileSync(cmd, args, input === undefined ? {} : { input })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function tcpAsk(host, port) {
  return new Promise((resolve) => {
    const c = net.connect({ host, port })
    let got = ''
    const timer = setTimeout(() => { c.destroy(); resolve('timeout') }, 10_000)
    c.on('data', (d) => { got += d })
    c.on('end', () => { clearTimeout(timer); resolve(got) })
    c.on('error', (e) => { clearTimeout(timer); resolve(e.code) })
  })
}

function udpAsk(host, port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    const done = (v) => { clearTimeout(timer); s.close(); resolve(v) }
    const timer = setTimeout(() => done('timeout'), 10_000)
    s.on('message', (m) => done(m.toString()))
    s.on('error', (e) => done(e.code))
    s.on('connect', () => s.send('q', (err) => { if (err) done(err.code) }))
    s.connect(port, host)
  })
}

/** Four new TCP connections and four new UDP flows to the VIP of `db`, one of each to the VIP of `gone`. */
async function ask() {
  const out = { tcp: [], udp: [] }
  for (let i = 0; i < 4; i++) out.tcp.push(await tcpAsk('10.78.0.5', 5432))
  for (let i = 0; i < 4; i++) out.udp.push(await udpAsk('10.78.0.5', 5353))
  out.refusedTcp = await tcpAsk('10.78.0.6', 5432)
  out.refusedUdp = await udpAsk('10.78.0.6', 5353)
  return out
}

if (process.argv[2] === 'client') {
  for (let i = 0; i < 200 && !existsSync('/sys/class/net/eth0'); i++) await sleep(25) // the node moves it in
  run('ip', ['link', 'set', 'lo', 'up'])
  run('ip', ['addr', 'add', '10.77.1.10/24', 'dev', 'eth0'])
  run('ip', ['link', 'set', 'eth0', 'up'])
  run('ip', ['route', 'add', 'default', 'via', '10.77.1.1'])
  process.stdout.write(`${JSON.stringify(await ask())}\n`)
} else {
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1') // this namespace's own setting
  run('ip', ['link', 'set', 'lo', 'up'])
  run('ip', ['link', 'add', 'mesh-br', 'type', 'veth', 'peer', 'name', 'mesh-peer'])
  for (const a of ['10.77.1.1/24', '10.77.1.2/24', '10.77.1.3/24']) run('ip', ['addr', 'add', a, 'dev', 'mesh-br'])
  run('ip', ['link', 'set', 'mesh-br', 'up'])
  // A VIP nothing DNATs leaves by the node's uplink, as on a real node (default route). Not back out of mesh-br: a
  // packet forwarded out of the interface it came in on triggers an ICMP redirect, whose rate limit then swallows
  // the port unreachable.
  run('ip', ['link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink-peer'])
  for (const l of ['uplink', 'uplink-peer']) run('ip', ['link', 'set', l, 'up'])
  run('ip', ['route', 'add', '10.78.0.0/16', 'dev', 'uplink'])
  run('nft', ['-f', '-'], process.env.RULES)
  const servers = []
  for (const ip of ['10.77.1.2', '10.77.1.3']) {
    const tcp = net.createServer((s) => s.end(ip))
    await new Promise((r) => tcp.listen(5432, ip, r))
    const udp = dgram.createSocket('udp4')
    udp.on('message', (_m, from) => udp.send(ip, from.port, from.address))
    await new Promise((r) => udp.bind(5353, ip, r))
    servers.push(tcp, udp)
  }
  const fromNode = await ask() // before the container: its end of the veth pair goes (both ends) when it exits
  const container = spawn('unshare', ['-n', process.execPath, process.argv[1], 'client'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let text = ''
  container.stdout.on('data', (d) => { text += d })
  const exited = new Promise((r) => container.on('exit', r))
  await sleep(50)
  run('ip', ['link', 'set', 'mesh-peer', 'netns', String(container.pid), 'name', 'eth0'])
  const code = await exited
  if (code !== 0) throw new Error(`container exited ${code}`)
  for (const s of servers) s.close()
  process.stdout.write(`${JSON.stringify({ container: JSON.parse(text), node: fromNode })}\n`)
}
