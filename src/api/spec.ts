import { ConfigError } from '../base/errors.ts'
import { ServiceRequestError } from './errors.ts'
import { withFileRefDefaults } from './file-refs.ts'
import type { MountSpec, PortSpec, Resources, RestartPolicy, ServiceSpec, UpdateConfig } from './types.ts'

/**
 * Parsing what users type (pure): `-p 8080:80/udp`, `--publish published=8080,target=80`, `--mount type=bind,…`,
 * `--limit-memory 50M`, `--limit-cpu 0.5`, `--restart-delay 5s`, and the defaults of a service spec (Docker's).
 * Shared by the CLI and the compose loader. Errors name the input: `port spec "80:": …`.
 */

export function defaultUpdateConfig(): UpdateConfig {
  return { parallelism: 1, delayMs: 0, failureAction: 'pause', order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0 }
}

export function defaultRestartPolicy(): RestartPolicy {
  return { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 }
}

export function defaultServiceSpec(name: string, image: string): ServiceSpec {
  return {
    name, image, env: [], labels: {}, mode: { replicated: { replicas: 1 } }, ports: [], mounts: [], constraints: [],
    resources: { limits: { nanoCpus: 0, memoryBytes: 0 }, reservations: { nanoCpus: 0, memoryBytes: 0 } },
    restartPolicy: defaultRestartPolicy(), updateConfig: defaultUpdateConfig(), rollbackConfig: defaultUpdateConfig(),
    endpointMode: 'vip', networks: [], stopGracePeriodMs: 10_000,
  }
}

/**
 * What a client sends to create or update a service: any part of a spec, the nested settings (resources, restart
 * policy, update and rollback config) partial too. `null` on an optional field clears it. The manager fills the rest,
 * once, with serviceSpecFromRequest.
 */
export type ServiceSpecRequest = Partial<Omit<ServiceSpec, 'resources' | 'restartPolicy' | 'updateConfig' | 'rollbackConfig'>> & {
  resources?: { limits?: Partial<Resources>; reservations?: Partial<Resources> }
  restartPolicy?: Partial<RestartPolicy>
  updateConfig?: Partial<UpdateConfig>
  rollbackConfig?: Partial<UpdateConfig>
}

/** Spec fields a request may set to null to remove them (a stack redeploy whose file no longer sets `command`). */
export const OPTIONAL_SPEC_FIELDS = [
  'healthcheck', 'entrypoint', 'command', 'registryAuth', 'hostname', 'user', 'workdir', 'placementPreferences',
  'maxReplicasPerNode', 'forceUpdate', 'secrets', 'configs',
] as const
const SETTINGS = ['restartPolicy', 'updateConfig', 'rollbackConfig'] as const

const plain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The problem with a `registryAuth` value from a request, or null when it is fine. */
export function registryAuthProblem(v: unknown): string | null {
  if (v === undefined) return null
  if (!plain(v)) return 'registryAuth must be an object {username, password, serveraddress}'
  for (const k of Object.keys(v)) {
    if (!['username', 'password', 'serveraddress', 'email'].includes(k)) return `registryAuth: unknown field "${k}"`
    if (typeof v[k] !== 'string') return `registryAuth.${k} must be a string`
  }
  if (typeof v.serveraddress !== 'string' || v.serveraddress === '') return 'registryAuth.serveraddress must name the registry'
  return null
}

/**
 * A request body (create: over `defaultServiceSpec(name, image)`; update: over the current spec) → the spec to
 * validate and store. Unknown top-level fields are refused; nested settings merge one level deep (a request may
 * send `{updateConfig: {order: 'start-first'}}`); null clears an optional field. Throws ServiceRequestError. The
 * result is not validated here: the manager runs validateServiceSpec on every create and update.
 */
