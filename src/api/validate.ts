/**
 * The ONE validation of a service spec (pure), run wherever a spec enters: the manager's create/update (so the HTTP
 * API), the stack loader, and so the CLI, which sends through the API. Each problem is one short sentence; a caller
 * adds the subject (`service "web": …`, `stack.yml: services.web: …`), so the same spec is refused with the same
 * words on every path.
 */
import { validateConstraints } from './constraints.ts'
import { parseImageRef } from './image-ref.ts'
import { ServiceSpecError } from './errors.ts'
import { containerProblems } from './validate-container.ts'
import { fileRefProblems } from './file-refs.ts'
import { isGlobalMode, isJobMode } from './mode.ts'
import { defaultUpdateConfig } from './spec.ts'
import type { ServiceSpec, UpdateConfig } from './types.ts'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isList = (v: unknown, item: (x: unknown) => boolean): boolean => Array.isArray(v) && v.every(item)
const isString = (v: unknown): boolean => typeof v === 'string'

/**
 * Fields whose JSON type is wrong (a spec from the network: `ports: "80"`, `mode: "global"`), one message each.
 * The value checks below only run on a spec whose shape is right.
 */
function shapeProblems(spec: Record<string, unknown>): string[] {
  const p: string[] = []
  const want = (ok: boolean, what: string, shape: string): void => {
    if (!ok) p.push(`${what} must be ${shape}`)
  }
  want(isString(spec.name), 'name', 'a string')
  want(isString(spec.image), 'image', 'a string')
  const mode = spec.mode
  want(isObject(mode) && ['replicated', 'global', 'replicatedJob', 'globalJob'].some((k) => isObject(mode[k])), 'mode',
    '{replicated: {replicas: N}}, {global: {}}, {replicatedJob: {maxConcurrent: N, totalCompletions: N}} or {globalJob: {}}')
  want(spec.placementPreferences === undefined || isList(spec.placementPreferences, isObject), 'placementPreferences', 'a list of {spread: "node.labels.<key>"}')
  want(isList(spec.env, isString), 'env', 'a list of strings')
  want(isObject(spec.labels) && Object.values(spec.labels).every(isString), 'labels', 'a map of strings')
  want(isList(spec.ports, isObject), 'ports', 'a list of {published, target, protocol, mode}')
  want(isList(spec.mounts, (m) => isObject(m) && isString(m.source) && isString(m.target)), 'mounts', 'a list of {type, source, target}')
  want(isList(spec.constraints, isString), 'constraints', 'a list of strings')
  want(isList(spec.networks, isString), 'networks', 'a list of strings')
  const r = spec.resources
  want(isObject(r) && isObject(r.limits) && isObject(r.reservations), 'resources', '{limits, reservations}')
  for (const k of ['restartPolicy', 'updateConfig', 'rollbackConfig'] as const) want(isObject(spec[k]), k, 'an object')
  for (const k of ['entrypoint', 'command'] as const) want(spec[k] === undefined || isList(spec[k], isString), k, 'a list of strings')
  want(spec.healthcheck === undefined || (isObject(spec.healthcheck) && isList(spec.healthcheck.test, isString)), 'healthcheck', '{test: [...], …}')
  return p
}

/**
 * Everything wrong with a spec, one message each (empty = valid), for the API to refuse before storing:
 * `replicas must be ≥ 0`, `published port 80 used twice`, `image must not be empty`, bad constraints,
 * reservations above limits, out-of-range update/restart settings, and the container fields (validate-container.ts).
 */
