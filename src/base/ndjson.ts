import { StringDecoder } from 'node:string_decoder'

/**
 * The one newline-delimited splitter every stream reader uses (watch stream, event stream, log uploads, engine
 * events, CLI streams). A line longer than `maxLineChars` is cut off (its start is returned as one line, the rest
 * dropped up to the next newline) so a peer that never sends a newline cannot grow the buffer without bound.
 */
export interface LineSplitterOptions {
  /** Longest line kept whole, in UTF-16 characters. Default 16 MiB (a catalog of 10,000 endpoints is ~3 MB). */
  maxLineChars?: number
  /** Strip one trailing '\r' (CRLF streams such as container logs). Default false. */
  stripCr?: boolean
}

export const DEFAULT_MAX_LINE_CHARS = 16 * 1024 * 1024

/** Text chunks in, complete lines out (without the newline). Call `flush()` at end of stream for the last partial line. */
export class LineSplitter {
  #buf = ''
  #skipping = false
  /** Keeps a UTF-8 character split across two Buffer chunks whole. */
  readonly #decoder = new StringDecoder('utf8')
  readonly #max: number
  readonly #stripCr: boolean

  constructor(o: LineSplitterOptions = {}) {
    this.#max = o.maxLineChars ?? DEFAULT_MAX_LINE_CHARS
    this.#stripCr = o.stripCr ?? false
  }

  /** The lines completed by this chunk, in order. */
  push(chunk: Buffer | string): string[] {
    const out: string[] = []
    // The buffered text holds no newline: search only what this chunk added.
    const scanFrom = this.#buf.length
    let text = this.#buf + (typeof chunk === 'string' ? chunk : this.#decoder.write(chunk))
    let start = 0
    for (let i = text.indexOf('\n', scanFrom); i >= 0; i = text.indexOf('\n', start)) {
      if (this.#skipping) this.#skipping = false
      else out.push(this.#clean(text.slice(start, i)))
      start = i + 1
    }
    text = start === 0 ? text : text.slice(start)
    if (text.length > this.#max) {
      if (!this.#skipping) out.push(this.#clean(text.slice(0, this.#max)))
      this.#skipping = true
      text = ''
    }
    this.#buf = text
    return out
  }

  /** The unterminated last line, if any (and resets the splitter). */
  flush(): string | null {
    const rest = this.#skipping ? '' : this.#buf + this.#decoder.end()
    this.#buf = ''
    this.#skipping = false
    return rest === '' ? null : this.#clean(rest)
  }

  #clean(line: string): string {
    return this.#stripCr && line.endsWith('\r') ? line.slice(0, -1) : line
  }
}

/**
 * NDJSON: chunks in, parsed values out. Blank lines are skipped; a line that is not JSON is passed to `onBad`
 * (default: ignored) and never stops the stream.
 */
export class JsonLines {
  readonly #lines: LineSplitter
  readonly #onBad: (line: string, err: unknown) => void

  constructor(o: LineSplitterOptions & { onBad?: (line: string, err: unknown) => void } = {}) {
    this.#lines = new LineSplitter(o)
    this.#onBad = o.onBad ?? (() => undefined)
  }

  push(chunk: Buffer | string): unknown[] {
    const out: unknown[] = []
    for (const line of this.#lines.push(chunk)) {
      if (line.trim() === '') continue
      try {
        out.push(JSON.parse(line))
      } catch (err) {
        this.#onBad(line, err)
      }
    }
    return out
  }
}
