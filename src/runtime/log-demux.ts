import { StringDecoder } from 'node:string_decoder'
import { LineSplitter } from '../base/ndjson.ts'

/**
 * Docker's multiplexed log stream (`GET /containers/{id}/logs` of a non-TTY container): frames of an 8-byte header
 * (stream 1 = stdout, 2 = stderr, 3 zero bytes, big-endian length) and the payload. A stream whose first bytes are
 * not a frame header (a TTY container) is plain text on stdout from there on. Pure and incremental: feed chunks,
 * get complete lines per stream; the one demuxer behind the log shipper and the runner's last-log-line.
 */
export type LogStream = 'stdout' | 'stderr'

export interface DemuxedLine {
  stream: LogStream
  line: string
}

export class LogDemuxer {
  #buf: Buffer = Buffer.alloc(0)
  /** Unknown until the first 8 bytes arrive. */
  #framed: boolean | null = null
  readonly #lines: Record<LogStream, LineSplitter>
  /** A character split across two frames stays whole. */
  readonly #utf8: Record<LogStream, StringDecoder> = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') }

  /** `maxLineBytes`: a longer line is cut there and the rest of it dropped (Docker splits long lines itself). */
  constructor(maxLineBytes = 16 * 1024) {
    const o = { maxLineChars: maxLineBytes, stripCr: true }
    this.#lines = { stdout: new LineSplitter(o), stderr: new LineSplitter(o) }
  }

  /** Complete lines (without the newline) found in `chunk`. */
  push(chunk: Buffer): DemuxedLine[] {
    const out: DemuxedLine[] = []
    if (this.#framed === false) {
      this.#text('stdout', chunk, out)
      return out
    }
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk])
    while (this.#buf.length >= 8) {
      if (!isFrameHeader(this.#buf)) {
        if (this.#framed === null) {
          this.#framed = false
          this.#text('stdout', this.#buf, out)
        } // else: garbage inside a framed stream; dropped
        this.#buf = Buffer.alloc(0)
        break
      }
      this.#framed = true
      const len = this.#buf.readUInt32BE(4)
      if (this.#buf.length < 8 + len) break
      this.#text(this.#buf[0] === 2 ? 'stderr' : 'stdout', this.#buf.subarray(8, 8 + len), out)
      this.#buf = this.#buf.subarray(8 + len)
    }
    return out
  }

  /** The end of the stream: whatever is left without a final newline. */
  flush(): DemuxedLine[] {
    const out: DemuxedLine[] = []
    if (this.#buf.length > 0) {
      // Fewer than 8 bytes in all (short TTY output), or a frame cut short: keep what text there is.
      if (this.#framed === null) this.#text('stdout', this.#buf, out)
      else if (this.#buf.length > 8) this.#text(this.#buf[0] === 2 ? 'stderr' : 'stdout', this.#buf.subarray(8), out)
      this.#buf = Buffer.alloc(0)
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      for (const line of this.#lines[stream].push(this.#utf8[stream].end())) out.push({ stream, line })
      const rest = this.#lines[stream].flush()
      if (rest !== null) out.push({ stream, line: rest })
    }
    return out
  }

  #text(stream: LogStream, bytes: Buffer, out: DemuxedLine[]): void {
    for (const line of this.#lines[stream].push(this.#utf8[stream].write(bytes))) out.push({ stream, line })
  }
}

function isFrameHeader(b: Buffer): boolean {
  return (b[0] as number) <= 2 && b[1] === 0 && b[2] === 0 && b[3] === 0
}
