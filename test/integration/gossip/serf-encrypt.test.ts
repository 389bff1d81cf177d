/**
 * Gossip encryption interop with real serf agents (spec §6): with the same `serf keygen` key on both sides joins
 * work both ways; with a different key, or with no key against a keyed cluster, joins fail cleanly on both sides
 * and neither side ever lists the other.
 *
 * Addresses: 127.0.51.0/24 only. Every agent is killed by PID in the subtest's teardown.
 */
import t, { type Test } from 'tap'
import { TestCluster, meshMember, meshStatus, serfCmd, serfKeygen, serfMember, serfMembers, type SerfAgent } from '../../support/agents.ts'
import { sleep, waitExit, waitFor, type Proc } from '../../support/procs.ts'

/** Poll `check` every 100 ms for `ms`; returns the number of polls where it was true (0 = never). */
async function countTrue(ms: number, check: () => Promise<boolean>): Promise<number> {
  let hits = 0
  for (let i = 0, end = Date.now() + ms; i < Math.ceil(ms / 100) + 1 && Date.now() < end; i++) {
    if (await check()) hits++
    await sleep(100)
  }
  return hits
}

/** An agent that must fail at start: exit 1 and exactly one `mesh: …` line on stderr, no stack trace. */
async function assertCleanFailure(t: Test, p: Proc, mention: RegExp, label: string): Promise<string> {
  const exit = await waitExit(p, 90_000) // it exits at start: generous for node starting on a loaded machine
  t.same(exit, { code: 1, signal: null }, `${label}: agent exits 1`)
  const err = p.stderr()
  const lines = err.split('\n').filter((l) => l !== '')
  t.equal(lines.length, 1, `${label}: exactly one line on stderr: ${JSON.stringify(err)}`)
  t.match(lines[0] ?? '', /^mesh: /, `${label}: the line starts with "mesh: "`)
  t.match(lines[0] ?? '', mention, `${label}: the message says why`)
  t.notMatch(err + p.stdout(), /\n\s+at /, `${label}: no stack trace`)
  return lines[0] ?? ''
}

/** serf never lists `name` (polled for 3 s). */
async function serfNeverLists(t: Test, s: SerfAgent, name: string): Promise<void> {
  const hits = await countTrue(3000, async () => (await serfMembers(s.rpc))?.some((m) => m.name === name) ?? false)
  t.equal(hits, 0, `serf ${s.name} never lists ${name}`)
}

t.test('same key on both sides: mesh joins serf and serf joins mesh', async (t) => {
  const key = await serfKeygen()
  t.equal(Buffer.from(key, 'base64').length, 32, 'serf keygen gives a 32-byte key')
  const c = new TestCluster(t, 'enc-same')
  const s1 = await c.serf({ name: 's1', ip: '127.0.51.2', encrypt: key })
  const m1 = await c.mesh({ name: 'm1', ip: '127.0.51.10', encrypt: key, join: [s1.bind] })
  const s2 = await c.serf({ name: 's2', ip: '127.0.51.3', encrypt: key, join: m1.bind })
  await waitFor(async () => {
    const [a, b, c2, st] = await Promise.all([serfMember(s1.rpc, 'm1'), serfMember(s2.rpc, 'm1'), serfMember(s2.rpc, 's1'), meshStatus(m1.dataDir)])
    return a?.status === 'alive' && b?.status === 'alive' && c2?.status === 'alive' &&
      ['s1', 's2'].every((n) => st?.members.find((m) => m.name === n)?.state === 'alive')
  }, 60_000, { what: 's1, s2 and m1 to see each other alive' })
  for (const s of [s1, s2]) t.match(await serfMember(s.rpc, 'm1'), { status: 'alive', addr: '127.0.51.10:7946' }, `serf ${s.name} lists m1 alive`)
  t.match(await serfMember(s2.rpc, 's1'), { status: 'alive' }, 's2, which joined through m1, lists s1 alive')
  const st = await meshStatus(m1.dataDir)
  for (const n of ['s1', 's2']) t.match(st?.members.find((m) => m.name === n), { state: 'alive', status: 'alive' }, `m1 lists ${n} alive`)
  t.equal(st?.counters.decryptFailures, 0, 'no decrypt failures with the right key')
  t.equal(st?.counters.decodeErrors, 0, 'no decode errors')
  t.ok((st?.counters.packetsIn ?? 0) > 0, 'm1 received (encrypted) packets')
})

