/**
 * The container part of the ONE spec validation (pure), called by validateServiceSpec: what a task's container is
 * made with — mounts (bind, volume, tmpfs), hostname (with Swarm's `{{.Task.Slot}}`-style placeholders), user,
 * working directory, entrypoint and healthcheck. One short sentence per problem, naming the field; the caller adds
 * the service (`service "web": workdir "app" must be an absolute path`).
 */
import type { HealthcheckSpec, MountSpec, ServiceSpec } from './types.ts'

/**
 * The placeholders `--hostname` may hold, as docker's service templates (`{{.Node.Hostname}}-{{.Task.Slot}}`).
 * The node expands them for each task when it creates the container (src/runtime/container-spec.ts).
 */
export const HOSTNAME_PLACEHOLDERS = [
  '{{.Service.Name}}', '{{.Service.ID}}', '{{.Task.Slot}}', '{{.Task.ID}}', '{{.Node.Hostname}}', '{{.Node.ID}}',
] as const

const LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
/** `name`, `uid`, `name:group`, `uid:gid` — the forms docker's `--user` takes. */
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/
const HEALTH_KINDS = ['CMD', 'CMD-SHELL', 'NONE']
const PLACEHOLDER = /\{\{\s*([^}]*?)\s*\}\}/g

/** The problem with a hostname (RFC 1123: dot-separated labels of 1-63 letters, digits, '-'), or null. */
export function hostnameProblem(hostname: string): string | null {
  if (hostname === '') return 'hostname must not be empty (send null to clear it)'
  let unknown: string | null = null
  // A placeholder stands for a valid label; the text around placeholders must make a valid hostname with it.
  const sample = hostname.replace(PLACEHOLDER, (whole, inner: string) => {
    const canonical = `{{${inner.replace(/\s/g, '')}}}`
    if (!(HOSTNAME_PLACEHOLDERS as readonly string[]).includes(canonical)) unknown ??= whole
    return 'x'
  })
  if (unknown !== null) return `hostname "${hostname}": unknown placeholder ${unknown} (use ${HOSTNAME_PLACEHOLDERS.join(', ')})`
  if (sample.length > 253 || !sample.split('.').every((l) => LABEL.test(l))) {
    return `hostname "${hostname}" must be letters, digits and '-' in dot-separated labels of at most 63 characters (RFC 1123)`
  }
  return null
}

function healthProblems(h: HealthcheckSpec): string[] {
  const p: string[] = []
  const [kind, ...args] = h.test
  if (kind !== undefined) {
    if (!HEALTH_KINDS.includes(kind)) p.push(`healthcheck test must start with CMD, CMD-SHELL or NONE, e.g. ["CMD-SHELL", "wget -q -O- localhost"]`)
    else if (kind === 'NONE' && args.length > 0) p.push('healthcheck test ["NONE"] takes no arguments')
    else if (kind === 'CMD' && args.length === 0) p.push('healthcheck test ["CMD", …] needs a command')
    else if (kind === 'CMD-SHELL' && (args.length !== 1 || args[0] === '')) p.push('healthcheck test ["CMD-SHELL", "…"] needs exactly one command line')
  }
  for (const [what, v] of [['interval', h.intervalMs], ['timeout', h.timeoutMs], ['start period', h.startPeriodMs]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) p.push(`healthcheck ${what} must be ≥ 0`)
  }
  if (!Number.isInteger(h.retries) || h.retries < 0) p.push('healthcheck retries must be a whole number ≥ 0')
  return p
}

function mountProblems(m: MountSpec): string[] {
  const p: string[] = []
  if (m.type !== 'bind' && m.type !== 'volume' && m.type !== 'tmpfs') p.push(`mount on ${m.target} type "${m.type}" must be bind, volume or tmpfs`)
  if (!m.target.startsWith('/')) p.push(`mount target "${m.target}" must be an absolute path`)
  if (m.type === 'bind' && !m.source.startsWith('/')) p.push(`bind mount source "${m.source}" must be an absolute path`)
  if (m.type === 'volume' && m.source === '') p.push(`volume mount on ${m.target} needs a volume name`)
  if (m.type === 'tmpfs' && m.source !== '') p.push(`tmpfs mount on ${m.target} has no source (got "${m.source}")`)
  if (m.tmpfs !== undefined) {
    if (m.type !== 'tmpfs') p.push(`mount on ${m.target}: tmpfs options only apply to type tmpfs`)
    const { sizeBytes, mode } = m.tmpfs
    if (sizeBytes !== undefined && !(Number.isInteger(sizeBytes) && sizeBytes >= 0)) p.push(`tmpfs mount on ${m.target}: size must be a whole number of bytes ≥ 0`)
    if (mode !== undefined && !(Number.isInteger(mode) && mode >= 0 && mode <= 0o7777)) p.push(`tmpfs mount on ${m.target}: mode must be between 0 and 0o7777`)
  }
  return p
}

/** Every problem of the container fields of a spec whose shape (lists, objects) is already checked. */
export function containerProblems(spec: ServiceSpec): string[] {
  const p: string[] = []
  const o = spec as unknown as Record<string, unknown>
  for (const k of ['hostname', 'user', 'workdir'] as const) if (o[k] !== undefined && typeof o[k] !== 'string') p.push(`${k} must be a string`)
  if (p.length > 0) return p
  for (const m of spec.mounts) p.push(...mountProblems(m))
  const targets = new Set<string>()
  for (const m of spec.mounts) {
    if (targets.has(m.target)) p.push(`mount target ${m.target} used twice`)
    targets.add(m.target)
  }
  if (spec.hostname !== undefined) {
    const h = hostnameProblem(spec.hostname)
    if (h) p.push(h)
  }
  if (spec.user !== undefined && !USER.test(spec.user)) {
    p.push(spec.user === '' ? 'user must not be empty (send null to clear it)' : `user "${spec.user}" must be name|uid[:group|gid], e.g. 1000:1000 or nobody`)
  }
  if (spec.workdir !== undefined && !spec.workdir.startsWith('/')) {
    p.push(spec.workdir === '' ? 'workdir must not be empty (send null to clear it)' : `workdir "${spec.workdir}" must be an absolute path`)
  }
  if (spec.entrypoint !== undefined && spec.entrypoint.length > 0 && spec.entrypoint[0] === '') p.push('entrypoint must not start with an empty word')
  if (spec.healthcheck !== undefined) p.push(...healthProblems(spec.healthcheck))
  return p
}
