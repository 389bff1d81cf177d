import { resolve } from 'node:path'
import { parseCpus, parseDuration, parseMemory, parsePublish } from '../api/spec.ts'
import { parseConstraint } from '../api/index.ts'
import type { PortSpec, UpdateConfig } from '../api/types.ts'
import { MeshError } from '../base/errors.ts'
import { StackFileError, formatPath, type KeyPath } from './errors.ts'
import type { Env } from './interpolate.ts'
import type { ComposeModel, Declared, HealthPart, NetworkUse, Ref, ServicePart, Unsupported } from './model.ts'
import { tmpfsPaths, volume } from './mounts.ts'
import { networkOptions } from './networks.ts'
import { splitWords } from '../api/words.ts'
import { declaredFiles, fileUses } from './secrets.ts'
import { labelMap } from './labels.ts'

/**
 * One validated compose file → ComposeModel (pure but for `readFile`, injected, for env_file). Every value is
 * parsed here with the manager's own parsers (parsePublish, parseMemory, parseCpus, parseDuration,
 * parseConstraint), so a bad value is reported with this file's name and its key path.
 */

export interface NormalizeContext {
  file: string
  /** Relative bind sources and env_file paths are resolved from here: the first compose file's directory, as docker does. */
  workingDir: string
  env: Env
  readFile: (path: string) => string
}

/** Service keys mesh converts; any other key the schema allows is reported as unsupported (x-* are extensions). */
const SERVICE_KEYS = new Set([
  'image', 'command', 'entrypoint', 'environment', 'env_file', 'ports', 'volumes', 'tmpfs', 'networks', 'healthcheck', 'deploy',
  'stop_grace_period', 'hostname', 'user', 'working_dir', 'secrets', 'configs',
])
const DEPLOY_KEYS = new Set(['mode', 'replicas', 'resources', 'restart_policy', 'placement', 'update_config', 'rollback_config', 'labels', 'endpoint_mode'])

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

export function normalizeFile(doc: Obj, ctx: NormalizeContext): ComposeModel {
  const model: ComposeModel = { files: [ctx.file], services: new Map(), networks: new Map(), volumes: new Map(), unsupported: [] }
  const unsupported = (path: KeyPath, note?: string) => model.unsupported.push({ file: ctx.file, path: `${formatPath(path)}${note ? ` (${note})` : ''}` })
  model.secrets = declaredFiles('secret', doc, ctx, unsupported)
  model.configs = declaredFiles('config', doc, ctx, unsupported)
  for (const [name, raw] of Object.entries(isObj(doc.networks) ? doc.networks : {})) {
    const n = isObj(raw) ? raw : {}
    const driver = n.driver
    if (driver !== undefined && driver !== 'overlay') {
      throw new StackFileError(ctx.file, formatPath(['networks', name, 'driver']), `driver "${String(driver)}" is not supported: every mesh network is the cluster's WireGuard overlay (remove driver, or write overlay)`)
    }
    const d = declared(n, ['networks', name], ctx)
    if (!d.external) d.network = networkOptions(n, ['networks', name], ctx.file, n.labels !== undefined ? labelMap(n.labels) : undefined)
    model.networks.set(name, d)
  }
  for (const [name, raw] of Object.entries(isObj(doc.volumes) ? doc.volumes : {})) {
    const v = isObj(raw) ? raw : {}
    if (v.driver !== undefined && v.driver !== 'local') unsupported(['volumes', name, 'driver'])
    for (const k of ['driver_opts', 'labels']) if (k in v) unsupported(['volumes', name, k])
    model.volumes.set(name, declared(v, ['volumes', name], ctx))
  }
  for (const [name, raw] of Object.entries(isObj(doc.services) ? doc.services : {})) {
    model.services.set(name, normalizeService(name, isObj(raw) ? raw : {}, ctx, unsupported))
  }
  return model
}

function declared(d: Obj, path: KeyPath, ctx: NormalizeContext): Declared {
  const at = { file: ctx.file, path: formatPath(path) }
  const ext = d.external
  if (ext === true || isObj(ext)) {
    const name = isObj(ext) && typeof ext.name === 'string' ? ext.name : typeof d.name === 'string' ? d.name : String(path[path.length - 1])
    return { fixedName: name, at, external: true }
  }
  return typeof d.name === 'string' ? { fixedName: d.name, at } : { at }
}

/** Runs a manager parser; its error (which names the value) becomes a StackFileError at `path`. */
function parsed<T>(ctx: NormalizeContext, path: KeyPath, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof MeshError && !(err instanceof StackFileError)) throw new StackFileError(ctx.file, formatPath(path), err.message, { cause: err })
    throw err
  }
}

