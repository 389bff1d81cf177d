import t from 'tap'
import { EventRing } from '../../../src/manager/event-ring.ts'
import type { ClusterEvent } from '../../../src/manager/events.ts'

const ev = (id: number, revision = id): ClusterEvent => ({ id, time: id, revision, type: 'service', action: 'create', subject: `s${id}`, subjectId: `s${id}`, attributes: {} })
const never = () => { throw new Error('no overflow expected') }

t.test('sequence ids: 1, 2, 3 … after the newest held; the oldest goes when full', async (t) => {
  const r = new EventRing(3, 'sequence')
  t.equal(r.nextId(7, never), 1)
  for (const id of [1, 2, 3, 4]) r.push(ev(id))
  t.same(r.select(() => true).map((e) => e.id), [2, 3, 4])
  t.equal(r.nextId(9, never), 5)
})

t.test('revision ids: revision × 65,536 + place; the same on every ring; a held id is not numbered again', async (t) => {
  const a = new EventRing(10, 'revision')
  const b = new EventRing(10, 'revision')
  const ids = (r: EventRing) => [5, 5, 6, 8, 8, 8].map((rev) => r.nextId(rev, never))
  const want = [5 * 65536, 5 * 65536 + 1, 6 * 65536, 8 * 65536, 8 * 65536 + 1, 8 * 65536 + 2]
  t.same(ids(a), want)
  t.same(ids(b), want, 'another manager derives the same ids')
  const c = new EventRing(10, 'revision')
  c.push(ev(6 * 65536, 6)) // loaded from the history: another manager stored it
  t.same([5, 6, 7].map((rev) => c.nextId(rev, never)), [null, null, 7 * 65536], 'events up to the stored one are not told again')
  c.push(ev(100, 1))
  t.same(c.select(() => true).map((e) => e.id), [6 * 65536], 'an id below the newest is not added')
})

t.test('revision ids: more than 65,536 events in one revision are not numbered, said once', async (t) => {
  const r = new EventRing(4, 'revision')
  const said: string[] = []
  let last: number | null = 0
  for (let i = 0; i < 65538; i++) last = r.nextId(3, (err) => said.push(err.message))
  t.equal(last, null)
  t.match(said, [/revision 3 made more than 65536 events/])
})
