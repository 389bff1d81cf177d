import t from 'tap'
import { formatLine } from '../../../agent/log.ts'

t.test('pino JSON → one readable line', async (t) => {
  const cases = [
    {
      name: 'subsystem, message, fields',
      input: '{"level":30,"time":"2026-12-01T08:11:01.349Z","pid":1,"sub":"gossip","event":"join","node":"a1","address":"127.0.0.61:17946","incarnation":1,"msg":"member join"}\n',
      want: '08:11:01.349 INFO  gossip   member join  event=join node=a1 address=127.0.0.61:17946 incarnation=1\n',
    },
    {
      name: 'no subsystem, strings with spaces quoted, objects as JSON',
      input: '{"level":50,"time":"2026-12-01T08:11:02.000Z","pid":1,"err":"no route to host","ctx":{"a":1},"msg":"overlay teardown failed"}',
      want: '08:11:02.000 ERROR          overlay teardown failed  err="no route to host" ctx={"a":1}\n',
    },
    { name: 'no fields', input: '{"level":40,"time":"2026-12-01T08:11:03.500Z","pid":1,"sub":"worker","msg":"lost the manager"}', want: '08:11:03.500 WARN  worker   lost the manager\n' },
    { name: 'not JSON: passed through', input: 'plain text', want: 'plain text\n' },
  ]
  for (const c of cases) t.equal(formatLine(c.input), c.want, c.name)
  t.match(formatLine(cases[0]!.input, true), /\x1b\[32mINFO /, 'colour on a terminal')
})
