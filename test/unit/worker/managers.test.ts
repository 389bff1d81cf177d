import t, { type Test } from 'tap'
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  FailoverTransport, WorkerLink, managerListProblem, managersPath, readSavedManagers, saveManagers, seedManagers, splitManagerAddress,
} from '../../../src/worker/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'
import { FAKE_TOKEN, FakeManager, fakeNodeTls } from './fake-manager.ts'

const nodeTls = await fakeNodeTls()
const three = [{ id: 'm1', addr: '10.0.0.1', port: 7947 }, { id: 'm2', addr: '10.0.0.2', port: 7947 }, { id: 'm3', addr: 'mgr3.lan', port: 7950 }]

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-managers-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('managerListProblem: what a list from the manager must be', async (t) => {
  const cases: { name: string; raw: unknown; want: RegExp | null }[] = [
    { name: 'three managers', raw: three, want: null },
    { name: 'IPv6', raw: [{ id: 'm1', addr: 'fd00::1', port: 7947 }], want: null },
    { name: 'not a list', raw: { id: 'm1' }, want: /not a list/ },
    { name: 'empty', raw: [], want: /is empty/ },
    { name: 'an entry not an object', raw: ['10.0.0.1:7947'], want: /entry 0 is not an object/ },
    { name: 'no id', raw: [{ addr: '10.0.0.1', port: 7947 }], want: /entry 0 has no id/ },
    { name: 'no address', raw: [{ id: 'm1', port: 7947 }], want: /entry 0 \(m1\) has no IP address or DNS name/ },
    { name: 'an address with a port in it', raw: [{ id: 'm1', addr: '10.0.0.1:7947', port: 7947 }], want: /no IP address or DNS name/ },
    { name: 'port out of range', raw: [{ id: 'm1', addr: '10.0.0.1', port: 70000 }], want: /no port in 1-65535/ },
    { name: 'port as text', raw: [{ id: 'm1', addr: '10.0.0.1', port: '7947' }], want: /no port/ },
    { name: 'a manager twice', raw: [three[0], { ...three[0], id: 'm9' }], want: /names 10\.0\.0\.1:7947 twice/ },
  ]
  for (const c of cases) {
    const got = managerListProblem(c.raw)
    if (c.want === null) t.equal(got, null, c.name)
    else t.match(got, c.want, c.name)
  }
})

t.test('managers.json: saved atomically with mode 0644, read back; a broken file is a problem, never a throw', async (t) => {
  const dir = tempDir(t)
  t.same(readSavedManagers(dir), { list: [] }, 'no file: no list, no problem')
  saveManagers(dir, three.map((m) => ({ ...m, extra: 'dropped' })))
  t.equal(statSync(managersPath(dir)).mode & 0o777, 0o644)
  t.same(JSON.parse(readFileSync(managersPath(dir), 'utf8')), { managers: three })
  t.same(readSavedManagers(dir), { list: three })
  const broken = [
    { text: '{"managers":', want: /not valid JSON/ },
    { text: '{"managers":[]}', want: /the list is empty/ },
    { text: '{"other":1}', want: /the list is not a list/ },
  ]
  for (const b of broken) {
    writeFileSync(managersPath(dir), b.text)
    const r = readSavedManagers(dir)
    t.same(r.list, [], b.text)
    t.match(r.problem, b.want, b.text)
  }
  if (process.getuid?.() !== 0) {
    chmodSync(managersPath(dir), 0)
    t.match(readSavedManagers(dir).problem, /cannot read/)
  }
})

t.test('seedManagers: flags first, then the saved list, then the manager node.json names; no duplicates', async (t) => {
  const cases = [
    { name: 'a restart without flags: the saved list', o: { manager: '', join: [], saved: three, registered: '10.0.0.1:7947' },
      want: ['10.0.0.1:7947', '10.0.0.2:7947', 'mgr3.lan:7950'] },
    { name: '--join hosts on the API port (their own port is gossip\'s)', o: { manager: '', join: ['10.0.0.5:7946', '10.0.0.6'], saved: [], registered: null },
      want: ['10.0.0.5:7947', '10.0.0.6:7947'] },
    { name: '--manager with a port wins, the saved list follows', o: { manager: '10.0.0.2:9000', join: ['10.0.0.5'], saved: three.slice(0, 2), registered: null },
      want: ['10.0.0.2:9000', '10.0.0.1:7947', '10.0.0.2:7947'] },
    { name: 'only node.json (a node that joined before managers.json existed)', o: { manager: '', join: [], saved: [], registered: '10.0.0.1:7947' },
      want: ['10.0.0.1:7947'] },
    { name: 'IPv6 --manager', o: { manager: '[fd00::1]:7947', join: [], saved: [], registered: null }, want: ['[fd00::1]:7947'] },
  ]
  for (const c of cases) t.same(seedManagers({ ...c.o, apiPort: 7947 }), c.want, c.name)
  t.same(splitManagerAddress('[fd00::1]:7947'), { host: 'fd00::1', port: 7947 })
  t.same(splitManagerAddress('mgr3.lan:7950'), { host: 'mgr3.lan', port: 7950 })
})

