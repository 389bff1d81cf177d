import t from 'tap'
import { LogDemuxer, engineLogPath, splitTimestamp } from '../../../src/runtime/index.ts'
import { logFrame as frame } from './fixtures.ts'

t.test('demux: frames split anywhere, lines per stream, partial lines kept until complete', async (t) => {
  const d = new LogDemuxer()
  const all = Buffer.concat([frame(1, 'hel'), frame(2, 'oops\n'), frame(1, 'lo\nworld\n'), frame(1, 'tail')])
  const got: unknown[] = []
  for (let i = 0; i < all.length; i += 3) got.push(...d.push(all.subarray(i, i + 3)))
  got.push(...d.flush())
  t.same(got, [
    { stream: 'stderr', line: 'oops' },
    { stream: 'stdout', line: 'hello' },
    { stream: 'stdout', line: 'world' },
    { stream: 'stdout', line: 'tail' },
  ])
})

t.test('demux: an over-long line is cut, a TTY (unframed) stream is plain stdout', async (t) => {
  const d = new LogDemuxer(10)
  t.same(d.push(frame(1, 'x'.repeat(25))), [{ stream: 'stdout', line: 'x'.repeat(25).slice(0, 10) }])
  const tty = new LogDemuxer()
  t.same(tty.push(Buffer.from('plain text line\r\nnext\n')), [{ stream: 'stdout', line: 'plain text line' }, { stream: 'stdout', line: 'next' }])
})

t.test('timestamps and the engine query', async (t) => {
  t.same(splitTimestamp('2026-12-01T08:00:00.123456789Z hello world'), { ts: '2026-12-01T08:00:00.123456789Z', line: 'hello world' })
  t.same(splitTimestamp('no stamp'), { line: 'no stamp' })
  t.equal(engineLogPath('abc', { tail: -1, follow: true, since: 0, timestamps: false }),
    '/containers/abc/logs?stdout=1&stderr=1&follow=1&tail=all&timestamps=0')
  t.equal(engineLogPath('abc', { tail: 5, follow: false, since: 1700000000, timestamps: true }),
    '/containers/abc/logs?stdout=1&stderr=1&follow=0&tail=5&timestamps=1&since=1700000000')
})
