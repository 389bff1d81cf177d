import { writeSync } from 'node:fs'
import pino from 'pino'
import type { LogLevel } from '../src/config/index.ts'

/**
 * Logs to stdout, one child logger per subsystem: `log.child({ sub: 'gossip' })`. JSON lines (systemd/journald,
 * log shippers) unless stdout is a terminal, where each record is one readable line:
 *   12:04:05.123 INFO  gossip  member join  node=node2 address=192.168.77.12:7946
 * MESH_LOG_FORMAT=json|pretty overrides the choice.
 */
export function createLogger(level: LogLevel, o: { pretty?: boolean; fd?: number } = {}): pino.Logger {
  const fd = o.fd ?? 1
  const format = process.env.MESH_LOG_FORMAT
  const pretty = o.pretty ?? (format === 'pretty' ? true : format === 'json' ? false : process.stdout.isTTY === true)
  const opts: pino.LoggerOptions = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }
  if (!pretty) return pino(opts, pino.destination({ fd, sync: true }))
  const color = o.pretty === undefined && process.stdout.isTTY === true && !process.env.NO_COLOR
  return pino(opts, { write: (line: string) => { writeSync(fd, formatLine(line, color)) } })
}
export type Logger = pino.Logger

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'], 20: ['DEBUG', '\x1b[36m'], 30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'], 50: ['ERROR', '\x1b[31m'], 60: ['FATAL', '\x1b[35m'],
}
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'sub'])

/** One pino JSON line → `HH:MM:SS.mmm LEVEL sub  message  k=v …\n` (the input as is if it is not JSON). */
export function formatLine(line: string, color = false): string {
  let r: Record<string, unknown>
  try {
    r = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`
  }
  const [name, code] = LEVELS[r.level as number] ?? [String(r.level).toUpperCase().padEnd(5), '']
  const time = typeof r.time === 'string' ? r.time.slice(11, 23) : new Date(Number(r.time ?? Date.now())).toISOString().slice(11, 23)
  const fields = Object.entries(r).filter(([k]) => !SKIP.has(k)).map(([k, v]) => `${k}=${fieldText(v)}`).join(' ')
  const lvl = color ? `${code}${name}\x1b[0m` : name
  const sub = typeof r.sub === 'string' ? `${r.sub.padEnd(8)}` : '        '
  return `${time} ${lvl} ${sub} ${String(r.msg ?? '')}${fields ? `  ${color ? `\x1b[90m${fields}\x1b[0m` : fields}` : ''}\n`
}

function fieldText(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v
  return JSON.stringify(v) ?? String(v)
}
