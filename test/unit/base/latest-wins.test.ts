import t from 'tap'
import { LatestWins } from '../../../src/base/index.ts'

t.test('LatestWins runs one at a time and, while one runs, only the newest offer', async (t) => {
  const ran: number[] = []
  let release: () => void = () => undefined
  const q = new LatestWins<number>(async (v) => {
    ran.push(v)
    if (v === 1) await new Promise<void>((r) => { release = r })
  })
  q.offer(1)
  await new Promise((r) => setImmediate(r))
  q.offer(2)
  q.offer(3)
  q.offer(4)
  t.same(ran, [1], 'the first runs; the others wait')
  release()
  await q.settled()
  t.same(ran, [1, 4], 'then only the newest')
  q.offer(5)
  await q.settled()
  t.same(ran, [1, 4, 5], 'an offer when idle runs')
})
