import { LogDemuxer } from './log-demux.ts'

/** Container logs (pure): the bit the runner reports when a task fails. */

/**
 * The last non-empty line of a `GET /containers/{id}/logs` body, framed (non-TTY) or plain text (TTY), read with
 * the same demuxer as the log shipper.
 */
export function lastLogLine(body: Buffer): string | undefined {
  const d = new LogDemuxer(Number.MAX_SAFE_INTEGER)
  const lines = [...d.push(body), ...d.flush()].map((l) => l.line.trimEnd()).filter((l) => l.length > 0)
  return lines.at(-1)
}