export function serviceSpecFromRequest(body: unknown, base: ServiceSpec): ServiceSpec {
  if (!plain(body)) throw new ServiceRequestError('request body must be a JSON object')
  const allowed = new Set<string>([...Object.keys(base), ...OPTIONAL_SPEC_FIELDS])
  for (const k of Object.keys(body)) if (!allowed.has(k)) throw new ServiceRequestError(`unknown service field "${k}"`)
  const authProblem = registryAuthProblem(body.registryAuth)
  if (authProblem) throw new ServiceRequestError(authProblem)
  const spec = { ...base, ...body } as ServiceSpec & Record<string, unknown>
  for (const k of SETTINGS) if (plain(body[k])) spec[k] = { ...base[k], ...body[k] } as never
  const r = body.resources
  if (plain(r)) {
    for (const k of ['limits', 'reservations'] as const) {
      if (r[k] !== undefined && !plain(r[k])) throw new ServiceRequestError(`resources.${k} must be an object {nanoCpus, memoryBytes}`)
    }
    spec.resources = {
      limits: { ...base.resources.limits, ...(r.limits as Partial<Resources> | undefined) },
      reservations: { ...base.resources.reservations, ...(r.reservations as Partial<Resources> | undefined) },
    }
  }
  for (const k of OPTIONAL_SPEC_FIELDS) if (spec[k] === null) delete spec[k]
  // A client may send a secret or config as `{name}` only: docker's target, uid, gid and mode are filled in.
  for (const k of ['secrets', 'configs'] as const) if (spec[k] !== undefined) spec[k] = withFileRefDefaults(spec[k]) as never
  return spec
}

function portNumber(text: string, what: string, spec: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(`port spec "${spec}": ${what} port "${text}" is not a number`)
  const n = Number(text)
  if (n < 1 || n > 65535) throw new ConfigError(`port spec "${spec}": ${what} port ${n} must be 1-65535`)
  return n
}

function protocolOf(text: string | undefined, spec: string): 'tcp' | 'udp' {
  const p = (text ?? 'tcp').toLowerCase()
  if (p !== 'tcp' && p !== 'udp') throw new ConfigError(`port spec "${spec}": protocol "${text}" must be tcp or udp`)
  return p
}

/**
 * `-p` short syntax `PUBLISHED:TARGET[/PROTO]` (a lone `TARGET` publishes nothing in Swarm, so it is an error here)
 * or long syntax `published=8080,target=80,protocol=udp,mode=ingress|host,proxy-protocol=v1|v2`.
 */
export function parsePublish(spec: string): PortSpec {
  const s = spec.trim()
  if (s.includes('=')) {
    const kv = parseKeyValues(s, 'port spec')
    for (const k of Object.keys(kv)) {
      if (!['published', 'target', 'protocol', 'mode', 'proxy-protocol'].includes(k)) {
        throw new ConfigError(`port spec "${spec}": unknown key "${k}" (use published, target, protocol, mode, proxy-protocol)`)
      }
    }
    if (kv.target === undefined) throw new ConfigError(`port spec "${spec}": target is required`)
    if (kv.published === undefined) throw new ConfigError(`port spec "${spec}": published is required`)
    const mode = kv.mode ?? 'ingress'
    if (mode !== 'ingress' && mode !== 'host') throw new ConfigError(`port spec "${spec}": mode "${mode}" must be ingress or host`)
    const pp = kv['proxy-protocol']
    if (pp !== undefined && pp !== 'v1' && pp !== 'v2') throw new ConfigError(`port spec "${spec}": proxy-protocol "${pp}" must be v1 or v2`)
    return {
      published: portNumber(kv.published, 'published', spec), target: portNumber(kv.target, 'target', spec),
      protocol: protocolOf(kv.protocol, spec), mode, ...(pp ? { proxyProtocol: pp } : {}),
    }
  }
  const m = /^([^:/]*):([^:/]*)(?:\/(\w+))?$/.exec(s)
  if (!m) throw new ConfigError(`port spec "${spec}": want PUBLISHED:TARGET[/tcp|udp], e.g. 8080:80`)
  if (m[1] === '') throw new ConfigError(`port spec "${spec}": the published port is missing`)
  if (m[2] === '') throw new ConfigError(`port spec "${spec}": the target port is missing`)
  return {
    published: portNumber(m[1] as string, 'published', spec), target: portNumber(m[2] as string, 'target', spec),
    protocol: protocolOf(m[3], spec), mode: 'ingress',
  }
}

export function parseKeyValues(s: string, what: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of s.split(',')) {
    const i = part.indexOf('=')
    const k = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase()
    const v = i < 0 ? 'true' : part.slice(i + 1).trim()
    if (k === '') throw new ConfigError(`${what} "${s}": empty key`)
    out[k] = v
  }
  return out
}

/**
 * `--mount type=bind|volume,source=…,target=…[,readonly]` (src/dst/destination/ro accepted as Docker does), or
 * `type=tmpfs,target=/x[,tmpfs-size=64M][,tmpfs-mode=1777]` (an in-memory filesystem: no source; the mode is octal).
 */
