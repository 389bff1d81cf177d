/**
 * msgpack as go-msgpack 0.5.5 (default MsgpackHandle) writes and reads it: the gossip wire format of memberlist
 * and serf. Spec §3 of ../shared/spec/memberlist-wire.md.
 *
 * Writer: structs are maps with keys sorted bytewise and `undefined` fields omitted; strings and byte slices
 * both use the str family (fixstr, str16 `da`, str32 `db`; never str8 `d9`, never bin); ints take the smallest
 * form by value. Reader: every str and bin value comes back as a raw Uint8Array (`isBin` tells them apart), map
 * keys must be str, and hostile input only ever raises GossipDecodeError (`incomplete` when the bytes simply
 * ended early, so a stream reader can wait for more).
 */
import { GossipDecodeError } from '../base/errors.ts'
import { MAX_STREAM_BLOB_BYTES } from './wire.ts'

/** A decoded msgpack value. str and bin are both Uint8Array; maps are keyed by the UTF-8 text of str keys. */
export type GoValue = null | boolean | number | bigint | Uint8Array | GoValue[] | Map<string, GoValue> | GoExt

/** What the writer accepts. Plain objects are Go structs (sorted keys, undefined omitted); Maps are Go maps. */
export type GoInput = undefined | null | boolean | number | bigint | string | Uint8Array | GoExt | readonly GoInput[]
  | ReadonlyMap<string, GoInput> | { readonly [field: string]: GoInput }

/** A msgpack ext value, kept raw (go-msgpack never writes one here). */
export class GoExt {
  readonly extType: number
  readonly data: Uint8Array
  constructor(extType: number, data: Uint8Array) {
    this.extType = extType
    this.data = data
  }
}

/** Raised when the input ended before the value did: more bytes may make it decodable. */
export class GossipIncompleteError extends GossipDecodeError {
  readonly incomplete = true as const
}

/** True if `err` means "the buffer is a valid prefix so far, wait for more bytes". */
export function isIncomplete(err: unknown): boolean {
  return err instanceof GossipIncompleteError
}

/** Max nesting of arrays/maps the reader follows. */
export const MAX_DEPTH = 32
/** Max declared length of a str/bin/array/map; anything larger is refused at once, not awaited. */
export const MAX_DECLARED_LEN = MAX_STREAM_BLOB_BYTES

const utf8Enc = new TextEncoder()
const utf8Dec = new TextDecoder('utf-8', { ignoreBOM: true })
const binValues = new WeakSet<Uint8Array>()
const U64_MAX = (1n << 64n) - 1n

/** True if this decoded byte value was written with a bin marker (c4/c5/c6) rather than a str marker. */
export function isBin(v: Uint8Array): boolean {
  return binValues.has(v)
}

/** Decode UTF-8 the way we read Go strings (invalid sequences become U+FFFD, a BOM is kept). */
export function utf8(b: Uint8Array): string {
  return utf8Dec.decode(b)
}

