/** encodeName (src/dns/wire.ts) writes a name's wire form in one buffer: the same bytes, the same refusals. */
import t from 'tap'
import { encodeName } from '../../../src/dns/wire.ts'

const labels = (n: number, len = 1) => Array.from({ length: n }, () => 'a'.repeat(len)).join('.')

const cases = [
  { name: 'root', input: '', want: '00' },
  { name: 'root with its dot', input: '.', want: '00' },
  { name: 'one label', input: 'web', want: '0377656200' },
  { name: 'trailing dot optional', input: 'web.mesh.', want: '03776562046d65736800' },
  { name: 'no trailing dot', input: 'web.mesh', want: '03776562046d65736800' },
  { name: 'UTF-8 label bytes counted', input: 'ü.x', want: '02c3bc017800' },
  { name: 'empty label inside', input: 'a..b', want: null },
  { name: 'empty first label', input: '.a', want: null },
  { name: 'a label of 63 bytes', input: `${'x'.repeat(63)}.y`, want: `3f${'78'.repeat(63)}017900` },
  { name: 'a label of 64 bytes', input: 'x'.repeat(64), want: null },
  { name: '255 bytes in all (127 one-letter labels)', input: labels(127), want: `${'0161'.repeat(127)}00` },
  { name: '257 bytes', input: labels(128), want: null },
]
for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = encodeName(c.input)
    t.equal(got === null ? null : got.toString('hex'), c.want)
  })
}
