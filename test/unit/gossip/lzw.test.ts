import t from 'tap'
import * as zlib from 'node:zlib'
import { GossipDecodeError } from '../../../src/base/errors.ts'
import { crc32 } from '../../../src/gossip/crc32.ts'
import { lzwCompress, lzwDecompress } from '../../../src/gossip/lzw.ts'
import { V, hex, toHex } from './fixtures/spec-vectors.ts'
import { seededRandomFn } from '../../../src/base/clock.ts'


/**
 * An independent reading of the code stream: widths as the decoder tracks them, every code, and for each clear
 * after the first, how many codes came since the previous clear.
 */
function codeStream(data: Uint8Array): { codes: number[]; widths: number[]; clearGaps: number[] } {
  const codes: number[] = []
  const widths: number[] = []
  const clearGaps: number[] = []
  let bitPos = 0
  let width = 9
  let hi = 257
  let sinceClear = -1
  for (;;) {
    let code = 0
    for (let i = 0; i < width; i++, bitPos++) {
      const byte = data[bitPos >> 3]
      if (byte === undefined) throw new Error('ran out of bits')
      code |= ((byte >> (bitPos & 7)) & 1) << i
    }
    codes.push(code)
    widths.push(width)
    if (code === 257) return { codes, widths, clearGaps }
    if (code === 256) {
      if (sinceClear >= 0) clearGaps.push(sinceClear)
      sinceClear = 0
      width = 9
      hi = 257
      continue
    }
    sinceClear++
    hi++
    if (hi >= 1 << width && width < 12) width++
  }
}

t.test('spec vector: serf TCP ack compresses byte for byte', async (t) => {
  // compressedAck = 09 | {Algo 0, Buf: fixstr 23 B}; the Buf starts 13 bytes in.
  const buf = hex(V.compressedAck).subarray(13)
  t.equal(toHex(lzwCompress(hex(V.ack99))), toHex(buf))
  t.equal(toHex(lzwDecompress(buf)), V.ack99)
})

t.test('hand-derived small vectors', async (t) => {
  const cases = [
    { name: 'empty: clear + EOF', input: '', want: '000302' },
    { name: 'one byte: clear, 0x61, EOF', input: '61', want: '00c30404' },
  ]
  for (const c of cases) {
    t.equal(toHex(lzwCompress(hex(c.input))), c.want, c.name)
    t.equal(toHex(lzwDecompress(hex(c.want))), c.input, `${c.name} (back)`)
  }
})

t.test('round trips, incl. width 12 and the re-clear instead of code 4095', async (t) => {
  const rnd = seededRandomFn(7)
  const cases: { name: string; data: Uint8Array }[] = [
    { name: 'KwKwK run', data: new Uint8Array(5000).fill(0x61) },
    { name: 'random 256-symbol 100 KiB', data: Uint8Array.from({ length: 100_000 }, () => Math.floor(rnd() * 256)) },
    { name: 'random 4-symbol 200 KiB', data: Uint8Array.from({ length: 200_000 }, () => Math.floor(rnd() * 4)) },
    { name: 'text-like', data: new TextEncoder().encode('alive node ts1 role web '.repeat(3000)) },
  ]
  for (let i = 0; i < 60; i++) {
    const alpha = 1 + Math.floor(rnd() * 256)
    cases.push({ name: `random ${i}`, data: Uint8Array.from({ length: Math.floor(rnd() * 3000) }, () => Math.floor(rnd() * alpha)) })
  }
  let sawWidth12 = false
  let sawReclear = false
  for (const c of cases) {
    const z = lzwCompress(c.data)
    const back = lzwDecompress(z)
    if (back.length !== c.data.length || Buffer.compare(back, c.data) !== 0) t.fail(`${c.name}: round trip differs`)
    const s = codeStream(z)
    if (s.codes[0] !== 256) t.fail(`${c.name}: does not start with a clear code`)
    if (s.codes.includes(4095)) t.fail(`${c.name}: emitted code 4095`)
    for (const gap of s.clearGaps) if (gap !== 4095 - 257) t.fail(`${c.name}: re-clear after ${gap} codes, want 3838`)
    if (s.widths.includes(12)) sawWidth12 = true
    if (s.clearGaps.length > 0) sawReclear = true
    const padBits = z.length * 8 - s.widths.reduce((a, b) => a + b, 0)
    if (padBits < 0 || padBits > 7) t.fail(`${c.name}: ${padBits} padding bits`)
    if (padBits > 0 && (z[z.length - 1] as number) >> (8 - padBits) !== 0) t.fail(`${c.name}: padding is not zero`)
  }
  t.ok(sawWidth12, 'some input reached 12-bit codes')
  t.ok(sawReclear, 'some input ran out of codes and re-cleared')
  t.pass(`${cases.length} buffers round-tripped`)
})

t.test('decoder errors', async (t) => {
  const good = lzwCompress(new TextEncoder().encode('hello hello hello'))
  const cases: { name: string; input: Uint8Array; max?: number; match: RegExp }[] = [
    { name: 'empty input', input: new Uint8Array(0), match: /without an EOF/ },
    { name: 'missing EOF (last byte cut)', input: good.subarray(0, good.length - 1), match: /without an EOF/ },
    { name: 'code past the dictionary', input: Uint8Array.of(0x00, 0xff, 0xff, 0xff), match: /invalid code/ },
    { name: 'output over the limit', input: lzwCompress(new Uint8Array(10_000)), max: 9_999, match: /larger than 9999/ },
    { name: 'limit below the first buffer', input: lzwCompress(new TextEncoder().encode('abc')), max: 2, match: /larger than 2 bytes/ },
    { name: 'no budget left', input: lzwCompress(Uint8Array.of(1)), max: 0, match: /larger than 0 bytes/ },
  ]
  for (const c of cases) {
    t.throws(() => lzwDecompress(c.input, c.max), GossipDecodeError, c.name)
    t.throws(() => lzwDecompress(c.input, c.max), c.match, c.name)
  }
  t.equal(lzwDecompress(lzwCompress(new Uint8Array(10_000)), 10_000).length, 10_000, 'exactly the limit is fine')
  t.equal(toHex(lzwDecompress(Uint8Array.of(...good, 0xde, 0xad))), toHex(new TextEncoder().encode('hello hello hello')), 'bytes after EOF ignored')
})

t.test('crc32 is CRC-32/IEEE', async (t) => {
  const cases = [
    { name: 'empty', input: new Uint8Array(0), want: 0 },
    { name: 'check value', input: new TextEncoder().encode('123456789'), want: 0xcbf43926 },
    { name: 'suspect vector', input: hex(V.suspect).subarray(5), want: 0xc63c6659 },
    { name: 'gossip vector', input: hex(V.gossip).subarray(5), want: 0xb91fab1b },
  ]
  for (const c of cases) t.equal(crc32(c.input), c.want, c.name)
  const zcrc = (zlib as { crc32?: (d: Uint8Array) => number }).crc32
  const rnd = seededRandomFn(3)
  const data = Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256))
  t.equal(crc32(data.subarray(1000), crc32(data.subarray(0, 1000))), crc32(data), 'running checksum')
  if (zcrc) t.equal(crc32(data), zcrc(data), 'matches zlib')
})