function oneOf<T extends string>(ctx: NormalizeContext, path: KeyPath, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) throw new StackFileError(ctx.file, formatPath(path), `"${String(v)}" must be ${allowed.slice(0, -1).join(', ')} or ${allowed[allowed.length - 1]}`)
  return v as T
}

function normalizeService(name: string, s: Obj, ctx: NormalizeContext, unsupported: Unsupported): ServicePart {
  const base: KeyPath = ['services', name]
  const at = (...p: KeyPath): Ref => ({ file: ctx.file, path: formatPath([...base, ...p]) })
  const fail = (p: KeyPath, msg: string): never => {
    throw new StackFileError(ctx.file, formatPath([...base, ...p]), msg)
  }
  for (const k of Object.keys(s)) if (!SERVICE_KEYS.has(k) && !k.startsWith('x-')) unsupported([...base, k])
  const part: ServicePart = {
    name, at: at(), env: {}, limits: {}, reservations: {}, restartPolicy: {}, updateConfig: {}, rollbackConfig: {}, labels: {},
  }
  if (typeof s.image === 'string') part.image = s.image
  for (const k of ['command', 'entrypoint'] as const) {
    const v = s[k]
    if (v === undefined || v === null) continue
    if (typeof v !== 'string') {
      part[k] = v as string[]
      continue
    }
    try {
      part[k] = splitWords(v)
    } catch (err) {
      fail([k], (err as Error).message)
    }
  }
  part.env = environment(s, base, ctx)
  if (Array.isArray(s.ports)) part.ports = s.ports.flatMap((p, i) => ports(p, [...base, 'ports', i], ctx, unsupported))
  if (Array.isArray(s.volumes)) part.volumes = s.volumes.map((v, i) => volume(v, [...base, 'volumes', i], ctx, unsupported))
  if (s.tmpfs !== undefined && s.tmpfs !== null) part.tmpfs = tmpfsPaths(s.tmpfs, [...base, 'tmpfs'], ctx, unsupported)
  if (typeof s.hostname === 'string') part.hostname = s.hostname
  if (typeof s.user === 'string') part.user = s.user
  if (typeof s.working_dir === 'string') part.workdir = s.working_dir
  if (s.networks !== undefined && s.networks !== null) part.networks = networks(s.networks, base, ctx, unsupported)
  if (isObj(s.healthcheck)) part.healthcheck = healthcheck(s.healthcheck, [...base, 'healthcheck'], ctx, unsupported)
  if (typeof s.stop_grace_period === 'string') part.stopGracePeriodMs = parsed(ctx, [...base, 'stop_grace_period'], () => parseDuration(s.stop_grace_period as string, 'stop_grace_period'))
  if (isObj(s.deploy)) deploy(part, s.deploy, [...base, 'deploy'], ctx, unsupported)
  if (s.secrets !== undefined && s.secrets !== null) part.secrets = fileUses('secret', s.secrets, base, ctx)
  if (s.configs !== undefined && s.configs !== null) part.configs = fileUses('config', s.configs, base, ctx)
  return part
}

