// Runs inside a throwaway network namespace (`unshare -n`), started by nft-health-netns.test.ts with
// NFT_HEALTH_CHILD=1 (started any other way it does nothing and says why: in the host's namespace its addresses and
// rules would stay behind). The node: a veth with the node's address 10.99.0.1 and two "task" addresses
// 10.99.0.2 and 10.99.0.3, each with a TCP server on :80 answering its own address; an Ingress in nft mode (the real
// `nft`, active TCP checks every 200 ms) publishing :8080, its userspace listener on 127.0.0.1 only, so a connection
// to 10.99.0.1:8080 works only through the kernel's DNAT. It kills one task's server, waits for the kernel rules to
// drop it, connects 40 times, starts the server again and waits for it to come back; then reads the counters.
// Prints one JSON line.
import net from 'node:net'
import { execFileSync } from 'node:child_process'
import { Registry } from 'prom-client'
import { Ingress, execCommand } from '../../../src/ingress/index.ts'
import { FakeCatalog, ep, svc } from '../../unit/ingress/helpers.ts'

if (process.env.NFT_HEALTH_CHILD !== '1') {
  process.stderr.write('nft-health-child.ts: nft-health-netns.test.ts starts it under `unshare -n`\n')
  process.exit(0)
}

const run = (cmd: string, args: string[]) => execFileSync(cmd, args)
run('ip', ['link', 'set', 'lo', 'up'])
run('ip', ['link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'])
for (const a of ['10.99.0.1', '10.99.0.2', '10.99.0.3']) run('ip', ['addr', 'add', `${a}/24`, 'dev', 'd0'])
for (const l of ['d0', 'd1']) run('ip', ['link', 'set', l, 'up'])

const conns = new Set<net.Socket>()
function serve(ip: string): Promise<net.Server> {
  const s = net.createServer((c) => {
    conns.add(c)
    c.on('close', () => conns.delete(c))
    c.on('error', () => undefined)
    c.end(ip)
  })
  return new Promise((r) => s.listen(80, ip, () => r(s)))
}
/** Close the server and every connection it holds (the task is dead). */
function stop(s: net.Server): Promise<void> {
  for (const c of conns) if (c.localAddress === (s.address() as net.AddressInfo | null)?.address) c.destroy()
  return new Promise((r) => s.close(() => r()))
}
/** One connection through the published port: the answering task's address, or the error code. */
function ask(): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect({ host: '10.99.0.1', port: 8080 })
    let got = ''
    const timer = setTimeout(() => { c.destroy(); resolve('timeout') }, 5000)
    c.on('data', (d) => { got += String(d) })
    c.on('end', () => { clearTimeout(timer); resolve(got) })
    c.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(e.code ?? 'error') })
  })
}
async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const applied: Array<{ at: number; input: string }> = []
const cat = new FakeCatalog()
cat.set([svc([{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }], [ep(1, '10.99.0.2'), ep(2, '10.99.0.3')], { vip: '10.98.0.2' })])
const ing = new Ingress({
  catalog: cat, mode: 'nft', bindAddr: '127.0.0.1', snatAddr: '10.99.0.1', bridge: 'd0', log: () => undefined,
  activeCheck: { intervalMs: 200, timeoutMs: 200 },
  exec: async (cmd, args, input) => {
    const out = await execCommand(cmd, args, input)
    if (cmd === 'nft' && args[0] === '-f' && input) applied.push({ at: performance.now(), input })
    return out
  },
})
const registry = new Registry()
ing.registerMetrics(registry)
const out: Record<string, unknown> = {}
const servers = [await serve('10.99.0.2'), await serve('10.99.0.3')]
try {
  await ing.start()
  out.before = await Promise.all(Array.from({ length: 4 }, ask)).then((a) => a.sort())
  const killedAt = performance.now()
  await stop(servers[1] as net.Server)
  await until(() => applied.some((a) => a.at > killedAt && a.input.includes('delete element ip mesh-ingress ep-conns { tcp . 10.99.0.3 . 80 }')), 20_000, 'the kernel rules to drop 10.99.0.3')
  const delta = applied.find((a) => a.at > killedAt) as { at: number; input: string }
  out.droppedAfterMs = Math.round(delta.at - killedAt)
  out.dropWasDelta = !delta.input.startsWith('table ')
  const answers: string[] = []
  for (let i = 0; i < 40; i++) answers.push(await ask())
  out.afterKill = answers.filter((a) => a !== '10.99.0.2')
  out.afterKillOk = answers.length - (out.afterKill as string[]).length
  servers[1] = await serve('10.99.0.3')
  const backAt = performance.now()
  await until(async () => (await ask()) === '10.99.0.3', 20_000, '10.99.0.3 to serve again')
  out.backAfterMs = Math.round(performance.now() - backAt)
  // The counters are read every 5 s; wait for a read that saw this traffic.
  await until(() => (ing.status()[0]?.endpoints.find((e) => e.ip === '10.99.0.2')?.connections ?? 0) >= 40, 20_000, 'the kernel counters')
  const st = ing.status()[0]?.endpoints.find((e) => e.ip === '10.99.0.2')
  out.status = { connections: st?.connections, bytesIn: st?.bytesIn, bytesOut: st?.bytesOut }
  out.metrics = (await registry.metrics()).split('\n').filter((l) => l.startsWith('mesh_ingress_') && l.includes('10.99.0.2:80') && /_total\{/.test(l))
} catch (err) {
  out.error = (err as Error).message
} finally {
  await ing.stop()
  for (const s of servers) await stop(s).catch(() => undefined)
}
process.stdout.write(`${JSON.stringify(out)}\n`)
