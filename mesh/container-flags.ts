import type { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import { parseDuration, parseMount } from '../src/api/spec.ts'
import { splitWords, type HealthcheckSpec, type MountSpec, type ServiceSpecRequest } from '../src/api/index.ts'

/**
 * The `mesh service create|update` flags for what a task's container is made with, as docker's: healthcheck
 * (`--health-*`, `--no-healthcheck`), `--hostname`, `-u/--user`, `-w/--workdir`, `--entrypoint`, and the mount flags
 * (`--mount` on create; `--mount-add` / `--mount-rm` on update). They only translate: the manager validates the
 * result (src/api/validate-container.ts). On update an empty value (`--hostname ""`) clears the field: the request
 * carries null for it.
 */
export interface ContainerFlags {
  healthCmd?: string
  healthInterval?: string
  healthTimeout?: string
  healthRetries?: string
  healthStartPeriod?: string
  /** false when `--no-healthcheck` is given (commander's negated flag). */
  healthcheck?: boolean
  hostname?: string
  user?: string
  workdir?: string
  entrypoint?: string
  mount?: string[]
  mountAdd?: string[]
  mountRm?: string[]
}

const many = (v: string, p: string[] = []) => p.concat(v)

export function containerOptions(c: Command, forUpdate: boolean): Command {
  const clear = forUpdate ? '; "" clears it' : ''
  c.option(forUpdate ? '--mount-add <spec>' : '--mount <spec>',
    'type=bind|volume,source=…,target=…[,readonly] or type=tmpfs,target=/x[,tmpfs-size=64M][,tmpfs-mode=1777] (repeatable)', many)
  if (forUpdate) c.option('--mount-rm <target>', 'remove the mount on this container path (repeatable)', many)
  return c
    .option('--health-cmd <command>', `command run in the container to check health (a shell command line)${forUpdate ? '; "" goes back to the image\'s' : ''}`)
    .option('--health-interval <dur>', 'time between health checks, e.g. 30s (0 = the engine default)')
    .option('--health-timeout <dur>', 'time one check may take, e.g. 5s')
    .option('--health-retries <n>', 'consecutive failures before the task is unhealthy')
    .option('--health-start-period <dur>', 'time after start during which failures do not count, e.g. 10s')
    .option('--no-healthcheck', 'disable any healthcheck, the image\'s HEALTHCHECK included')
    .option('--hostname <name>', `container hostname; placeholders {{.Service.Name}} {{.Task.Slot}} {{.Node.Hostname}} … are filled per task${clear}`)
    .option('-u, --user <user>', `user the command runs as: name|uid[:group|gid]${clear}`)
    .option('-w, --workdir <dir>', `working directory of the command (absolute)${clear}`)
    .option('--entrypoint <command>', `override the image's ENTRYPOINT (a command line, split like a shell does)${clear}`)
}

const HEALTH_FLAGS = ['healthCmd', 'healthInterval', 'healthTimeout', 'healthRetries', 'healthStartPeriod'] as const

function retriesOf(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ConfigError(`--health-retries "${text}": want a whole number ≥ 0`)
  return Number(text)
}

/**
 * The healthcheck the flags ask for: undefined when no health flag is given, null when an update goes back to the
 * image's healthcheck (no command, no timings). Starts from `current` on update, as docker's service update does.
 */
export function healthFromFlags(f: ContainerFlags, current: HealthcheckSpec | undefined, forUpdate: boolean): HealthcheckSpec | null | undefined {
  const given = HEALTH_FLAGS.filter((k) => f[k] !== undefined)
  if (f.healthcheck === false) {
    if (given.length > 0) throw new ConfigError('--no-healthcheck conflicts with --health-* options')
    return { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 }
  }
  if (given.length === 0) return undefined
  const base = forUpdate && current ? current : { test: [], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 }
  const h: HealthcheckSpec = { ...base, test: base.test[0] === 'NONE' ? [] : [...base.test] }
  if (f.healthCmd !== undefined) h.test = f.healthCmd === '' ? [] : ['CMD-SHELL', f.healthCmd]
  if (f.healthInterval !== undefined) h.intervalMs = parseDuration(f.healthInterval, '--health-interval')
  if (f.healthTimeout !== undefined) h.timeoutMs = parseDuration(f.healthTimeout, '--health-timeout')
  if (f.healthRetries !== undefined) h.retries = retriesOf(f.healthRetries)
  if (f.healthStartPeriod !== undefined) h.startPeriodMs = parseDuration(f.healthStartPeriod, '--health-start-period')
  const inherits = h.test.length === 0 && h.intervalMs === 0 && h.timeoutMs === 0 && h.retries === 0 && h.startPeriodMs === 0
  return inherits && forUpdate ? null : h
}

function words(text: string): string[] {
  try {
    return splitWords(text)
  } catch (err) {
    throw new ConfigError(`--entrypoint: ${(err as Error).message}`)
  }
}

/** Apply the container flags to a spec request (a copy the caller owns). */
export function applyContainerFlags(s: ServiceSpecRequest, f: ContainerFlags, forUpdate: boolean): void {
  const o = s as Record<string, unknown>
  // create: an empty value sends nothing (the default); update: null, which the manager reads as "remove the field"
  const set = (k: 'hostname' | 'user' | 'workdir', v: string | undefined): void => {
    if (v === undefined) return
    if (v !== '') o[k] = v
    else if (forUpdate) o[k] = null
  }
  set('hostname', f.hostname)
  set('user', f.user)
  set('workdir', f.workdir)
  if (f.entrypoint !== undefined) {
    const argv = words(f.entrypoint)
    if (argv.length > 0) s.entrypoint = argv
    else if (forUpdate) o.entrypoint = null
  }
  const health = healthFromFlags(f, s.healthcheck, forUpdate)
  if (health !== undefined) o.healthcheck = health
  if (forUpdate) {
    const gone = new Set(f.mountRm ?? [])
    const added = (f.mountAdd ?? []).map(parseMount)
    if (gone.size > 0 || added.length > 0) {
      // docker's --mount-add replaces a mount on the same target
      const replaced = new Set(added.map((m) => m.target))
      s.mounts = [...(s.mounts ?? []).filter((m) => !gone.has(m.target) && !replaced.has(m.target)), ...added]
    }
  } else {
    const mounts: MountSpec[] = (f.mount ?? []).map(parseMount)
    if (mounts.length > 0) s.mounts = [...(s.mounts ?? []), ...mounts]
  }
}
