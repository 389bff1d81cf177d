/**
 * Interop with real serf agents (Debian serf 0.9.4, memberlist 0.2.2), spec §10 and §12: our agent and serf
 * agents in one cluster on loopback must list each other with the same states serf uses between its own agents.
 *
 * Addresses: 127.0.50.0/24 only (other gossip test files use 127.0.51-53.x, so files can run in parallel).
 * Every agent is killed by PID in the subtest's teardown (TestCluster), even when an assertion fails.
 * Deadlines are generous (CI shares 2 cores); the assertions are about states, timings are only reported.
 */
import dgram from 'node:dgram'
import t from 'tap'
import { encodeMessage } from '../../../src/gossip/codec.ts'
import { MSG } from '../../../src/gossip/wire.ts'
import { TestCluster, meshMember, meshStatus, serfCmd, serfMember, type MeshAgent, type SerfAgent } from '../../support/agents.ts'
import { runMesh, stop, killAndReap, waitFor, waitExit } from '../../support/procs.ts'

const PROTOCOL = { min: 2, max: 5, version: 5 }

/** Wait until `serf` lists `name` with `status`; returns ms from `since`. */
async function serfSees(s: SerfAgent, name: string, status: string, since: number, timeoutMs: number): Promise<number> {
  await waitFor(async () => (await serfMember(s.rpc, name))?.status === status, timeoutMs, {
    what: `serf ${s.name} to list ${name} as ${status}`,
  })
  return Date.now() - since
}

/** Wait until our agent lists `name` in memberlist `state`; returns ms from `since`. */
async function meshSees(m: MeshAgent, name: string, state: string, since: number, timeoutMs: number): Promise<number> {
  await waitFor(async () => (await meshMember(m.dataDir, name))?.state === state, timeoutMs, {
    what: `mesh ${m.name} to list ${name} as ${state}`,
  })
  return Date.now() - since
}

