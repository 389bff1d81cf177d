/**
 * The agent push stream (`GET /v1/agent/watch`, NDJSON) read line by line, for tests of the manager API over mutual
 * TLS: `next()` resolves with the next value `pick` makes of a line (lines it maps to undefined are dropped), waiting
 * for it if need be. Lines are split by src/base's one NDJSON splitter.
 *
 *   const w = await openWatch(api.target(nodeTls), (l: Line) => l.peers)
 *   t.same(await w.next(), [])
 */
import { requestFor, type HttpTarget } from '../../src/api/index.ts'
import { JsonLines } from '../../src/base/ndjson.ts'

export interface WatchReader<T> {
  status: number
  next(): Promise<T>
  /** Resolves when the stream ends (the manager closed or reset it). */
  ended: Promise<void>
  close(): void
}

export function openWatch<L, T = L>(target: HttpTarget, pick: (line: L) => T | undefined = (l) => l as unknown as T): Promise<WatchReader<T>> {
  return new Promise((resolve, reject) => {
    const got: T[] = []
    const waiting: ((v: T) => void)[] = []
    const req = requestFor(target, { method: 'GET', path: '/v1/agent/watch' }, (res) => {
      const lines = new JsonLines()
      const ended = new Promise<void>((r) => {
        res.on('close', () => r())
        res.on('error', () => r())
      })
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        for (const line of lines.push(chunk)) {
          const v = pick(line as L)
          if (v === undefined) continue
          const w = waiting.shift()
          if (w) w(v)
          else got.push(v)
        }
      })
      resolve({
        status: res.statusCode ?? 0,
        next: () => new Promise<T>((r) => {
          if (got.length > 0) r(got.shift() as T)
          else waiting.push(r)
        }),
        ended,
        close: () => req.destroy(),
      })
    })
    req.on('error', reject)
    req.end()
  })
}
