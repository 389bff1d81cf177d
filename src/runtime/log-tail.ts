/** Container logs (pure): the bit the runner reports when a task fails. */

/**
 * The last non-empty line of a non-TTY `GET /containers/{id}/logs` body: frames of an 8-byte header
 * (stream, 0, 0, 0, big-endian length) then the payload. A body that is not framed (a TTY container) is read as text.
 */
export function lastLogLine(body: Buffer): string | undefined {
  let text = ''
  let off = 0
  let framed = body.length >= 8
  while (framed && off < body.length) {
    if (off + 8 > body.length || (body[off] as number) > 2 || body[off + 1] !== 0 || body[off + 2] !== 0 || body[off + 3] !== 0) {
      framed = false
      break
    }
    const len = body.readUInt32BE(off + 4)
    text += body.subarray(off + 8, off + 8 + len).toString('utf8')
    off += 8 + len
  }
  if (!framed) text = body.toString('utf8')
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.length > 0)
  return lines.at(-1)
}