export function parseMount(spec: string): MountSpec {
  const kv = parseKeyValues(spec, 'mount')
  const type = kv.type ?? 'volume'
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw new ConfigError(`mount "${spec}": type "${type}" must be bind, volume or tmpfs`)
  const source = kv.source ?? kv.src ?? ''
  const target = kv.target ?? kv.destination ?? kv.dst ?? ''
  if (target === '' || !target.startsWith('/')) throw new ConfigError(`mount "${spec}": target must be an absolute path in the container`)
  if (type === 'bind' && !source.startsWith('/')) throw new ConfigError(`mount "${spec}": a bind mount needs an absolute source path on the node`)
  if (type === 'volume' && source !== '' && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source)) {
    throw new ConfigError(`mount "${spec}": volume name "${source}" may only contain letters, digits, '_', '.', '-'`)
  }
  const tmpfsKeys = Object.keys(kv).filter((k) => k.startsWith('tmpfs-'))
  if (type !== 'tmpfs' && tmpfsKeys.length > 0) throw new ConfigError(`mount "${spec}": ${tmpfsKeys[0]} only applies to type=tmpfs`)
  const ro = kv.readonly ?? kv.ro
  const readOnly = ro === 'true' || ro === '1'
  if (type !== 'tmpfs') return { type, source, target, readOnly }
  if (source !== '') throw new ConfigError(`mount "${spec}": a tmpfs mount has no source`)
  for (const k of tmpfsKeys) {
    if (k !== 'tmpfs-size' && k !== 'tmpfs-mode') throw new ConfigError(`mount "${spec}": unknown key "${k}" (use tmpfs-size, tmpfs-mode)`)
  }
  const tmpfs: NonNullable<MountSpec['tmpfs']> = {}
  if (kv['tmpfs-size'] !== undefined) tmpfs.sizeBytes = parseMemory(kv['tmpfs-size'], `mount "${spec}": tmpfs-size`)
  if (kv['tmpfs-mode'] !== undefined) tmpfs.mode = parseFileMode(kv['tmpfs-mode'], `mount "${spec}": tmpfs-mode`)
  return { type, source: '', target, readOnly, ...(Object.keys(tmpfs).length > 0 ? { tmpfs } : {}) }
}

/** `1777`, `0755`, `0o700` → mode bits (octal, as docker's tmpfs-mode), at most 0o7777. */
export function parseFileMode(text: string, what = 'mode'): number {
  const m = /^(?:0o?)?([0-7]{1,4})$/i.exec(text.trim())
  if (!m) throw new ConfigError(`${what} "${text}": want an octal mode like 1777 or 0755`)
  return parseInt(m[1] as string, 8)
}

const MEMORY_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 }

/** `50M`, `1.5g`, `512k`, `1048576` → bytes (Docker's units: powers of 1024). */
export function parseMemory(text: string, what = 'memory'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim())
  const unit = m ? MEMORY_UNITS[(m[2] as string).toLowerCase()] : undefined
  if (!m || unit === undefined) throw new ConfigError(`${what} "${text}": want a size like 50M, 1.5G or 512k`)
  return Math.round(Number(m[1]) * unit)
}

/** `0.5` CPUs → nano-CPUs. */
export function parseCpus(text: string, what = 'cpus'): number {
  if (!/^\d+(\.\d+)?$/.test(text.trim())) throw new ConfigError(`${what} "${text}": want a number of CPUs like 0.5 or 2`)
  return Math.round(Number(text) * 1e9)
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go-style durations `5s`, `1m30s`, `200ms`, `0` → milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const s = text.trim()
  if (s === '0') return 0
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
  let total = 0
  let matched = 0
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (DURATION_UNITS[m[2] as string] as number)
    matched = re.lastIndex
  }
  if (matched !== s.length || s === '') throw new ConfigError(`${what} "${text}": want a duration like 5s, 1m30s or 200ms`)
  return Math.round(total)
}

/** `KEY=VALUE` for --env / --label; a bare KEY for env means "empty". */
export function parseKeyValue(text: string, what: string): [string, string] {
  const i = text.indexOf('=')
  const k = i < 0 ? text : text.slice(0, i)
  if (k.trim() === '') throw new ConfigError(`${what} "${text}": want KEY=VALUE`)
  return [k, i < 0 ? '' : text.slice(i + 1)]
}
