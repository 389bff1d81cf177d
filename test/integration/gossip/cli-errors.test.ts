/**
 * The `mesh` CLI on bad input (STYLE §2 "The CLI prints one line, exits 1"): every error is exactly one line on
 * stderr starting `mesh: `, exit code 1, no stack trace; help exits 0.
 *
 * Addresses: 127.0.53.0/24 only. Agents and sockets started here are closed/killed in teardown.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { TestCluster } from '../../support/agents.ts'
import { runMesh, type RunResult } from '../../support/procs.ts'

const tmp = mkdtempSync(join(tmpdir(), 'mesh-it-cli-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const dir = (name: string): string => join(tmp, name)

/** Exactly one `mesh: …` line on stderr matching `mention`, exit 1, no stack trace anywhere. */
function assertOneLineError(t: Test, r: RunResult, mention: RegExp): void {
  t.equal(r.timedOut, false, 'finished before the timeout')
  t.equal(r.code, 1, 'exit code 1')
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  t.equal(lines.length, 1, `exactly one line on stderr: ${JSON.stringify(r.stderr)}`)
  t.match(lines[0] ?? '', /^mesh: /, 'starts with "mesh: "')
  t.match(lines[0] ?? '', mention, `says what is wrong (${mention})`)
  t.notMatch(r.stderr + r.stdout, /^\s+at /m, 'no stack trace')
  t.notMatch(r.stderr, /Error:|TypeError|\{$/m, 'no raw error object')
}

const key7 = Buffer.alloc(7, 1).toString('base64')

const cases: { name: string; args: string[]; want: RegExp; env?: Record<string, string> }[] = [
  { name: 'unknown flag', args: ['agent', '--bogus'], want: /--bogus/ },
  { name: 'unknown command', args: ['frobnicate'], want: /frobnicate/ },
  { name: 'key of 7 bytes', args: ['agent', '--bind', '127.0.53.1', '--name', 'k7', '--data-dir', dir('k7')], env: { MESH_GOSSIP_KEY: key7 }, want: /16, 24 or 32/ },
  { name: 'key not base64', args: ['agent', '--bind', '127.0.53.1', '--name', 'kb', '--data-dir', dir('kb')], env: { MESH_GOSSIP_KEY: 'not base64!!' }, want: /base64/ },
  { name: 'bind 300.1.1.1', args: ['agent', '--bind', '300.1.1.1', '--name', 'b1', '--data-dir', dir('b1')], want: /300\.1\.1\.1/ },
  { name: 'bind not-an-ip', args: ['agent', '--bind', 'not-an-ip', '--name', 'b2', '--data-dir', dir('b2')], want: /not-an-ip/ },
  { name: 'bind port out of range', args: ['agent', '--bind', '127.0.53.1:70000', '--name', 'b3', '--data-dir', dir('b3')], want: /70000|port/ },
  { name: 'advertise 0.0.0.0', args: ['agent', '--bind', '127.0.53.1', '--advertise', '0.0.0.0', '--name', 'a1', '--data-dir', dir('a1')], want: /0\.0\.0\.0/ },
  { name: 'tag without =', args: ['agent', '--bind', '127.0.53.1', '--name', 't1', '--data-dir', dir('t1'), '--tag', 'novalue'], want: /novalue/ },
  { name: 'bad log level', args: ['agent', '--log-level', 'loud'], want: /loud/ },
  { name: 'bad profile', args: ['agent', '--profile', 'wan'], want: /wan/ },
  { name: 'no gossip key and no cluster', args: ['agent', '--bind', '127.0.53.1', '--name', 'nk', '--data-dir', dir('nk')], want: /no key.*--encrypt-file.*--gossip-plaintext/ },
  { name: 'status with no agent running', args: ['status', '--data-dir', dir('nobody')], want: /agent.*(running|reach)|(running|reach).*agent/i },
]

/** Run `fn` over `items`, at most `n` at a time; one promise per item, in order. `fn` must not reject. */
function pool<T, R>(items: readonly T[], n: number, fn: (x: T) => Promise<R>): Promise<R>[] {
  const slots = items.map(() => {
    let resolve!: (r: R) => void
    return { promise: new Promise<R>((r) => { resolve = r }), resolve: (r: R) => resolve(r) }
  })
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const k = next++
      slots[k]?.resolve(await fn(items[k] as T))
    }
  }
  for (let w = 0; w < n; w++) void worker()
  return slots.map((s) => s.promise)
}

// The commands are independent and mostly wait for node to start: run them 4 at a time, assert in order.
const results = pool(cases, 4, (c) => runMesh(c.args, { timeoutMs: 120_000, ...(c.env ? { env: { ...process.env, ...c.env } } : {}) }))

for (const [i, c] of cases.entries()) {
  t.test(c.name, async (t) => {
    const r = await (results[i] as Promise<RunResult>)
    assertOneLineError(t, r, c.want)
    t.comment(r.stderr.trim())
  })
}

