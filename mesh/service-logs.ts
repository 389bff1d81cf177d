import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import { parseDuration } from '../src/api/spec.ts'
import { managerClient } from './client.ts'

/**
 * `mesh service logs [--follow] [--tail N] [--timestamps] [--since …] SERVICE|TASK`, like `docker service logs`:
 * every line prefixed with its task and node (`web.1.<taskid>@node2 | …`), stdout lines to stdout and stderr lines to
 * stderr. The manager collects them from the nodes (src/manager/logs.ts); a node it cannot reach is one
 * `error from node4: …` line on stderr.
 */

type Msg = { task: string; name: string; node: string; stream: 'stdout' | 'stderr'; line: string; ts?: string } | { error: string; node?: string }

/** `--since`: a duration back from now (`10m`, `1h30m`), an RFC 3339 time, or a UNIX time → UNIX seconds. */
export function parseSince(text: string, now = Date.now()): number {
  const s = text.trim()
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s)
  if (/^\d{4}-\d\d-\d\d/.test(s)) {
    const ms = Date.parse(s)
    if (Number.isNaN(ms)) throw new ConfigError(`--since "${text}": not a valid time`)
    return Math.floor(ms / 1000)
  }
  try {
    return Math.floor((now - parseDuration(s, '--since')) / 1000)
  } catch {
    throw new ConfigError(`--since "${text}": want a duration (10m), an RFC 3339 time or a UNIX timestamp`)
  }
}

/** `web.1.<taskid>@node2` with ids cut to 12 characters unless `noTrunc`. */
export function logPrefix(name: string, node: string, noTrunc: boolean): string {
  if (noTrunc) return `${name}@${node}`
  const parts = name.split('.')
  const id = parts.pop() ?? ''
  const middle = parts.pop() ?? ''
  const short = (x: string) => (/^[0-9a-z]{20,}$/.test(x) ? x.slice(0, 12) : x)
  return `${[...parts, short(middle), short(id)].join('.')}@${node}`
}

export function serviceLogsCommand(): Command {
  return new Command('logs').description('fetch the logs of a service or a task').argument('<service|task>')
    .option('-f, --follow', 'follow the output')
    .option('-n, --tail <n>', 'lines from the end of each task\'s log ("all" for everything)', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .option('--since <time>', 'only lines since this time: 10m, 2026-12-01T08:00:00Z, or a UNIX timestamp')
    .option('--no-trunc', 'do not truncate ids')
    .addHelpText('after', '\nExample:\n  mesh service logs --tail 20 -f web')
    .action(async (target: string, f: { follow?: boolean; tail: string; timestamps?: boolean; since?: string; trunc: boolean }) => {
      if (f.tail !== 'all' && !/^\d+$/.test(f.tail)) throw new ConfigError(`--tail "${f.tail}": want a number of lines or "all"`)
      const q = new URLSearchParams({ tail: f.tail, follow: f.follow ? '1' : '0', timestamps: f.timestamps ? '1' : '0' })
      if (f.since !== undefined) q.set('since', String(parseSince(f.since)))
      let width = 0
      const c = managerClient()
      // A service name first; the manager falls back to a task id itself.
      await c.stream(`/v1/services/${encodeURIComponent(target)}/logs?${q}`, (raw) => {
        const m = raw as Msg
        if ('error' in m) {
          process.stderr.write(`error from ${m.node ?? 'manager'}: ${m.error}\n`)
          return
        }
        if (typeof m.line !== 'string') return
        const prefix = logPrefix(m.name, m.node, !f.trunc)
        width = Math.max(width, prefix.length)
        const text = `${m.ts && f.timestamps ? `${m.ts} ` : ''}${prefix.padEnd(width)} | ${m.line}\n`
        ;(m.stream === 'stderr' ? process.stderr : process.stdout).write(text)
      })
    })
}
