import { Command } from 'commander'
import { ConfigError } from '../src/base/errors.ts'
import { parseCpus, parseDuration, parseKeyValue, parseMemory, parsePublish } from '../src/api/spec.ts'
import type { Resources, RestartPolicy, ServiceRecord, ServiceSpecRequest, UpdateConfig } from '../src/api/index.ts'
import { applySchedulingFlags, type SchedulingFlags } from './scheduling-flags.ts'
import { applyContainerFlags, containerOptions, type ContainerFlags } from './container-flags.ts'
import { applyFileRefFlags, fileRefOptions, type FileRefFlags } from './file-ref-flags.ts'

/**
 * The spec flags `mesh service create` and `update` share, and how they apply to a spec request (pure). The flags of
 * the container itself (healthcheck, hostname, user, workdir, entrypoint, mounts) are in container-flags.ts.
 */
export interface SpecFlags extends ContainerFlags, SchedulingFlags, FileRefFlags {
  publish?: string[]
  constraint?: string[]
  env?: string[]
  label?: string[]
  limitCpu?: string
  limitMemory?: string
  reserveCpu?: string
  reserveMemory?: string
  restartCondition?: string
  restartDelay?: string
  restartMaxAttempts?: string
  restartWindow?: string
  updateParallelism?: string
  updateDelay?: string
  updateOrder?: string
  updateMonitor?: string
  updateFailureAction?: string
  endpointMode?: string
  image?: string
  withRegistryAuth?: boolean
  force?: boolean
  /** false with `--no-resolve-image` (commander's negated option). */
  resolveImage?: boolean
  detach?: boolean
  json?: boolean
}

export const many = (v: string, p: string[] = []) => p.concat(v)

export function specOptions(c: Command, forUpdate: boolean): Command {
  const add = forUpdate ? '-add' : ''
  // Scheduling: mode, counts, placement preferences, max per node (scheduling-flags.ts applies them).
  if (!forUpdate) c.option('--mode <mode>', 'replicated | global | replicated-job | global-job (default replicated)')
  c.option('--replicas <n>', 'number of tasks (replicated mode); total completions (replicated-job mode)')
    .option('--max-concurrent <n>', 'job tasks run at once (replicated-job mode; default equal to --replicas)')
    .option(`--placement-pref${add} <pref>`, 'placement preference: spread=node.labels.<key> (repeatable)', many)
    .option('--replicas-max-per-node <n>', 'maximum tasks of the service per node (0 = unlimited)')
  if (forUpdate) c.option('--placement-pref-rm <pref>', 'remove a placement preference', many)
  if (forUpdate) c.option('--force', 'replace every task even when nothing changed (with other flags: one update)')
  const head = c
    .option(forUpdate ? '--publish-add <spec>' : '-p, --publish <spec>', 'publish a port: 8080:80[/udp] or published=8080,target=80[,protocol=udp][,mode=host][,proxy-protocol=v1|v2] (repeatable)', many)
    .option(`--constraint${add} <expr>`, 'placement constraint, e.g. node.role==manager, node.labels.zone!=a (repeatable)', many)
    .option(`--env${add} <KEY=VALUE>`, 'environment variable (repeatable)', many)
    .option(`--label${add} <KEY=VALUE>`, 'service label (repeatable)', many)
    .option('--limit-cpu <cpus>', 'CPU limit, e.g. 0.5')
    .option('--limit-memory <size>', 'memory limit, e.g. 50M')
    .option('--reserve-cpu <cpus>', 'CPU reservation (placement)')
    .option('--reserve-memory <size>', 'memory reservation (placement)')
    .option('--restart-condition <cond>', 'none | on-failure | any')
    .option('--restart-delay <dur>', 'delay between restarts, e.g. 5s')
    .option('--restart-max-attempts <n>', 'restarts before giving up (0 = unlimited)')
    .option('--restart-window <dur>', 'window for counting restarts')
    .option('--update-parallelism <n>', 'tasks updated at once (0 = all)')
    .option('--update-delay <dur>', 'delay between update batches')
    .option('--update-order <order>', 'stop-first | start-first')
    .option('--update-monitor <dur>', 'how long a new task is watched for failure, e.g. 5s')
    .option('--update-failure-action <action>', 'pause | continue | rollback')
    .option('--endpoint-mode <mode>', 'vip | dnsrr')
  return fileRefOptions(containerOptions(head, forUpdate), forUpdate)
    .option('--with-registry-auth', 'send the registry credentials for the image (from ~/.docker/config.json) to the nodes')
    .option('--no-resolve-image', 'do not ask the registry to pin the image tag to a digest (nodes may run different images under one tag)')
    .option('-d, --detach', 'return at once instead of waiting for the tasks to converge')
}

function intOf(text: string, what: string, min = 0): number {
  if (!/^-?\d+$/.test(text.trim())) throw new ConfigError(`${what} "${text}": want a whole number`)
  const n = Number(text)
  if (n < min) throw new ConfigError(`${what} must be ≥ ${min}`)
  return n
}

/**
 * Apply flags to a spec request: create starts from `{name, image}` and sends only what the flags set (the manager
 * fills Docker's defaults, once); update starts from the current spec and sends it whole.
 */
