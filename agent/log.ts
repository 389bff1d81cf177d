import pino from 'pino'
import type { LogLevel } from '../src/config/index.ts'

/** JSON logs to stdout (systemd/journald friendly); one child logger per subsystem: `log.child({ sub: 'gossip' })`. */
export function createLogger(level: LogLevel): pino.Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 1, sync: true }))
}
export type Logger = pino.Logger
