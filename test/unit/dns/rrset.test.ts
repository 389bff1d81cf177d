import t from 'tap'
import { makeSet } from '../../../src/dns/zone-records.ts'
import { TYPE, encodeRecord, ipv4Bytes } from '../../../src/dns/wire.ts'

// A set keeps its records as a latin1 string (zone-records.ts): the bytes must be those of the records, unchanged.
const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
const a = (ip: string) => encodeRecord(null, TYPE.A, 5, ipv4Bytes(ip) as Buffer)

const cases = [
  { name: 'one record', records: [a('10.0.0.1')] },
  { name: 'three records', records: [a('10.0.0.1'), a('10.0.0.2'), a('10.255.128.0')] },
  { name: 'every byte value', records: [every, every.subarray(100, 130)] },
  { name: 'one record of every byte value', records: [every] },
]
for (const c of cases) {
  t.test(c.name, async (t) => {
    const set = makeSet(c.records, true)
    const want = Buffer.concat(c.records)
    t.same(Buffer.from(set.bytes, 'latin1'), want, 'bytes')
    t.equal(set.count, c.records.length)
    const offs = [0]
    for (const r of c.records) offs.push((offs[offs.length - 1] as number) + r.length)
    t.same(set.offs, offs, 'offsets')
    // A set made from another's records (as an ANY or merged PTR set is) has the same bytes.
    const again = makeSet(c.records.map((_, i) => set.bytes.slice(set.offs[i], set.offs[i + 1])), false)
    t.equal(again.bytes, set.bytes)
    t.same(again.offs, set.offs)
    const out = Buffer.alloc(want.length)
    t.equal(out.write(set.bytes, 0, 'latin1'), want.length, 'written whole')
    t.same(out, want)
  })
}

t.test('one-record sets of the same length share frozen offsets', async (t) => {
  const x = makeSet([a('10.0.0.1')], false)
  const y = makeSet([a('10.9.9.9')], false)
  t.equal(x.offs, y.offs)
  t.ok(Object.isFrozen(x.offs))
  t.not(x.bytes, y.bytes)
})