/** A growable byte buffer with msgpack writers. */
export class MsgpackWriter {
  #buf = new Uint8Array(64)
  #len = 0

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < this.#len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buf.subarray(0, this.#len))
    this.#buf = next
  }

  /** Append one byte. */
  byte(b: number): this {
    this.#reserve(1)
    this.#buf[this.#len++] = b & 0xff
    return this
  }

  /** Append raw bytes. */
  raw(b: Uint8Array): this {
    this.#reserve(b.length)
    this.#buf.set(b, this.#len)
    this.#len += b.length
    return this
  }

  /** Append `v` as an n-byte big-endian unsigned number. */
  #be(v: number, n: number): this {
    this.#reserve(n)
    for (let i = n - 1; i >= 0; i--, v = Math.floor(v / 256)) this.#buf[this.#len + i] = v & 0xff
    this.#len += n
    return this
  }

  #big(marker: number, v: bigint): this {
    const b = new Uint8Array(8)
    if (v < 0n) new DataView(b.buffer).setBigInt64(0, v)
    else new DataView(b.buffer).setBigUint64(0, v)
    return this.byte(marker).raw(b)
  }

  /** A length header: fix form below `fixLimit`, else 16- or 32-bit. */
  #head(n: number, fix: number, fixLimit: number, m16: number, m32: number): this {
    if (n < fixLimit) return this.byte(fix | n)
    return n < 0x10000 ? this.byte(m16).#be(n, 2) : this.byte(m32).#be(n, 4)
  }

  /** Write an integer (number or bigint) in the smallest form, as go-msgpack does. */
  int(v: number | bigint): this {
    if (typeof v === 'bigint') {
      if (v > U64_MAX || v < -(1n << 63n)) throw new RangeError(`msgpack: integer ${v} does not fit in 64 bits`)
      if (v <= 0xffffffffn && v >= -0x80000000n) return this.int(Number(v))
      return this.#big(v < 0n ? 0xd3 : 0xcf, v)
    }
    if (!Number.isInteger(v)) return this.float(v)
    if (v >= 0) {
      if (v < 0x80) return this.byte(v)
      if (v < 0x100) return this.byte(0xcc).byte(v)
      if (v < 0x10000) return this.byte(0xcd).#be(v, 2)
      return v < 0x100000000 ? this.byte(0xce).#be(v, 4) : this.int(BigInt(v))
    }
    if (v >= -32) return this.byte(v)
    if (v >= -0x80) return this.byte(0xd0).byte(v)
    if (v >= -0x8000) return this.byte(0xd1).#be(v & 0xffff, 2)
    return v >= -0x80000000 ? this.byte(0xd2).#be(v >>> 0, 4) : this.int(BigInt(v))
  }

  /** Write a float64 (`cb`). */
  float(v: number): this {
    const b = new Uint8Array(8)
    new DataView(b.buffer).setFloat64(0, v)
    return this.byte(0xcb).raw(b)
  }

  /** Write bytes (or a string as UTF-8) with a str-family header, as go-msgpack writes both string and []byte. */
  str(v: string | Uint8Array): this {
    const b = typeof v === 'string' ? utf8Enc.encode(v) : v
    return this.#head(b.length, 0xa0, 32, 0xda, 0xdb).raw(b)
  }

  /** Write an array header. */
  arrayHeader(n: number): this {
    return this.#head(n, 0x90, 16, 0xdc, 0xdd)
  }

  /** Write a map header. */
  mapHeader(n: number): this {
    return this.#head(n, 0x80, 16, 0xde, 0xdf)
  }

  /** Write a Go struct: keys sorted bytewise, `undefined` fields omitted. */
  struct(fields: { readonly [field: string]: GoInput }): this {
    const keys = Object.keys(fields)
      .filter((k) => fields[k] !== undefined)
      .map((k) => ({ k, b: utf8Enc.encode(k) }))
      .sort((x, y) => Buffer.compare(x.b, y.b))
    this.mapHeader(keys.length)
    for (const { k, b } of keys) this.str(b).value(fields[k])
    return this
  }

  /** Write any supported value (see GoInput). */
  value(v: GoInput): this {
    if (v === null || v === undefined) return this.byte(0xc0)
    if (typeof v === 'boolean') return this.byte(v ? 0xc3 : 0xc2)
    if (typeof v === 'number' || typeof v === 'bigint') return this.int(v)
    if (typeof v === 'string' || v instanceof Uint8Array) return this.str(v)
    if (v instanceof GoExt) throw new RangeError('msgpack: writing ext values is not supported')
    if (Array.isArray(v)) {
      this.arrayHeader(v.length)
      for (const x of v as readonly GoInput[]) this.value(x)
      return this
    }
    if (v instanceof Map) {
      this.mapHeader(v.size)
      for (const [k, x] of v as ReadonlyMap<string, GoInput>) this.str(k).value(x)
      return this
    }
    return this.struct(v as { readonly [field: string]: GoInput })
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len)
  }
}

/** Encode one value as go-msgpack 0.5.5 would. */
export function encodeGo(value: GoInput): Uint8Array {
  return new MsgpackWriter().value(value).finish()
}

/** Encode a Go struct: keys sorted bytewise, `undefined` fields omitted (omitempty). */
export function encodeStruct(fields: { readonly [field: string]: GoInput }): Uint8Array {
  return new MsgpackWriter().struct(fields).finish()
}

class Reader {
  readonly buf: Uint8Array
  pos: number
  readonly dv: DataView
  constructor(buf: Uint8Array, pos: number) {
    this.buf = buf
    this.pos = pos
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }

  need(n: number): void {
    if (this.buf.length - this.pos < n) throw new GossipIncompleteError('msgpack: unexpected end of input')
  }

  uint(n: 1 | 2 | 4): number {
    this.need(n)
    const p = this.pos
    this.pos += n
    return n === 1 ? this.dv.getUint8(p) : n === 2 ? this.dv.getUint16(p) : this.dv.getUint32(p)
  }

  len(n: 1 | 2 | 4, minItemBytes: number): number {
    const len = this.uint(n)
    if (len > MAX_DECLARED_LEN) throw new GossipDecodeError(`msgpack: declared length ${len} is over the limit`)
    if (len * minItemBytes > this.buf.length - this.pos) {
      throw new GossipIncompleteError('msgpack: unexpected end of input')
    }
    return len
  }

  bytes(len: number, bin: boolean): Uint8Array {
    this.need(len)
    const out = new Uint8Array(len)
    out.set(this.buf.subarray(this.pos, this.pos + len))
    this.pos += len
    if (bin) binValues.add(out)
    return out
  }

  big(signed: boolean): number | bigint {
    this.need(8)
    const v = signed ? this.dv.getBigInt64(this.pos) : this.dv.getBigUint64(this.pos)
    this.pos += 8
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v
  }

  value(depth: number): GoValue {
    this.need(1)
    const b = this.buf[this.pos++] as number
    if (b <= 0x7f) return b
    if (b >= 0xe0) return b - 0x100
    if (b >= 0xa0 && b <= 0xbf) return this.bytes(b & 0x1f, false)
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f, depth)
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f, depth)
    switch (b) {
      case 0xc0: return null
      case 0xc2: return false
      case 0xc3: return true
      case 0xc4: return this.bytes(this.len(1, 1), true)
      case 0xc5: return this.bytes(this.len(2, 1), true)
      case 0xc6: return this.bytes(this.len(4, 1), true)
      case 0xc7: return this.ext(this.len(1, 1))
      case 0xc8: return this.ext(this.len(2, 1))
      case 0xc9: return this.ext(this.len(4, 1))
      case 0xca: this.need(4); this.pos += 4; return this.dv.getFloat32(this.pos - 4)
      case 0xcb: this.need(8); this.pos += 8; return this.dv.getFloat64(this.pos - 8)
      case 0xcc: return this.uint(1)
      case 0xcd: return this.uint(2)
      case 0xce: return this.uint(4)
      case 0xcf: return this.big(false)
      case 0xd0: this.need(1); return this.dv.getInt8(this.pos++)
      case 0xd1: this.need(2); this.pos += 2; return this.dv.getInt16(this.pos - 2)
      case 0xd2: this.need(4); this.pos += 4; return this.dv.getInt32(this.pos - 4)
      case 0xd3: return this.big(true)
      case 0xd4: return this.ext(1)
      case 0xd5: return this.ext(2)
      case 0xd6: return this.ext(4)
      case 0xd7: return this.ext(8)
      case 0xd8: return this.ext(16)
      case 0xd9: return this.bytes(this.len(1, 1), false)
      case 0xda: return this.bytes(this.len(2, 1), false)
      case 0xdb: return this.bytes(this.len(4, 1), false)
      case 0xdc: return this.array(this.len(2, 1), depth)
      case 0xdd: return this.array(this.len(4, 1), depth)
      case 0xde: return this.map(this.len(2, 2), depth)
      case 0xdf: return this.map(this.len(4, 2), depth)
    }
    throw new GossipDecodeError(`msgpack: invalid marker 0x${b.toString(16)}`)
  }

  ext(len: number): GoExt {
    this.need(1)
    const t = this.dv.getInt8(this.pos++)
    return new GoExt(t, this.bytes(len, false))
  }

  array(n: number, depth: number): GoValue[] {
    if (depth >= MAX_DEPTH) throw new GossipDecodeError('msgpack: nesting too deep')
    const out: GoValue[] = []
    for (let i = 0; i < n; i++) out.push(this.value(depth + 1))
    return out
  }

  map(n: number, depth: number): Map<string, GoValue> {
    if (depth >= MAX_DEPTH) throw new GossipDecodeError('msgpack: nesting too deep')
    const out = new Map<string, GoValue>()
    for (let i = 0; i < n; i++) {
      this.need(1)
      const m = this.buf[this.pos] as number
      const isStr = (m >= 0xa0 && m <= 0xbf) || m === 0xd9 || m === 0xda || m === 0xdb
      if (!isStr) {
        const what = m >= 0xc4 && m <= 0xc6 ? 'bin' : `marker 0x${m.toString(16)}`
        throw new GossipDecodeError(`msgpack: map key must be a string, got ${what}`)
      }
      const k = utf8(this.value(depth + 1) as Uint8Array)
      out.set(k, this.value(depth + 1))
    }
    return out
  }
}