function linkWith(t: Test, dataDir: string, onRole?: (role: 'manager' | 'worker') => void) {
  const clock = new FakeClock()
  const fakes = new Map<string, FakeManager>()
  const transport = new FailoverTransport({
    managers: ['10.0.0.1:7947'],
    connect: (a) => {
      const f = Object.assign(new FakeManager(clock), { postTraffic: async () => ({ status: 200, body: {}, message: '' }), leave: async () => ({ status: 200, body: null, message: '' }) })
      fakes.set(a, f)
      return f
    },
  })
  const logs: string[] = []
  const link = new WorkerLink({
    transport, clock, dataDir, hostname: 'w1', addr: '10.0.0.20', resources: { nanoCpus: 1e9, memoryBytes: 1e9 },
    onAssignments: () => undefined, log: (level, msg) => logs.push(`${level} ${msg}`), ...(onRole ? { onRole } : {}),
  })
  link.useIdentity({ nodeId: 'n1', role: 'worker', manager: '10.0.0.1:7947' }, nodeTls)
  t.teardown(() => link.stop())
  link.start()
  const stream = fakes.get('10.0.0.1:7947')!.streams[0]!
  stream.open()
  return { transport, link, logs, stream, renewals: () => fakes.get('10.0.0.1:7947')!.renewals.length }
}

t.test('the {managers} line: kept in managers.json and handed to the transport', async (t) => {
  const dir = tempDir(t)
  const h = linkWith(t, dir)
  h.stream.send({ managers: three })
  t.same(readSavedManagers(dir).list, three)
  t.same(h.transport.managers, ['10.0.0.1:7947', '10.0.0.2:7947', 'mgr3.lan:7950'])
  t.equal(h.transport.address, '10.0.0.1:7947', 'still on the manager it is connected to')
  t.same(seedManagers({ manager: '', join: [], apiPort: 7947, saved: readSavedManagers(dir).list, registered: '10.0.0.1:7947' }),
    ['10.0.0.1:7947', '10.0.0.2:7947', 'mgr3.lan:7950'], 'a restart starts from the saved list')
})

t.test('a bad {managers} line is one logged line: the list and the file stay as they were, the stream goes on', async (t) => {
  const bad = [{ managers: [] }, { managers: 'm1' }, { managers: [{ id: 'm1', addr: '10.0.0.1' }] }, { managers: [{ id: 'm1', addr: '$(reboot)', port: 1 }] }]
  for (const line of bad) {
    t.test(JSON.stringify(line), async (t) => {
      const dir = tempDir(t)
      const h = linkWith(t, dir)
      h.stream.send({ managers: three })
      const file = readFileSync(managersPath(dir), 'utf8')
      h.stream.send(line)
      t.equal(readFileSync(managersPath(dir), 'utf8'), file, 'managers.json unchanged')
      t.same(h.transport.managers, ['10.0.0.1:7947', '10.0.0.2:7947', 'mgr3.lan:7950'], 'the good list kept')
      t.match(h.logs.filter((l) => l.startsWith('warn')), [/bad line on the assignment stream: the managers list .*kept the list this node has/])
      t.equal(h.link.connected, true)
    })
  }
})

