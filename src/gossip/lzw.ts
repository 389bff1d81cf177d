/**
 * Go's compress/lzw as memberlist uses it: LSB-first bit order, literal width 8 (spec §2 "compress 9").
 *
 * Codes 0–255 are literals, 256 clear, 257 EOF, dictionary entries from 258. Codes start 9 bits wide and grow by
 * one when the next free code reaches 512/1024/2048 (max 12). The encoder opens with a clear code, emits a clear
 * instead of assigning code 4095 (back to 9 bits, empty dictionary), ends with EOF and zero-pads the last byte.
 * The output matches Go's lzw.Writer byte for byte.
 */
import { GossipDecodeError } from '../base/errors.ts'

const CLEAR = 256
const EOF = 257
const MAX_CODE = 4095
const MAX_WIDTH = 12

/** Largest output lzwDecompress produces unless told otherwise (memberlist's stream limit, 20 MiB). */
export const LZW_DEFAULT_MAX_OUT_BYTES = 20 * 1024 * 1024

class Sink {
  buf: Uint8Array
  len = 0
  readonly max: number
  constructor(size: number, max: number) {
    this.max = max
    this.buf = new Uint8Array(Math.max(16, Math.min(size, max)))
  }

  reserve(n: number): void {
    if (this.len + n > this.max) {
      throw new GossipDecodeError(`lzw: decompressed data is larger than ${this.max} bytes`)
    }
    if (this.len + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.len + n) size *= 2
    const next = new Uint8Array(Math.min(size, this.max))
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }

  push(b: number): void {
    this.reserve(1)
    this.buf[this.len++] = b
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len)
  }
}

/** Compress `data` exactly as Go's `lzw.NewWriter(w, lzw.LSB, 8)` does. */
export function lzwCompress(data: Uint8Array): Uint8Array {
  const out = new Sink(Math.ceil(data.length / 2) + 16, Number.MAX_SAFE_INTEGER)
  let bits = 0
  let nBits = 0
  let width = 9
  let hi = EOF
  let overflow = 512
  const table = new Map<number, number>()
  const write = (code: number): void => {
    bits |= code << nBits
    nBits += width
    while (nBits >= 8) {
      out.push(bits & 0xff)
      bits >>>= 8
      nBits -= 8
    }
  }
  /** Go's incHi: returns false when the dictionary ran out and was cleared. */
  const incHi = (): boolean => {
    hi++
    if (hi === overflow) {
      width++
      overflow <<= 1
    }
    if (hi === MAX_CODE) {
      write(CLEAR)
      width = 9
      hi = EOF
      overflow = 512
      table.clear()
      return false
    }
    return true
  }

  write(CLEAR)
  if (data.length > 0) {
    let code = data[0] as number
    for (let i = 1; i < data.length; i++) {
      const literal = data[i] as number
      const key = code * 256 + literal
      const hit = table.get(key)
      if (hit !== undefined) {
        code = hit
        continue
      }
      write(code)
      code = literal
      if (incHi()) table.set(key, hi)
    }
    write(code)
    incHi()
  }
  write(EOF)
  if (nBits > 0) out.push(bits & 0xff)
  return out.result()
}

/**
 * Decompress Go LZW (LSB, literal width 8). Throws GossipDecodeError on an invalid code, a missing EOF code, or
 * output larger than `maxOutBytes`. Bytes after the EOF code are ignored, as Go's reader does.
 */
export function lzwDecompress(data: Uint8Array, maxOutBytes = LZW_DEFAULT_MAX_OUT_BYTES): Uint8Array {
  const out = new Sink(data.length * 3, maxOutBytes)
  const prefix = new Uint16Array(MAX_CODE + 1)
  const suffix = new Uint8Array(MAX_CODE + 1)
  const stack = new Uint8Array(MAX_CODE + 1)
  let width = 9
  let hi = EOF
  let overflow = 512
  let last = -1
  let bits = 0
  let nBits = 0
  let pos = 0
  for (;;) {
    while (nBits < width) {
      if (pos >= data.length) throw new GossipDecodeError('lzw: data ended without an EOF code')
      bits |= (data[pos++] as number) << nBits
      nBits += 8
    }
    const code = bits & ((1 << width) - 1)
    bits >>>= width
    nBits -= width
    if (code === CLEAR) {
      width = 9
      hi = EOF
      overflow = 512
      last = -1
      continue
    }
    if (code === EOF) return out.result()
    if (code < CLEAR) {
      out.push(code)
      if (last !== -1) {
        suffix[hi] = code
        prefix[hi] = last
      }
    } else if (code <= hi) {
      let i = stack.length - 1
      let c = code
      if (code === hi && last !== -1) {
        // KwKwK: the last expansion followed by its own first byte.
        c = last
        while (c >= CLEAR) c = prefix[c] as number
        stack[i--] = c
        c = last
      }
      while (c >= CLEAR) {
        stack[i--] = suffix[c] as number
        c = prefix[c] as number
      }
      stack[i] = c
      const chunk = stack.subarray(i)
      out.reserve(chunk.length)
      out.buf.set(chunk, out.len)
      out.len += chunk.length
      if (last !== -1) {
        suffix[hi] = c
        prefix[hi] = last
      }
    } else {
      throw new GossipDecodeError(`lzw: invalid code ${code}`)
    }
    last = code
    hi++
    if (hi >= overflow) {
      if (width === MAX_WIDTH) {
        last = -1
        hi--
      } else {
        width++
        overflow <<= 1
      }
    }
  }
}
