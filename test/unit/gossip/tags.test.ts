import t from 'tap'
import { TAG_KEY_MAX_CHARS, tagsProblem } from '../../../src/gossip/tags.ts'

// Which tags we publish and accept (security review #6: a newline in a tag value became a WireGuard UAPI line).

const cases: { name: string; tags: Record<string, string>; want: RegExp | null }[] = [
  { name: 'overlay tags', tags: { 'mesh.subnet': '10.77.1.0/24', 'mesh.subnet.held': '1', 'mesh.wg.pub': 'abc+/=', 'mesh.wg.port': '51820' }, want: null },
  { name: 'serf role and unicode value', tags: { role: 'web server ✓' }, want: null },
  { name: 'no tags', tags: {}, want: null },
  { name: 'empty value', tags: { role: '' }, want: null },
  { name: 'newline in a value', tags: { 'mesh.subnet': '10.77.9.0/24\nallowed_ip=0.0.0.0/0' }, want: /control character/ },
  { name: 'NUL in a value', tags: { a: 'x\u0000' }, want: /control character/ },
  { name: 'DEL in a value', tags: { a: 'x\u007f' }, want: /control character/ },
  { name: 'C1 control in a value', tags: { a: '\u0085' }, want: /control character/ },
  { name: 'empty key', tags: { '': 'v' }, want: /tag key ""/ },
  { name: 'space in a key', tags: { 'a b': 'v' }, want: /tag key "a b"/ },
  { name: 'newline in a key', tags: { 'a\nb': 'v' }, want: /tag key/ },
  { name: 'key at the limit', tags: { ['k'.repeat(TAG_KEY_MAX_CHARS)]: 'v' }, want: null },
  { name: 'key over the limit', tags: { ['k'.repeat(TAG_KEY_MAX_CHARS + 1)]: 'v' }, want: /1-128/ },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const got = tagsProblem(c.tags)
    if (c.want === null) t.equal(got, null)
    else t.match(got, c.want)
  })
}