// No timing goal is asserted (a loaded CI machine starts node slowly): the agent exits by itself (not killed at the
// generous timeout), and the error says why, which is what tells a refused join from one waited out.
t.test('join target where nothing listens: exit 1 at once (refused, not waited out), naming the address', async (t) => {
  const r = await runMesh(['agent', '--bind', '127.0.53.2', '--name', 'j1', '--data-dir', dir('j1'), '--join', '127.0.53.99:7999', '--gossip-plaintext'], { timeoutMs: 90_000 })
  assertOneLineError(t, r, /127\.0\.53\.99:7999/)
  t.match(r.stderr, /ECONNREFUSED/, 'the connection was refused (no timeout waited for)')
  t.comment(`exited after ${r.ms} ms: ${r.stderr.trim()}`)
})

t.test('join target that accepts TCP but never answers: exit 1 after the TCP timeout, naming the address', async (t) => {
  const held = new Set<net.Socket>()
  const server = net.createServer((s) => { held.add(s); s.on('error', () => undefined) })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(7946, '127.0.53.6', resolve) })
  t.teardown(() => new Promise<void>((r) => { for (const s of held) s.destroy(); server.close(() => r()) }))
  const r = await runMesh(['agent', '--bind', '127.0.53.7', '--name', 'j2', '--data-dir', dir('j2'), '--join', '127.0.53.6', '--gossip-plaintext'], { timeoutMs: 90_000 })
  assertOneLineError(t, r, /127\.0\.53\.6/)
  t.match(r.stderr, /i\/o timeout/, 'the TCP timeout ended the join')
  t.comment(`exited after ${r.ms} ms (TCP timeout 10 s, plus start-up): ${r.stderr.trim()}`)
})

t.test('port in use: a second agent on the same --bind', async (t) => {
  const c = new TestCluster(t, 'cli-port')
  await c.mesh({ name: 'p1', ip: '127.0.53.3' })
  const r = await runMesh(['agent', '--bind', '127.0.53.3', '--name', 'p2', '--data-dir', dir('p2'), '--gossip-plaintext'])
  assertOneLineError(t, r, /in use.*127\.0\.53\.3|127\.0\.53\.3.*in use/)
  t.comment(r.stderr.trim())
})

t.test('the same --data-dir as a running agent under another --name: refused, one line (the same name takes over)', async (t) => {
  const c = new TestCluster(t, 'cli-dd')
  const p = await c.mesh({ name: 'd1', ip: '127.0.53.8' })
  const r = await runMesh(['agent', '--bind', '127.0.53.9', '--name', 'd2', '--data-dir', p.dataDir, '--gossip-plaintext'])
  assertOneLineError(t, r, /data.?dir/i)
  t.comment(r.stderr.trim())
})

t.test('port in use for UDP only', async (t) => {
  const udp = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => { udp.once('error', reject); udp.bind(7946, '127.0.53.4', resolve) })
  t.teardown(() => new Promise<void>((r) => udp.close(() => r())))
  const r = await runMesh(['agent', '--bind', '127.0.53.4', '--name', 'u1', '--data-dir', dir('u1'), '--gossip-plaintext'])
  assertOneLineError(t, r, /in use.*127\.0\.53\.4|127\.0\.53\.4.*in use/)
  t.comment(r.stderr.trim())
})

t.test('port in use for TCP only', async (t) => {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(7946, '127.0.53.5', resolve) })
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const r = await runMesh(['agent', '--bind', '127.0.53.5', '--name', 'u2', '--data-dir', dir('u2'), '--gossip-plaintext'])
  assertOneLineError(t, r, /in use.*127\.0\.53\.5|127\.0\.53\.5.*in use/)
  t.comment(r.stderr.trim())
})

t.test('a corrupt gossip-keys.json: one line naming the file', async (t) => {
  mkdirSync(dir('gk'), { recursive: true })
  writeFileSync(join(dir('gk'), 'gossip-keys.json'), '{"version": 2, "keys": [')
  const r = await runMesh(['agent', '--bind', '127.0.53.10', '--name', 'gk', '--data-dir', dir('gk')])
  assertOneLineError(t, r, /gossip-keys\.json is not valid JSON: remove it or restore a backup/)
  t.comment(r.stderr.trim())
})

t.test('help exits 0', async (t) => {
  const top = await runMesh(['--help'])
  t.equal(top.code, 0, 'mesh --help exits 0')
  t.equal(top.stderr, '', 'mesh --help: nothing on stderr')
  t.match(top.stdout, /agent/, 'mesh --help lists the agent command')
  t.match(top.stdout, /status/, 'mesh --help lists the status command')
  for (const flag of ['--bind', '--join', '--encrypt']) {
    t.match(top.stdout, flag, `mesh --help mentions ${flag}`)
  }
  for (const args of [['agent', '--help'], ['agent', '-h'], ['help', 'agent']]) {
    const r = await runMesh(args)
    t.equal(r.code, 0, `mesh ${args.join(' ')} exits 0`)
    t.equal(r.stderr, '', `mesh ${args.join(' ')}: nothing on stderr`)
    for (const flag of ['--bind', '--join', '--encrypt']) t.match(r.stdout, flag, `mesh ${args.join(' ')} mentions ${flag}`)
  }
})