t.test('promote and demote reach the link on the {managers} line: node.json, a renewal, then onRole', async (t) => {
  const dir = tempDir(t)
  const roles: string[] = []
  const h = linkWith(t, dir, (role) => roles.push(role))
  h.stream.send({ managers: three })
  t.same(roles, [], 'not named: still a worker, nothing said')
  const renewalsBefore = h.renewals()
  h.stream.send({ managers: [...three, { id: 'n1', addr: '10.0.0.20', port: 7947 }] })
  await t.resolves(waitRole(roles, 1))
  t.same(roles, ['manager'], 'its id in the list: promoted')
  t.equal(h.link.role, 'manager')
  t.match(JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')), { nodeId: 'n1', role: 'manager' }, 'node.json says manager')
  t.equal(h.renewals(), renewalsBefore + 1, 'a certificate for the new role was asked for')
  h.stream.send({ managers: [...three, { id: 'n1', addr: '10.0.0.20', port: 7947 }] })
  h.stream.send({ managers: [three[1]!, { id: 'n1', addr: '10.0.0.20', port: 7947 }] })
  t.same(roles, ['manager'], 'the same role again: nothing said')
  h.stream.send({ managers: [three[1]!] })
  await t.resolves(waitRole(roles, 2))
  t.same(roles, ['manager', 'worker'], 'gone from the list: demoted')
  t.match(JSON.parse(readFileSync(join(dir, 'node.json'), 'utf8')), { nodeId: 'n1', role: 'worker', manager: '10.0.0.2:7947' }, 'node.json names another manager')
})

/** onRole comes after the renewal (a promise): bounded wait for the n-th call. */
async function waitRole(roles: string[], n: number): Promise<void> {
  for (let i = 0; i < 200 && roles.length < n; i++) await new Promise((r) => setTimeout(r, 10))
  if (roles.length < n) throw new Error(`onRole was called ${roles.length} times, want ${n}`)
}

/** A link that joins with the token through the first of two fake managers behind a FailoverTransport. */
function joining(t: Test, dataDir: string, joinManagers: unknown) {
  const clock = new FakeClock()
  const fakes = new Map<string, FakeManager>()
  const transport = new FailoverTransport({
    managers: ['10.0.0.1:7947'],
    connect: (a) => {
      const f = Object.assign(new FakeManager(clock), { joinManagers, postTraffic: async () => ({ status: 200, body: {}, message: '' }), leave: async () => ({ status: 200, body: null, message: '' }) })
      fakes.set(a, f)
      return f
    },
  })
  const logs: string[] = []
  const link = new WorkerLink({
    transport, clock, dataDir, hostname: 'w1', addr: '10.0.0.20', resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, token: FAKE_TOKEN,
    onAssignments: () => undefined, log: (level, msg) => logs.push(`${level} ${msg}`),
  })
  t.teardown(() => link.stop())
  return { clock, fakes, transport, link, logs }
}

t.test('the join reply\'s managers list: saved before register() returns, so the first failover needs no watch line', async (t) => {
  const dir = tempDir(t)
  const h = joining(t, dir, [{ id: 'm1', addr: '10.0.0.1', port: 7947 }, { id: 'm2', addr: '10.0.0.2', port: 7947 }])
  await h.link.register()
  t.same(readSavedManagers(dir).list, [{ id: 'm1', addr: '10.0.0.1', port: 7947 }, { id: 'm2', addr: '10.0.0.2', port: 7947 }], 'managers.json')
  t.same(h.transport.managers, ['10.0.0.1:7947', '10.0.0.2:7947'])
  t.equal(h.link.role, 'worker', 'the reply\'s role (its id is not in the list: no demotion from the join reply)')
  h.fakes.get('10.0.0.1:7947')!.down = true // cut off before any watch line arrived
  h.link.start()
  await h.clock.advance(0)
  t.equal(h.fakes.get('10.0.0.1:7947')!.streams.length, 1, 'the first attempt went to the manager it joined')
  await h.clock.advance(250)
  const second = h.fakes.get('10.0.0.2:7947')
  t.equal(second?.streams.length, 1, 'the next attempt went to the second manager')
  second!.streams[0]!.open()
  t.equal(h.link.connected, true)
  t.equal(h.transport.address, '10.0.0.2:7947')
})

t.test('a join reply without managers (an older manager) is accepted: only the manager it joined through, nothing logged', async (t) => {
  const dir = tempDir(t)
  const h = joining(t, dir, undefined)
  t.equal((await h.link.register()).nodeId, 'n1')
  t.same(readSavedManagers(dir), { list: [] }, 'no managers.json yet')
  t.same(h.transport.managers, ['10.0.0.1:7947'])
  t.same(h.logs.filter((l) => l.startsWith('warn')), [])
})

t.test('a hostile managers list in the join reply is one logged line; the join succeeds with the manager it joined', async (t) => {
  const many = Array.from({ length: 65 }, (_, i) => ({ id: `m${i}`, addr: `10.1.0.${i}`, port: 7947 }))
  const cases: { name: string; raw: unknown; want: RegExp }[] = [
    { name: 'not a list', raw: { id: 'm2', addr: '10.0.0.2', port: 7947 }, want: /is not a list/ },
    { name: 'a string', raw: '10.0.0.2:7947', want: /is not a list/ },
    { name: 'null', raw: null, want: /is not a list/ },
    { name: 'empty', raw: [], want: /is empty/ },
    { name: 'a bad address', raw: [{ id: 'm2', addr: '$(reboot)', port: 7947 }], want: /has no IP address or DNS name/ },
    { name: 'a bad port', raw: [{ id: 'm2', addr: '10.0.0.2', port: 0 }], want: /no port in 1-65535/ },
    { name: 'a huge list', raw: many, want: /has 65 entries \(at most 64\)/ },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const dir = tempDir(t)
      const h = joining(t, dir, c.raw)
      t.equal((await h.link.register()).nodeId, 'n1', 'joined')
      t.same(readSavedManagers(dir), { list: [] }, 'no managers.json written')
      t.same(h.transport.managers, ['10.0.0.1:7947'], 'only the manager it joined through')
      const warns = h.logs.filter((l) => l.startsWith('warn'))
      t.equal(warns.length, 1, 'one line')
      t.match(warns[0], /^warn bad join reply: the managers list .*; kept only the manager this node joined through$/)
      t.match(warns[0], c.want)
    })
  }
})
