import t from 'tap'
import { JsonLines, LineSplitter } from '../../../src/base/ndjson.ts'

t.test('LineSplitter: lines across chunk boundaries', async (t) => {
  const cases: { name: string; chunks: string[]; want: string[]; flush: string | null; opts?: ConstructorParameters<typeof LineSplitter>[0] }[] = [
    { name: 'one chunk, two lines', chunks: ['a\nb\n'], want: ['a', 'b'], flush: null },
    { name: 'line split over chunks', chunks: ['ab', 'c\nd'], want: ['abc'], flush: 'd' },
    { name: 'empty lines kept', chunks: ['\n\nx\n'], want: ['', '', 'x'], flush: null },
    { name: 'CR kept by default', chunks: ['a\r\n'], want: ['a\r'], flush: null },
    { name: 'CR stripped on request', chunks: ['a\r\nb\r'], want: ['a'], flush: 'b', opts: { stripCr: true } },
    { name: 'over-long line cut, rest dropped up to the newline', chunks: ['abcdef', 'gh\nok\n'], want: ['abcd', 'ok'], flush: null, opts: { maxLineChars: 4 } },
    { name: 'over-long line then partial', chunks: ['abcdefgh'], want: ['abcd'], flush: null, opts: { maxLineChars: 4 } },
  ]
  for (const c of cases) {
    const s = new LineSplitter(c.opts)
    const got: string[] = []
    for (const ch of c.chunks) got.push(...s.push(ch))
    t.same(got, c.want, c.name)
    t.equal(s.flush(), c.flush, `${c.name}: flush`)
  }
})

t.test('LineSplitter: a peer that never sends a newline holds at most maxLineChars', async (t) => {
  const s = new LineSplitter({ maxLineChars: 1024 })
  let lines = 0
  for (let i = 0; i < 1000; i++) lines += s.push('x'.repeat(100)).length
  t.equal(lines, 1, 'the cut line is returned once')
  t.same(s.push('\nnext\n'), ['next'], 'the stream resumes after the next newline')
})

t.test('JsonLines: parsed values, bad lines reported, blanks skipped', async (t) => {
  const bad: string[] = []
  const j = new JsonLines({ onBad: (line) => bad.push(line) })
  t.same(j.push('{"a":1}\n\n{nope}\n[2'), [{ a: 1 }])
  t.same(j.push(']\n'), [[2]])
  t.same(bad, ['{nope}'])
})

t.test('LineSplitter/JsonLines: a UTF-8 character split across Buffer chunks stays whole', async (t) => {
  const bytes = Buffer.from('{"line":"héllo → wörld 🚀"}\nnext ✓\n', 'utf8')
  for (let cut = 1; cut < bytes.length; cut++) {
    const j = new JsonLines()
    const got = [...j.push(bytes.subarray(0, cut)), ...j.push(bytes.subarray(cut))]
    if (JSON.stringify(got[0]) !== JSON.stringify({ line: 'héllo → wörld 🚀' })) {
      t.fail(`cut at byte ${cut}: ${JSON.stringify(got)}`)
      return
    }
  }
  const s = new LineSplitter()
  const tail = Buffer.from('ünterminated', 'utf8')
  t.same(s.push(tail.subarray(0, 1)), [])
  t.equal(s.flush(), '\ufffd', 'an incomplete character at the end of the stream is one replacement character, not lost silently')
  t.pass('every cut point decodes whole')
})

t.test('LineSplitter: a long line arriving in many small chunks is found once it ends', async (t) => {
  const s = new LineSplitter()
  let got: string[] = []
  for (let i = 0; i < 2000; i++) got = got.concat(s.push('x'.repeat(50)))
  t.same(got, [])
  t.same(s.push('\n').map((l) => l.length), [100_000])
})
