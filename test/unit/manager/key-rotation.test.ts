/**
 * The gossip key rotation state machine (src/manager/key-rotation.ts): every step, as table cases. Keys are short
 * labels here (the machine never decodes them).
 */
import t from 'tap'
import { beginRotation, missingAcks, nextRotationStep, resumeRotation, type ClusterKeyring, type Rotation } from '../../../src/manager/key-rotation.ts'

const WAIT = 30_000
const ring = (version: number, keys: string[], rotatedAt = 0): ClusterKeyring => ({ version, keys, rotatedAt })
const rot = (phase: Rotation['phase'], version: number, deadline = 100_000, extra: Partial<Rotation> = {}): Rotation =>
  ({ phase, newKey: 'NEW', oldKey: 'OLD', version, deadline, ...extra })
const acks = (o: Record<string, number>) => new Map(Object.entries(o))

t.test('beginRotation installs the new key as a secondary, with a new version and a deadline', async (t) => {
  const b = beginRotation(ring(4, ['OLD']), 'NEW', 1000, WAIT)
  t.same(b.ring, ring(5, ['OLD', 'NEW']), 'the primary stays; the new key is added')
  t.same(b.rotation, rot('install', 5, 1000 + WAIT), 'waits for version 5 until now + wait')
})

t.test('nextRotationStep', async (t) => {
  const cases: { name: string; ring: ClusterKeyring; rotation: Rotation; ready: string[]; acks: Record<string, number>; now: number; want: unknown }[] = [
    {
      name: 'install: a ready node has not acked → wait, naming it',
      ring: ring(5, ['OLD', 'NEW']), rotation: rot('install', 5), ready: ['a', 'b'], acks: { a: 5, b: 4 }, now: 50_000,
      want: { kind: 'wait', missing: ['b'] },
    },
    {
      name: 'install: every ready node acked → the new key becomes primary (version 6)',
      ring: ring(5, ['OLD', 'NEW']), rotation: rot('install', 5), ready: ['a', 'b'], acks: { a: 5, b: 5 }, now: 50_000,
      want: { kind: 'advance', ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6, 50_000 + WAIT) },
    },
    {
      name: 'install: a down node is not waited for (it is not in the ready list)',
      ring: ring(5, ['OLD', 'NEW']), rotation: rot('install', 5), ready: ['a'], acks: { a: 5 }, now: 50_000,
      want: { kind: 'advance', ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6, 50_000 + WAIT) },
    },
    {
      name: 'install: an ack of a later version counts',
      ring: ring(5, ['OLD', 'NEW']), rotation: rot('install', 5), ready: ['a'], acks: { a: 7 }, now: 1,
      want: { kind: 'advance', ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6, 1 + WAIT) },
    },
    {
      name: 'use: every ready node acked → the old key is removed (version 7)',
      ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6), ready: ['a', 'b'], acks: { a: 6, b: 6 }, now: 60_000,
      want: { kind: 'advance', ring: ring(7, ['NEW']), rotation: rot('remove', 7, 60_000 + WAIT) },
    },
    {
      name: 'use: a node still on version 5 → wait (the old key must stay: that node may still encrypt with it)',
      ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6), ready: ['a', 'b'], acks: { a: 6, b: 5 }, now: 60_000,
      want: { kind: 'wait', missing: ['b'] },
    },
    {
      name: 'remove: every ready node acked → finished, rotatedAt = now, version unchanged',
      ring: ring(7, ['NEW']), rotation: rot('remove', 7), ready: ['a', 'b'], acks: { a: 7, b: 7 }, now: 70_000,
      want: { kind: 'advance', ring: ring(7, ['NEW'], 70_000), rotation: null },
    },
    {
      name: 'deadline passed with an ack missing → stall, keyring unchanged, the missing nodes recorded',
      ring: ring(5, ['OLD', 'NEW']), rotation: rot('install', 5, 100_000), ready: ['a', 'b', 'c'], acks: { a: 5 }, now: 100_000,
      want: { kind: 'stall', rotation: rot('install', 5, 100_000, { stalled: ['b', 'c'] }) },
    },
    {
      name: 'deadline passed but every ack is in → advance (the deadline only bounds a wait)',
      ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6, 10), ready: ['a'], acks: { a: 6 }, now: 20,
      want: { kind: 'advance', ring: ring(7, ['NEW']), rotation: rot('remove', 7, 20 + WAIT) },
    },
    {
      name: 'no ready node at all → advance at once',
      ring: ring(5, ['OLD', 'NEW']), rotation: rot('install', 5), ready: [], acks: {}, now: 5,
      want: { kind: 'advance', ring: ring(6, ['NEW', 'OLD']), rotation: rot('use', 6, 5 + WAIT) },
    },
  ]
  for (const c of cases) {
    t.test(c.name, async (t) => {
      t.same(nextRotationStep({ ring: c.ring, rotation: c.rotation, readyNodes: c.ready, acks: acks(c.acks), now: c.now }, WAIT), c.want)
    })
  }
})

t.test('a whole rotation with a node down throughout: three steps, that node never waited for', async (t) => {
  const begun = beginRotation(ring(1, ['K1']), 'K2', 0, WAIT)
  let r = begun.ring
  let rotation: Rotation | null = begun.rotation
  const seen: string[][] = [r.keys]
  let now = 0
  const ready = ['a', 'b'] // c is down
  while (rotation) {
    now += 100
    const step = nextRotationStep({ ring: r, rotation, readyNodes: ready, acks: acks({ a: r.version, b: r.version, c: 1 }), now }, WAIT)
    if (step.kind !== 'advance') return t.fail(`unexpected ${step.kind}`)
    if (step.ring.version !== r.version) seen.push(step.ring.keys)
    r = step.ring
    rotation = step.rotation
  }
  t.same(seen, [['K1', 'K2'], ['K2', 'K1'], ['K2']], 'install, then use, then remove')
  t.equal(r.version, 4)
  t.equal(r.rotatedAt, now)
})

t.test('resumeRotation clears the stall and gives a new deadline; missingAcks', async (t) => {
  t.same(resumeRotation(rot('use', 6, 10, { stalled: ['b'] }), 500, WAIT), rot('use', 6, 500 + WAIT))
  t.same(missingAcks(['a', 'b', 'c'], acks({ a: 3, b: 2 }), 3), ['b', 'c'])
})