export function applySpecFlags<T extends ServiceSpecRequest>(spec: T, f: SpecFlags & Record<string, unknown>, forUpdate: boolean): T {
  const s = structuredClone(spec)
  const list = (k: string) => (f[k] as string[] | undefined) ?? []
  const pub = forUpdate ? 'publishAdd' : 'publish'
  applySchedulingFlags(s, f, forUpdate)
  const ports = list(pub).map(parsePublish)
  if (ports.length > 0) s.ports = [...(s.ports ?? []), ...ports]
  const constraints = list(forUpdate ? 'constraintAdd' : 'constraint')
  if (constraints.length > 0) s.constraints = [...(s.constraints ?? []), ...constraints]
  for (const e of list(forUpdate ? 'envAdd' : 'env')) {
    const [k] = parseKeyValue(e, '--env')
    s.env = forUpdate ? (s.env ?? []).filter((x) => x.split('=')[0] !== k) : (s.env ?? []) // --env-add replaces a variable, as docker's does
    s.env.push(e)
  }
  for (const l of list(forUpdate ? 'labelAdd' : 'label')) { const [k, v] = parseKeyValue(l, '--label'); s.labels = { ...s.labels, [k]: v } }
  applyContainerFlags(s, f, forUpdate)
  applyFileRefFlags(s, f, forUpdate)
  if (forUpdate) {
    for (const p of list('publishRm')) s.ports = (s.ports ?? []).filter((x) => String(x.published) !== p.split(':')[0])
    for (const c of list('constraintRm')) s.constraints = (s.constraints ?? []).filter((x) => x.replace(/\s/g, '') !== c.replace(/\s/g, ''))
    for (const e of list('envRm')) s.env = (s.env ?? []).filter((x) => x.split('=')[0] !== e)
    if (f.image !== undefined) s.image = f.image
    if (f.force) s.forceUpdate = (s.forceUpdate ?? 0) + 1
  }
  const resources = (which: 'limits' | 'reservations', v: Partial<Resources>): void => {
    s.resources = { ...s.resources, [which]: { ...s.resources?.[which], ...v } }
  }
  if (f.limitCpu !== undefined) resources('limits', { nanoCpus: parseCpus(f.limitCpu, '--limit-cpu') })
  if (f.limitMemory !== undefined) resources('limits', { memoryBytes: parseMemory(f.limitMemory, '--limit-memory') })
  if (f.reserveCpu !== undefined) resources('reservations', { nanoCpus: parseCpus(f.reserveCpu, '--reserve-cpu') })
  if (f.reserveMemory !== undefined) resources('reservations', { memoryBytes: parseMemory(f.reserveMemory, '--reserve-memory') })
  const restart = (v: Partial<RestartPolicy>): void => { s.restartPolicy = { ...s.restartPolicy, ...v } }
  const update = (v: Partial<UpdateConfig>): void => { s.updateConfig = { ...s.updateConfig, ...v } }
  if (f.restartCondition !== undefined) {
    if (!['none', 'on-failure', 'any'].includes(f.restartCondition)) throw new ConfigError(`--restart-condition "${f.restartCondition}": want none, on-failure or any`)
    restart({ condition: f.restartCondition as RestartPolicy['condition'] })
  }
  if (f.restartDelay !== undefined) restart({ delayMs: parseDuration(f.restartDelay, '--restart-delay') })
  if (f.restartMaxAttempts !== undefined) restart({ maxAttempts: intOf(f.restartMaxAttempts, '--restart-max-attempts') })
  if (f.restartWindow !== undefined) restart({ windowMs: parseDuration(f.restartWindow, '--restart-window') })
  if (f.updateParallelism !== undefined) update({ parallelism: intOf(f.updateParallelism, '--update-parallelism') })
  if (f.updateDelay !== undefined) update({ delayMs: parseDuration(f.updateDelay, '--update-delay') })
  if (f.updateMonitor !== undefined) update({ monitorMs: parseDuration(f.updateMonitor, '--update-monitor') })
  if (f.updateOrder !== undefined) {
    if (f.updateOrder !== 'stop-first' && f.updateOrder !== 'start-first') throw new ConfigError(`--update-order "${f.updateOrder}": want stop-first or start-first`)
    update({ order: f.updateOrder })
  }
  if (f.updateFailureAction !== undefined) {
    if (!['pause', 'continue', 'rollback'].includes(f.updateFailureAction)) throw new ConfigError(`--update-failure-action "${f.updateFailureAction}": want pause, continue or rollback`)
    update({ failureAction: f.updateFailureAction as UpdateConfig['failureAction'] })
  }
  if (f.endpointMode !== undefined) {
    if (f.endpointMode !== 'vip' && f.endpointMode !== 'dnsrr') throw new ConfigError(`--endpoint-mode "${f.endpointMode}": want vip or dnsrr`)
    s.endpointMode = f.endpointMode
  }
  return s
}

/**
 * The query of a create/update request: `?resolveImage=never` with `--no-resolve-image`, and on an update that does
 * not give `--image` (docker asks the registry only when the image is given: a pinned image stays as it is, and an
 * unpinned one is not asked about again by `--env-add`).
 */
export function resolveQuery(f: SpecFlags, forUpdate = false): string {
  return f.resolveImage === false || (forUpdate && f.image === undefined) ? '?resolveImage=never' : ''
}

/** A create/update answer: the service, plus the manager's warnings (an image it could not pin to a digest). */
export type ServiceAnswer = ServiceRecord & { warnings?: string[] }

/** Each warning on stderr, as docker prints them (the text ends in a newline, then one more). */
export function printWarnings(a: { warnings?: unknown }, write: (s: string) => void = (s) => void process.stderr.write(s)): void {
  if (!Array.isArray(a.warnings)) return
  for (const w of a.warnings) if (typeof w === 'string') write(`${w}\n`)
}