function environment(s: Obj, base: KeyPath, ctx: NormalizeContext): Record<string, string> {
  const env: Record<string, string> = {}
  const fromShell = (k: string) => {
    const v = ctx.env[k]
    if (v !== undefined) env[k] = v
  }
  const files = typeof s.env_file === 'string' ? [s.env_file] : Array.isArray(s.env_file) ? (s.env_file as string[]) : []
  files.forEach((f, i) => {
    const path = [...base, 'env_file', ...(typeof s.env_file === 'string' ? [] : [i])]
    const full = resolve(ctx.workingDir, f)
    let text: string
    try {
      text = ctx.readFile(full)
    } catch (err) {
      throw new StackFileError(ctx.file, formatPath(path), `cannot read env file ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    text.split(/\r?\n/).forEach((raw, n) => {
      const line = raw.replace(/^\s+/, '')
      if (line === '' || line.startsWith('#')) return
      const eq = line.indexOf('=')
      const key = eq < 0 ? line.trimEnd() : line.slice(0, eq)
      if (key === '' || /\s/.test(key)) throw new StackFileError(ctx.file, formatPath(path), `${f} line ${n + 1}: "${key}" is not a variable name`)
      if (eq < 0) fromShell(key)
      else env[key] = line.slice(eq + 1)
    })
  })
  const e = s.environment
  if (Array.isArray(e)) {
    for (const item of e as string[]) {
      const eq = item.indexOf('=')
      if (eq < 0) fromShell(item)
      else env[item.slice(0, eq)] = item.slice(eq + 1)
    }
  } else if (isObj(e)) {
    for (const [k, v] of Object.entries(e)) {
      if (v === null || v === undefined) fromShell(k)
      else env[k] = String(v)
    }
  }
  return env
}

/** Short syntax (`"4000:80"`, `"53:53/udp"`, ranges `"8000-8001:80-81"`) or long syntax → PortSpec(s). */
function ports(p: unknown, path: KeyPath, ctx: NormalizeContext, unsupported: Unsupported): PortSpec[] {
  const fail = (msg: string): never => {
    throw new StackFileError(ctx.file, formatPath(path), msg)
  }
  if (isObj(p)) {
    if (p.target === undefined) fail('target is required (the port inside the container)')
    if (p.published === undefined) fail(`published is required: mesh publishes a port on every node (add published: ${String(p.target ?? 'PORT')})`)
    const kv = [`published=${String(p.published)}`, `target=${String(p.target)}`]
    if (p.protocol !== undefined) kv.push(`protocol=${String(p.protocol)}`)
    if (p.mode !== undefined) kv.push(`mode=${String(p.mode)}`)
    return [parsed(ctx, path, () => parsePublish(kv.join(',')))]
  }
  const text = String(p)
  const slash = text.lastIndexOf('/')
  const proto = slash < 0 ? '' : text.slice(slash)
  const parts = (slash < 0 ? text : text.slice(0, slash)).split(':')
  const target = parts.pop() as string
  const published = parts.pop()
  if (parts.length > 0) unsupported(path, `host IP ${parts.join(':')}`)
  if (published === undefined || published === '') {
    fail(`"${text}" has no published port: mesh publishes a port on every node, so write "PUBLISHED:${target}${proto}", e.g. "${target.split('-')[0]}:${target}${proto}"`)
  }
  const span = (r: string): [number, number] => {
    const [a, b] = r.split('-')
    return [Number(a), Number(b ?? a)]
  }
  const [p0, p1] = span(published as string)
  const [t0, t1] = span(target)
  if (p1 - p0 !== t1 - t0) fail(`"${text}": the published range and the target range differ in length`)
  if (p1 < p0) fail(`"${text}": a range must go up, e.g. 8000-8010`)
  if (p1 - p0 > 1000) fail(`"${text}": a range of more than 1000 ports`)
  const out: PortSpec[] = []
  for (let i = 0; i <= p1 - p0; i++) out.push(parsed(ctx, path, () => parsePublish(`${p0 + i}:${t0 + i}${proto}`)))
  return out
}

function networks(n: unknown, base: KeyPath, ctx: NormalizeContext, unsupported: Unsupported): NetworkUse[] {
  if (Array.isArray(n)) return (n as string[]).map((name, i) => ({ name, at: { file: ctx.file, path: formatPath([...base, 'networks', i]) } }))
  return Object.entries(n as Obj).map(([name, v]) => {
    const use: NetworkUse = { name, at: { file: ctx.file, path: formatPath([...base, 'networks', name]) } }
    if (isObj(v)) {
      for (const k of Object.keys(v)) if (k !== 'aliases') unsupported([...base, 'networks', name, k])
      if (Array.isArray(v.aliases)) use.aliases = v.aliases.map(String)
    }
    return use
  })
}

function healthcheck(h: Obj, path: KeyPath, ctx: NormalizeContext, unsupported: Unsupported): HealthPart {
  const out: HealthPart = {}
  const dur = (k: string) => parsed(ctx, [...path, k], () => parseDuration(h[k] as string, k))
  if (typeof h.test === 'string') out.test = ['CMD-SHELL', h.test]
  else if (Array.isArray(h.test)) out.test = h.test as string[]
  if (typeof h.interval === 'string') out.intervalMs = dur('interval')
  if (typeof h.timeout === 'string') out.timeoutMs = dur('timeout')
  if (typeof h.start_period === 'string') out.startPeriodMs = dur('start_period')
  if (h.start_interval !== undefined) unsupported([...path, 'start_interval'])
  if (typeof h.retries === 'number') {
    if (!Number.isInteger(h.retries) || h.retries < 0) throw new StackFileError(ctx.file, formatPath([...path, 'retries']), `must be a whole number ≥ 0, not ${h.retries}`)
    out.retries = h.retries
  }
  if (h.disable === true) {
    if (out.test !== undefined && !(out.test.length === 1 && out.test[0] === 'NONE')) {
      throw new StackFileError(ctx.file, formatPath([...path, 'disable']), 'disable: true and test are both set; keep one')
    }
    out.disable = true
  }
  return out
}

function deploy(part: ServicePart, d: Obj, path: KeyPath, ctx: NormalizeContext, unsupported: Unsupported): void {
  const p = (...k: KeyPath): KeyPath => [...path, ...k]
  for (const k of Object.keys(d)) if (!DEPLOY_KEYS.has(k)) unsupported(p(k))
  if (d.mode !== undefined) part.mode = oneOf(ctx, p('mode'), d.mode, ['replicated', 'global', 'replicated-job', 'global-job'] as const)
  if (typeof d.replicas === 'number') {
    if (d.replicas < 0) throw new StackFileError(ctx.file, formatPath(p('replicas')), `must be ≥ 0, not ${d.replicas}`)
    part.replicas = d.replicas
    part.replicasAt = { file: ctx.file, path: formatPath(p('replicas')) }
  }
  if (d.endpoint_mode !== undefined) part.endpointMode = oneOf(ctx, p('endpoint_mode'), d.endpoint_mode, ['vip', 'dnsrr'] as const)
  if (d.labels !== undefined) part.labels = labelMap(d.labels)
  const res = isObj(d.resources) ? d.resources : {}
  for (const kind of ['limits', 'reservations'] as const) {
    const r = isObj(res[kind]) ? res[kind] : {}
    if (typeof r.cpus === 'string') part[kind].nanoCpus = parsed(ctx, p('resources', kind, 'cpus'), () => parseCpus(r.cpus as string))
    if (typeof r.memory === 'string') part[kind].memoryBytes = parsed(ctx, p('resources', kind, 'memory'), () => parseMemory(r.memory as string))
    for (const k of ['pids', 'generic_resources']) if (k in r) unsupported(p('resources', kind, k))
  }
  if (isObj(d.restart_policy)) {
    const r = d.restart_policy
    if (r.condition !== undefined) part.restartPolicy.condition = oneOf(ctx, p('restart_policy', 'condition'), r.condition, ['none', 'on-failure', 'any'] as const)
    if (typeof r.delay === 'string') part.restartPolicy.delayMs = parsed(ctx, p('restart_policy', 'delay'), () => parseDuration(r.delay as string, 'delay'))
    if (typeof r.window === 'string') part.restartPolicy.windowMs = parsed(ctx, p('restart_policy', 'window'), () => parseDuration(r.window as string, 'window'))
    if (typeof r.max_attempts === 'number') {
      if (r.max_attempts < 0) throw new StackFileError(ctx.file, formatPath(p('restart_policy', 'max_attempts')), `must be ≥ 0, not ${r.max_attempts}`)
      part.restartPolicy.maxAttempts = r.max_attempts
    }
  }
  if (isObj(d.placement)) {
    const pl = d.placement
    if (Array.isArray(pl.constraints)) {
      part.constraints = (pl.constraints as string[]).map((c, i) => parsed(ctx, p('placement', 'constraints', i), () => parseConstraint(c)).text)
    }
    // The schema allows only {spread: string} items and an integer; validateServiceSpec judges the values.
    if (Array.isArray(pl.preferences)) part.placementPreferences = (pl.preferences as Obj[]).map((x) => ({ ...x }) as { spread: string })
    if (typeof pl.max_replicas_per_node === 'number') part.maxReplicasPerNode = pl.max_replicas_per_node
  }
  for (const [key, field, actions] of [
    ['update_config', 'updateConfig', ['pause', 'continue', 'rollback']],
    ['rollback_config', 'rollbackConfig', ['pause', 'continue']],
  ] as const) {
    if (!isObj(d[key])) continue
    part[field] = updateConfig(d[key] as Obj, p(key), ctx, actions)
  }
}

function updateConfig(u: Obj, path: KeyPath, ctx: NormalizeContext, actions: readonly ('pause' | 'continue' | 'rollback')[]): Partial<UpdateConfig> {
  const out: Partial<UpdateConfig> = {}
  const at = (k: string) => [...path, k]
  if (typeof u.parallelism === 'number') {
    if (u.parallelism < 0) throw new StackFileError(ctx.file, formatPath(at('parallelism')), `must be ≥ 0, not ${u.parallelism}`)
    out.parallelism = u.parallelism
  }
  if (typeof u.delay === 'string') out.delayMs = parsed(ctx, at('delay'), () => parseDuration(u.delay as string, 'delay'))
  if (typeof u.monitor === 'string') out.monitorMs = parsed(ctx, at('monitor'), () => parseDuration(u.monitor as string, 'monitor'))
  if (u.failure_action !== undefined) out.failureAction = oneOf(ctx, at('failure_action'), u.failure_action, actions)
  if (u.order !== undefined) out.order = u.order as UpdateConfig['order']
  if (typeof u.max_failure_ratio === 'number') {
    if (!(u.max_failure_ratio >= 0 && u.max_failure_ratio <= 1)) throw new StackFileError(ctx.file, formatPath(at('max_failure_ratio')), `must be between 0 and 1, not ${u.max_failure_ratio}`)
    out.maxFailureRatio = u.max_failure_ratio
  }
  return out
}