export function validateServiceSpec(spec: ServiceSpec): string[] {
  const shape = shapeProblems(spec as unknown as Record<string, unknown>)
  if (shape.length > 0) return shape
  const p: string[] = []
  const nonNegative = (v: number, what: string): void => {
    if (!Number.isFinite(v) || v < 0) p.push(`${what} must be ≥ 0`)
  }
  const whole = (v: number, what: string): void => {
    if (!Number.isInteger(v) || v < 0) p.push(`${what} must be a whole number ≥ 0`)
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(spec.name)) {
    p.push(spec.name === '' ? 'name must not be empty' : `name "${spec.name}" must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit`)
  }
  if (spec.image.trim() === '') p.push('image must not be empty')
  else if (!parseImageRef(spec.image)) p.push(`image "${spec.image.slice(0, 300)}": invalid reference format (want [registry/]name[:tag][@digest], lower-case name)`)
  if ('replicated' in spec.mode) {
    const r = spec.mode.replicated.replicas
    if (!Number.isFinite(r) || r < 0) p.push('replicas must be ≥ 0')
    else if (!Number.isInteger(r)) p.push('replicas must be a whole number')
  }
  const published = new Set<string>()
  for (const port of spec.ports) {
    for (const [what, v] of [['published', port.published], ['target', port.target]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 65535) p.push(`${what} port ${v} must be 1-65535`)
    }
    if (port.protocol !== 'tcp' && port.protocol !== 'udp') p.push(`port ${port.published} protocol "${port.protocol}" must be tcp or udp`)
    if (port.mode !== 'ingress' && port.mode !== 'host') p.push(`port ${port.published} mode "${port.mode}" must be ingress or host`)
    const key = `${port.published}/${port.protocol}`
    if (published.has(key)) p.push(`published port ${port.protocol === 'tcp' ? port.published : key} used twice`)
    published.add(key)
  }
  p.push(...containerProblems(spec))
  p.push(...fileRefProblems(spec))
  p.push(...validateConstraints(spec.constraints))
  const { limits, reservations } = spec.resources
  nonNegative(limits.memoryBytes, 'memory limit')
  nonNegative(limits.nanoCpus, 'CPU limit')
  nonNegative(reservations.memoryBytes, 'memory reservation')
  nonNegative(reservations.nanoCpus, 'CPU reservation')
  if (limits.memoryBytes > 0 && reservations.memoryBytes > limits.memoryBytes) {
    p.push(`memory reservation (${reservations.memoryBytes} bytes) exceeds the memory limit (${limits.memoryBytes} bytes)`)
  }
  if (limits.nanoCpus > 0 && reservations.nanoCpus > limits.nanoCpus) {
    p.push(`CPU reservation (${reservations.nanoCpus / 1e9}) exceeds the CPU limit (${limits.nanoCpus / 1e9})`)
  }
  const rp = spec.restartPolicy
  if (!['none', 'on-failure', 'any'].includes(rp.condition)) p.push(`restart condition "${rp.condition}" must be none, on-failure or any`)
  nonNegative(rp.delayMs, 'restart delay')
  whole(rp.maxAttempts, 'restart max attempts')
  nonNegative(rp.windowMs, 'restart window')
  for (const [what, u] of [['update', spec.updateConfig], ['rollback', spec.rollbackConfig]] as const) {
    whole(u.parallelism, `${what} parallelism`)
    nonNegative(u.delayMs, `${what} delay`)
    nonNegative(u.monitorMs, `${what} monitor`)
    if (!(u.maxFailureRatio >= 0 && u.maxFailureRatio <= 1)) p.push(`${what} max failure ratio must be between 0 and 1`)
    if (!['stop-first', 'start-first'].includes(u.order)) p.push(`${what} order "${u.order}" must be stop-first or start-first`)
    const actions = what === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue']
    if (!actions.includes(u.failureAction)) p.push(`${what} failure action "${u.failureAction}" must be ${actions.join(', ').replace(/, (\w+)$/, ' or $1')}`)
  }
  if (spec.endpointMode !== 'vip' && spec.endpointMode !== 'dnsrr') p.push(`endpoint mode "${spec.endpointMode}" must be vip or dnsrr`)
  nonNegative(spec.stopGracePeriodMs, 'stop grace period')
  p.push(...schedulingProblems(spec))
  if (spec.forceUpdate !== undefined) whole(spec.forceUpdate, 'forceUpdate')
  return p
}

/**
 * What a spec asks of the scheduler beyond constraints: placement preferences (only `spread=node.labels.<key>`,
 * as in Swarm), max replicas per node (not for per-node modes), and the job modes (counts; no update or rollback
 * config, as swarmkit: a job runs again on any update instead of rolling).
 */
export function schedulingProblems(spec: ServiceSpec): string[] {
  const p: string[] = []
  for (const pref of spec.placementPreferences ?? []) {
    const kinds = Object.keys(pref)
    if (kinds.length !== 1 || kinds[0] !== 'spread') {
      p.push(`placement preference ${JSON.stringify(pref)}: unsupported (only spread is supported, e.g. spread=node.labels.zone)`)
      continue
    }
    const on = typeof pref.spread === 'string' ? pref.spread : ''
    if (/^engine\.labels\./.test(on)) {
      p.push(`placement preference spread=${on}: mesh nodes have no engine labels; use node.labels.<key>`)
    } else if (!/^node\.labels\.[^\s=]+$/.test(on)) {
      p.push(`placement preference spread=${on}: want spread=node.labels.<key>, e.g. spread=node.labels.zone`)
    }
  }
  const maxPerNode = spec.maxReplicasPerNode
  if (maxPerNode !== undefined && (!Number.isInteger(maxPerNode) || maxPerNode < 0)) p.push('replicas-max-per-node must be a whole number ≥ 0')
  else if (maxPerNode && isGlobalMode(spec.mode)) p.push('replicas-max-per-node can only be used with replicated or replicated-job mode')
  if ('replicatedJob' in spec.mode) {
    const { totalCompletions, maxConcurrent } = spec.mode.replicatedJob
    const total = Number.isInteger(totalCompletions) && totalCompletions >= 0
    if (!total) p.push('replicas (total completions) of a replicated job must be a whole number ≥ 0')
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 0) p.push('max-concurrent must be a whole number ≥ 0')
    else if (total && maxConcurrent === 0 && totalCompletions > 0) p.push('max-concurrent must be ≥ 1 for a job with replicas to complete')
  }
  if (isJobMode(spec.mode)) {
    const plain = defaultUpdateConfig()
    const isPlain = (u: UpdateConfig): boolean => (Object.keys(plain) as (keyof UpdateConfig)[]).every((k) => u[k] === plain[k])
    if (!isPlain(spec.updateConfig) || !isPlain(spec.rollbackConfig)) {
      p.push('update and rollback configuration is not supported for jobs')
    }
  }
  return p
}

/** Throws ServiceSpecError (`service "web": replicas must be ≥ 0; …`) listing every problem. */
export function assertServiceSpec(spec: ServiceSpec): void {
  const problems = validateServiceSpec(spec)
  if (problems.length > 0) throw new ServiceSpecError(spec.name || '(unnamed)', problems)
}
