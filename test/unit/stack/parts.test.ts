import t from 'tap'
import { substitute } from '../../../src/stack/interpolate.ts'
import { isPortSpec } from '../../../src/stack/validate.ts'
import { splitWords } from '../../../src/api/words.ts'

t.test('substitute: docker/cli template cases', async (t) => {
  const env = { FOO: 'first', BAR: '', WITH_SPACE: 'a b' }
  const cases: { in: string; want?: string; err?: RegExp; unset?: string[] }[] = [
    { in: 'no vars', want: 'no vars' },
    { in: '$FOO', want: 'first' },
    { in: '${FOO}-${FOO}', want: 'first-first' },
    { in: '$FOO.bar', want: 'first.bar' },
    { in: '$$FOO', want: '$FOO' },
    { in: '$$$FOO', want: '$first' },
    { in: '${BAR:-dflt}', want: 'dflt' },
    { in: '${BAR-dflt}', want: '' },
    { in: '${NOPE-dflt}', want: 'dflt' },
    { in: '${NOPE:-}', want: '' },
    { in: '${NOPE:-a:b/c}', want: 'a:b/c' },
    { in: '${WITH_SPACE}', want: 'a b' },
    { in: '$NOPE', want: '', unset: ['NOPE'] },
    { in: '${NOPE}x', want: 'x', unset: ['NOPE'] },
    { in: '${NOPE:?}', err: /required variable NOPE is not set/ },
    { in: '${BAR:?must be set}', err: /required variable BAR is empty: must be set/ },
    { in: '${BAR?must be set}', want: '' },
    { in: '$1', err: /"\$" must be followed by a name/ },
    { in: 'cost: $', err: /"\$" must be followed by a name/ },
    { in: '${}', err: /is not \$\{VAR\}/ },
    { in: '${FOO', err: /without a closing/ },
    { in: '${FOO:+x}', err: /is not \$\{VAR\}/ },
  ]
  for (const c of cases) {
    const unset = new Set<string>()
    if (c.err) t.throws(() => substitute(c.in, env, unset, () => 'here'), c.err, c.in)
    else {
      t.equal(substitute(c.in, env, unset, () => 'here'), c.want, c.in)
      t.same([...unset], c.unset ?? [], `${c.in}: unset`)
    }
  }
})

t.test('isPortSpec: docker/cli nat.ParsePortSpec shapes', async (t) => {
  for (const ok of ['80', '80/udp', '8080:80', '8080:80/tcp', '127.0.0.1:8080:80', '127.0.0.1::80', '8000-8010:80-90', '3000-3005', '[::1]:80:80']) t.ok(isPortSpec(ok), ok)
  for (const bad of ['80:', ':', '', 'x:80', '80:80/http', '80:x', '80:80:']) t.notOk(isPortSpec(bad), bad)
})

t.test('splitWords: shell-like splitting of command strings', async (t) => {
  const cases: [string, string[]][] = [
    ['redis-server --appendonly yes', ['redis-server', '--appendonly', 'yes']],
    ['  spaced   out  ', ['spaced', 'out']],
    [`sh -c "echo hi; ls"`, ['sh', '-c', 'echo hi; ls']],
    [`echo 'it''s'`, ['echo', 'its']],
    [`echo "a \\"quoted\\" word"`, ['echo', 'a "quoted" word']],
    [`echo a\\ b`, ['echo', 'a b']],
    [`echo "keep \\n"`, ['echo', 'keep \\n']],
    [`echo ""`, ['echo', '']],
    ['', []],
  ]
  for (const [input, want] of cases) t.same(splitWords(input), want, input)
  t.throws(() => splitWords(`echo "open`), /unclosed " quote/)
})