t.test('mesh joins a serf cluster: alive, tags, protocol, events, queries, graceful leave', async (t) => {
  const c = new TestCluster(t, 'interop-a')
  const s1 = await c.serf({ name: 's1', ip: '127.0.50.2', tags: { role: 'ref' } })
  const s2 = await c.serf({ name: 's2', ip: '127.0.50.3', join: s1.bind })
  const t0 = Date.now()
  const m1 = await c.mesh({ name: 'm1', ip: '127.0.50.10', join: [s1.bind], tags: { role: 'web' } })
  const started = Date.now() - t0

  const tUp = Date.now()
  const [a1, a2] = await Promise.all([serfSees(s1, 'm1', 'alive', tUp, 60_000), serfSees(s2, 'm1', 'alive', tUp, 60_000)])
  t.comment(`mesh agent process up (joined, control socket answering) ${started} ms after spawn; then serf s1 lists m1 alive at +${a1} ms, s2 at +${a2} ms`)
  for (const s of [s1, s2]) {
    const m = await serfMember(s.rpc, 'm1')
    t.match(m, { name: 'm1', addr: '127.0.50.10:7946', port: 7946, status: 'alive' }, `serf ${s.name} lists m1 alive`)
    t.same(m?.protocol, PROTOCOL, `serf ${s.name} shows m1's serf protocol {min 2, max 5, version 5}`)
    t.same(m?.tags, { role: 'web' }, `serf ${s.name} shows m1's tags`)
  }

  // The real CLI, once: `mesh status --json` lists both serf agents alive.
  await waitFor(async () => {
    const st = await meshStatus(m1.dataDir)
    return st && ['s1', 's2'].every((n) => st.members.find((m) => m.name === n)?.state === 'alive')
  }, 60_000, { what: 'm1 to list s1 and s2 alive' })
  const cli = await runMesh(['status', '--json', '--data-dir', m1.dataDir])
  t.equal(cli.code, 0, 'mesh status --json exits 0')
  const st = JSON.parse(cli.stdout) as Awaited<ReturnType<typeof meshStatus>>
  t.equal(st?.node, 'm1')
  for (const [name, ip, tags] of [['s1', '127.0.50.2', { role: 'ref' }], ['s2', '127.0.50.3', {}]] as const) {
    const m = st?.members.find((x) => x.name === name)
    t.match(m, { name, ip, port: 7946, state: 'alive', status: 'alive' }, `mesh status lists ${name} alive`)
    t.same(m?.tags, tags, `mesh status shows ${name}'s tags`)
    t.same(m?.protocol, [1, 5, 2, 2, 5, 5], `mesh status shows ${name}'s Vsn`)
  }
  t.match(st?.members.find((x) => x.name === 'm1'), { state: 'alive', tags: { role: 'web' } }, 'mesh status lists itself alive')

  // A user event and a query from serf reach us and disturb nothing; we ack the query.
  const ev = await serfCmd(s1.rpc, ['event', 'deploy', 'v1'])
  t.equal(ev.code, 0, `serf event exits 0 ${ev.stderr}`)
  await waitFor(() => /"event":"deploy"/.test(m1.proc.stdout()), 30_000, { what: 'm1 to log the user event "deploy"' })
  t.pass('m1 received the user event deploy')
  const q = await serfCmd(s1.rpc, ['query', '-format=json', '-timeout=2s', 'whoami'])
  t.equal(q.code, 0, `serf query exits 0 ${q.stderr}`)
  const qr = JSON.parse(q.stdout) as { Acks: string[]; Responses: Record<string, string> }
  t.ok(qr.Acks.includes('m1'), `m1 acked the query (acks: ${qr.Acks.join(', ')})`)
  t.ok(qr.Acks.includes('s2'), 's2 acked the query too')
  t.ok(m1.proc.running(), 'm1 still running after event and query')
  for (const s of [s1, s2]) t.equal((await serfMember(s.rpc, 'm1'))?.status, 'alive', `serf ${s.name} still lists m1 alive`)
  const after = await meshStatus(m1.dataDir)
  t.ok(after?.members.every((m) => m.state === 'alive'), 'm1 still sees every member alive')
  t.equal(after?.counters.decodeErrors, 0, 'no decode errors on serf traffic')
  t.equal(after?.counters.decryptFailures, 0, 'no decrypt failures')

  // Graceful leave: SIGINT (as serf's own) → serf lists m1 `left`, and the process exits 0.
  const tl = Date.now()
  process.kill(m1.proc.pid, 'SIGINT')
  const [l1, l2] = await Promise.all([serfSees(s1, 'm1', 'left', tl, 60_000), serfSees(s2, 'm1', 'left', tl, 60_000)])
  const exit = await waitExit(m1.proc, 15_000)
  t.comment(`after SIGINT: s1 lists m1 left at +${l1} ms, s2 at +${l2} ms; m1 exited at +${Date.now() - tl} ms`)
  t.same(exit, { code: 0, signal: null }, 'm1 exits 0 after SIGINT')
  t.equal(m1.proc.stderr(), '', 'nothing on stderr after a graceful leave')
  for (const s of [s1, s2]) t.equal((await serfMember(s.rpc, 'm1'))?.status, 'left', `serf ${s.name} lists m1 left, not failed`)
})

t.test('serf joins a mesh agent; kill -9 of the mesh agent makes serf list it failed', async (t) => {
  const c = new TestCluster(t, 'interop-b')
  const m2 = await c.mesh({ name: 'm2', ip: '127.0.50.20' })
  const t0 = Date.now()
  const s3 = await c.serf({ name: 's3', ip: '127.0.50.21', join: m2.bind })
  const seen = await serfSees(s3, 'm2', 'alive', t0, 60_000)
  const ours = await meshSees(m2, 's3', 'alive', t0, 60_000)
  t.comment(`serf s3 -join=m2: s3 lists m2 alive at +${seen} ms, m2 lists s3 alive at +${ours} ms`)
  t.match(await serfMember(s3.rpc, 'm2'), { addr: '127.0.50.20:7946', status: 'alive', protocol: PROTOCOL }, 's3 lists m2 alive')
  t.match(await meshMember(m2.dataDir, 's3'), { ip: '127.0.50.21', port: 7946, state: 'alive', status: 'alive' }, 'm2 lists s3 alive')

  const tk = Date.now()
  const exit = await killAndReap(m2.proc)
  t.equal(exit.signal, 'SIGKILL', 'm2 killed with SIGKILL')
  const failed = await serfSees(s3, 'm2', 'failed', tk, 20_000)
  t.comment(`after kill -9 of m2: s3 lists m2 failed at +${failed} ms`)
  t.equal((await serfMember(s3.rpc, 'm2'))?.status, 'failed', 's3 lists m2 failed (not left)')
})

