/**
 * CRC-32/IEEE (reflected polynomial 0xEDB88320, init and xorout 0xFFFFFFFF): the checksum of memberlist's hasCrc
 * wrapper, identical to Go's crc32.ChecksumIEEE and zlib's crc32. Table-driven, one byte per step.
 */

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/**
 * CRC-32/IEEE of `data` as an unsigned 32-bit number. Pass a previous result as `crc` to continue a running
 * checksum over several chunks.
 */
export function crc32(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0
  for (let i = 0; i < data.length; i++) {
    c = (TABLE[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8)
  }
  return ~c >>> 0
}