/**
 * Decode one msgpack value at `offset`. Throws GossipDecodeError only; `isIncomplete(err)` when the input ended
 * early. str/bin become Uint8Array copies, ints numbers (bigint beyond 2^53), maps Map<string, GoValue>.
 */
export function decodeGo(buf: Uint8Array, offset = 0): { value: GoValue; offset: number } {
  const r = new Reader(buf, offset)
  const value = r.value(0)
  return { value, offset: r.pos }
}

/** A decoded struct: the map of its fields. */
export type GoStruct = Map<string, GoValue>

/** Interpret a decoded value as a struct (a map; nil = all fields zero). */
export function asStruct(v: GoValue, what: string): GoStruct {
  if (v === null) return new Map()
  if (v instanceof Map) return v
  throw new GossipDecodeError(`${what}: expected a map`)
}

function fail(key: string, want: string): never {
  throw new GossipDecodeError(`msgpack: field ${key}: expected ${want}`)
}

/** A `string` field: str family only (bin is refused, as go-msgpack does); missing or nil = "". */
export function getStr(m: GoStruct, key: string): string {
  const v = m.get(key)
  if (v === undefined || v === null) return ''
  if (v instanceof Uint8Array && !isBin(v)) return utf8(v)
  return fail(key, 'a str')
}

/** A `[]byte` field: str or bin; missing or nil = null. */
export function getBytesOrNull(m: GoStruct, key: string): Uint8Array | null {
  const v = m.get(key)
  if (v === undefined || v === null) return null
  if (v instanceof Uint8Array) return v
  return fail(key, 'bytes')
}

/** A `[]byte` field: str or bin; missing or nil = empty. */
export function getBytes(m: GoStruct, key: string): Uint8Array {
  return getBytesOrNull(m, key) ?? new Uint8Array(0)
}

/** An unsigned int field in 0..max (any int marker); missing or nil = 0. */
export function getUint(m: GoStruct, key: string, max: number): number {
  const v = m.get(key)
  if (v === undefined || v === null) return 0
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v
  return fail(key, `an integer in 0..${max}`)
}

/** A signed int field in min..max; missing or nil = 0. */
export function getInt(m: GoStruct, key: string, min: number, max: number): number {
  const v = m.get(key)
  if (v === undefined || v === null) return 0
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v
  return fail(key, `an integer in ${min}..${max}`)
}

/** A uint64 field (Lamport times): numbers; values past 2^53 are clamped to Number.MAX_SAFE_INTEGER. */
export function getU64(m: GoStruct, key: string): number {
  const v = m.get(key)
  if (v === undefined || v === null) return 0
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v
  if (typeof v === 'bigint' && v > 0n) return Number.MAX_SAFE_INTEGER
  return fail(key, 'an unsigned integer')
}

/** A bool field: true/false or the ints 0/1; missing or nil = false. */
export function getBool(m: GoStruct, key: string): boolean {
  const v = m.get(key)
  if (v === undefined || v === null || v === false || v === 0) return false
  if (v === true || v === 1) return true
  return fail(key, 'a bool')
}

/** An array field; missing or nil = null. */
export function getArrayOrNull(m: GoStruct, key: string): GoValue[] | null {
  const v = m.get(key)
  if (v === undefined || v === null) return null
  if (Array.isArray(v)) return v
  return fail(key, 'an array')
}

/** A nested struct or Go map field; missing or nil = empty. */
export function getMap(m: GoStruct, key: string): GoStruct {
  const v = m.get(key)
  if (v === undefined || v === null) return new Map()
  if (v instanceof Map) return v
  return fail(key, 'a map')
}