t.test('a serf agent is kill -9ed: mesh declares it dead no later than serf declares it failed', async (t) => {
  const c = new TestCluster(t, 'interop-c')
  const s4 = await c.serf({ name: 's4', ip: '127.0.50.30' })
  const s5 = await c.serf({ name: 's5', ip: '127.0.50.31', join: s4.bind })
  const m3 = await c.mesh({ name: 'm3', ip: '127.0.50.32', join: [s4.bind] })
  await waitFor(async () => {
    const [a, b, st] = await Promise.all([serfMember(s4.rpc, 'm3'), serfMember(s5.rpc, 'm3'), meshStatus(m3.dataDir)])
    return a?.status === 'alive' && b?.status === 'alive' && st?.members.filter((m) => m.state === 'alive').length === 3
  }, 60_000, { what: 'the three agents to see each other alive' })
  t.pass('s4, s5 and m3 see each other alive')

  const tk = Date.now()
  await killAndReap(s5.proc)
  // Poll both views every 100 ms, independently; record when each first shows s5 gone.
  let oursSuspect = -1
  const ours = waitFor(async () => {
    const m = await meshMember(m3.dataDir, 's5')
    if (m?.state === 'suspect' && oursSuspect < 0) oursSuspect = Date.now() - tk
    return m?.state === 'dead' ? Date.now() - tk : null
  }, 25_000, { what: 'm3 to list s5 dead' })
  const theirs = waitFor(async () => ((await serfMember(s4.rpc, 's5'))?.status === 'failed' ? Date.now() - tk : null),
    25_000, { what: 's4 to list s5 failed' })
  const [oursDead, serfFailed] = await Promise.all([ours, theirs])
  t.comment(`after kill -9 of s5: mesh m3 suspect at +${oursSuspect} ms, dead at +${oursDead} ms; serf s4 failed at +${serfFailed} ms`)
  t.ok(oursDead <= serfFailed + 1000, `mesh dead (+${oursDead} ms) no later than serf failed (+${serfFailed} ms) + 1 s polling slack`)
  t.equal((await meshMember(m3.dataDir, 's5'))?.status, 'failed', 'mesh status shows s5 status failed (not left)')
  t.equal((await serfMember(s4.rpc, 'm3'))?.status, 'alive', 's4 still lists m3 alive')
  t.ok(m3.proc.running(), 'm3 still running')
})

t.test('alive messages with an invalid protocol range are ignored, so serf can still join (spec §11)', async (t) => {
  const c = new TestCluster(t, 'interop-d')
  const m5 = await c.mesh({ name: 'm5', ip: '127.0.50.40' })
  // memberlist ignores an alive whose Vsn has pmin = 0, pmax = 0 or pmin > pmax. If we listed such a node, every
  // later push/pull with us would fail serf's version check: "Node 'm5' protocol version (2) is incompatible: [5, 1]".
  const bogus = [['zero', '000000000000', 43], ['nomax', '010002020505', 44], ['inverted', '050102020505', 45]] as const
  const sock = dgram.createSocket('udp4')
  t.teardown(() => new Promise<void>((r) => sock.close(() => r())))
  await new Promise<void>((r) => sock.bind(0, '127.0.50.41', r))
  for (const [name, vsn, last] of bogus) {
    const msg = encodeMessage({
      type: MSG.alive, Incarnation: 1, Node: name, Addr: Uint8Array.of(127, 0, 50, last), Port: 7946,
      Meta: Uint8Array.of(0xff, 0x80), Vsn: Uint8Array.from(Buffer.from(vsn, 'hex')),
    })
    await new Promise<void>((r) => sock.send(msg, 7946, m5.ip, () => r()))
  }
  await waitFor(async () => ((await meshStatus(m5.dataDir))?.counters.packetsIn ?? 0) >= bogus.length, 30_000, { what: 'm5 to receive the packets' })
  t.same((await meshStatus(m5.dataDir))?.members.map((m) => m.name), ['m5'], 'm5 lists none of the bogus nodes')
  const t0 = Date.now()
  const s6 = await c.serf({ name: 's6', ip: '127.0.50.42', join: m5.bind })
  await serfSees(s6, 'm5', 'alive', t0, 60_000)
  t.pass('serf s6 joined m5')
  t.equal(await meshSees(m5, 's6', 'alive', t0, 60_000) >= 0, true, 'm5 lists s6 alive')
})
