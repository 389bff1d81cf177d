import t from 'tap'
import { LogDemuxer } from '../../../src/runtime/index.ts'
import { lastLogLine } from '../../../src/runtime/log-tail.ts'
import { logFrame as frame } from './fixtures.ts'

t.test('a character split across two frames stays whole', async (t) => {
  const e = Buffer.from('é\n')
  const d = new LogDemuxer()
  t.same([...d.push(frame(1, e.subarray(0, 1))), ...d.push(frame(1, e.subarray(1)))], [{ stream: 'stdout', line: 'é' }])
})

t.test('a TTY stream stays text after its first chunk, even if later bytes look like a frame header', async (t) => {
  const d = new LogDemuxer()
  t.same(d.push(Buffer.from('plain start\n')), [{ stream: 'stdout', line: 'plain start' }])
  const lookalike = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 0, 0, 1]), Buffer.from('x\n')])
  t.same(d.push(lookalike).map((l) => l.stream), ['stdout'])
})

t.test('the end of the stream: short text, a cut frame, partial lines per stream', async (t) => {
  const short = new LogDemuxer()
  t.same(short.push(Buffer.from('hi')), [], 'fewer than 8 bytes: not yet known to be text')
  t.same(short.flush(), [{ stream: 'stdout', line: 'hi' }])
  const cut = new LogDemuxer()
  const f = frame(2, 'partial line')
  t.same(cut.push(f.subarray(0, f.length - 5)), [])
  t.same(cut.flush(), [{ stream: 'stderr', line: 'partial' }])
})

t.test('lastLogLine reads with the same demuxer', async (t) => {
  const cases = [
    { name: 'framed, last non-empty line wins', input: Buffer.concat([frame(1, 'a\n'), frame(2, 'b  \n'), frame(1, '\n')]), want: 'b' },
    { name: 'short TTY text', input: Buffer.from('ok\n'), want: 'ok' },
    { name: 'only blank lines', input: frame(1, '\n\n'), want: undefined },
  ]
  for (const c of cases) t.equal(lastLogLine(c.input), c.want, c.name)
})