t.test('mesh with key B joining serf with key A fails cleanly', async (t) => {
  const [keyA, keyB] = [await serfKeygen(), await serfKeygen()]
  const c = new TestCluster(t, 'enc-wrong-out')
  const s3 = await c.serf({ name: 's3', ip: '127.0.51.20', encrypt: keyA })
  const m = await c.mesh({ name: 'mwrong', ip: '127.0.51.21', encrypt: keyB, join: [s3.bind], wait: false })
  const line = await assertCleanFailure(t, m.proc, /127\.0\.51\.20/, 'wrong key')
  t.comment(line)
  t.match(line, /decrypt|key/i, 'the message is about the key')
  await serfNeverLists(t, s3, 'mwrong')
})

t.test('serf with key B joining mesh with key A fails; mesh counts decrypt failures and never lists it', async (t) => {
  const [keyA, keyB] = [await serfKeygen(), await serfKeygen()]
  const c = new TestCluster(t, 'enc-wrong-in')
  const m4 = await c.mesh({ name: 'm4', ip: '127.0.51.30', encrypt: keyA })
  const s4 = await c.serf({ name: 's4', ip: '127.0.51.31', encrypt: keyB })
  const s6 = await c.serf({ name: 's6plain', ip: '127.0.51.32' })
  const j = await serfCmd(s4.rpc, ['join', m4.bind])
  t.not(j.code, 0, `serf join with the wrong key exits non-zero: ${(j.stdout + j.stderr).trim()}`)
  const jp = await serfCmd(s6.rpc, ['join', m4.bind])
  t.not(jp.code, 0, `plaintext serf join to a keyed mesh agent exits non-zero: ${(jp.stdout + jp.stderr).trim()}`)
  const st = await meshStatus(m4.dataDir)
  const failures = (st?.counters.decryptFailures ?? 0) + (st?.counters.decodeErrors ?? 0)
  t.comment(`m4 counters: ${JSON.stringify(st?.counters)}`)
  t.ok((st?.counters.decryptFailures ?? 0) > 0, `m4 counted decrypt failures (${st?.counters.decryptFailures})`)
  t.ok(failures >= 2, 'both rejected joins were counted')
  const hits = await countTrue(3000, async () => ((await meshStatus(m4.dataDir))?.members.length ?? 0) > 1)
  t.equal(hits, 0, 'm4 never lists anyone but itself')
  t.same((await meshStatus(m4.dataDir))?.members.map((m) => m.name), ['m4'], 'm4 lists only itself')
  await serfNeverLists(t, s4, 'm4')
  await serfNeverLists(t, s6, 'm4')
  t.ok(m4.proc.running(), 'm4 still running')
  t.equal((await meshMember(m4.dataDir, 'm4'))?.state, 'alive', 'm4 is alive')
})

t.test('plaintext mesh joining a keyed serf cluster fails cleanly', async (t) => {
  const key = await serfKeygen()
  const c = new TestCluster(t, 'enc-plain-out')
  const s5 = await c.serf({ name: 's5', ip: '127.0.51.40', encrypt: key })
  const m = await c.mesh({ name: 'mplain', ip: '127.0.51.41', join: [s5.bind], wait: false })
  const line = await assertCleanFailure(t, m.proc, /127\.0\.51\.40/, 'plaintext to keyed')
  t.comment(line)
  t.match(line, /encrypt/i, 'the message says the cluster is encrypted')
  await serfNeverLists(t, s5, 'mplain')
})
