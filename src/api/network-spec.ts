/**
 * What users say about networks (pure): `--network NAME[,alias=A]` on a service, the attachments a spec holds, the
 * body of `network create`, and the reading of specs stored before attachments existed. Shared by the CLI, the stack
 * loader and the manager, so each input is refused with the same words on every path.
 */
import { ConfigError } from '../base/errors.ts'
import { DEFAULT_NETWORK, type NetworkAttachmentSpec, type NetworkSpec } from './network.ts'
import type { ServiceSpec } from './types.ts'

/** docker's network names: a letter or digit, then letters, digits, `_`, `.`, `-`. */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/
/** A DNS label-ish alias (what DNS can answer): letters, digits, `-`, `_`, `.`; at most 63 characters. */
const ALIAS = /^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$/

/** Names a user network may not take: the default network and the engine's own networks on every node. */
export const RESERVED_NETWORK_NAMES: readonly string[] = [DEFAULT_NETWORK, 'bridge', 'host', 'none', 'ingress', 'docker_gwbridge']

/** Why `name` cannot name a network (null: it can). */
export function networkNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return 'network name must not be empty'
  if (!NETWORK_NAME.test(name)) return `network name "${name.slice(0, 80)}" must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit`
  return null
}

/**
 * `--network NAME` or `--network name=NAME,alias=A,alias=B` (docker's long form; `target=` is taken too):
 * the attachment it asks for. Throws ConfigError naming the flag value.
 */
export function parseNetworkFlag(text: string): NetworkAttachmentSpec {
  const s = text.trim()
  if (!s.includes('=')) {
    const first = s.split(',')[0] as string
    return { target: first, aliases: [] }
  }
  const out: NetworkAttachmentSpec = { target: '', aliases: [] }
  for (const part of s.split(',')) {
    const eq = part.indexOf('=')
    const k = eq < 0 ? '' : part.slice(0, eq).trim()
    const v = eq < 0 ? part.trim() : part.slice(eq + 1).trim()
    if (k === '' && out.target === '') out.target = v
    else if (k === 'name' || k === 'target') out.target = v
    else if (k === 'alias') out.aliases.push(v)
    else throw new ConfigError(`--network "${text}": unknown key "${k || part}" (use name=NAME,alias=ALIAS)`)
  }
  if (out.target === '') throw new ConfigError(`--network "${text}": name the network (NAME or name=NAME)`)
  return out
}

/**
 * Everything wrong with a spec's network attachments, one sentence each: names, aliases, a network twice, and the
 * default network `mesh` (only alone and without aliases: it is where a service without networks already is).
 */
export function attachmentProblems(networks: readonly NetworkAttachmentSpec[]): string[] {
  const p: string[] = []
  const seen = new Set<string>()
  for (const n of networks) {
    const why = networkNameProblem(n.target)
    if (why) {
      p.push(why)
      continue
    }
    if (seen.has(n.target)) p.push(`network "${n.target}" is given twice`)
    seen.add(n.target)
    for (const a of n.aliases) {
      if (typeof a !== 'string' || !ALIAS.test(a)) p.push(`network "${n.target}": alias ${JSON.stringify(a)} must be 1-63 letters, digits, '-', '_' or '.'`)
    }
    if (n.target === DEFAULT_NETWORK) {
      if (networks.length > 1) p.push(`network "${DEFAULT_NETWORK}" (the default network) cannot be combined with other networks`)
      if (n.aliases.length > 0) p.push(`network "${DEFAULT_NETWORK}" (the default network) takes no aliases; create a network for them`)
    }
  }
  return p
}

/** Is the value a list of attachments by shape ({target: string, aliases: string[]})? */
export function isAttachmentList(v: unknown): v is NetworkAttachmentSpec[] {
  return Array.isArray(v) && v.every((n) => typeof n === 'object' && n !== null && !Array.isArray(n) &&
    typeof (n as NetworkAttachmentSpec).target === 'string' && Array.isArray((n as NetworkAttachmentSpec).aliases) &&
    (n as NetworkAttachmentSpec).aliases.every((a) => typeof a === 'string'))
}

/** The user networks a spec is on, in its order (the default network `mesh` is not one). */
export function userNetworks(spec: Pick<ServiceSpec, 'networks'>): NetworkAttachmentSpec[] {
  return isAttachmentList(spec.networks) ? spec.networks.filter((n) => n.target !== DEFAULT_NETWORK) : []
}

/**
 * A spec as stored before attachments existed: `networks` was a list of names that all meant the one overlay (the
 * default network), so those names read as no attachment at all. Anything already in the new shape is kept.
 */
export function normalizeSpecNetworks<T extends { networks?: unknown }>(spec: T): T {
  if (!spec || !Array.isArray(spec.networks) || spec.networks.every((n) => typeof n === 'object' && n !== null)) return spec
  return { ...spec, networks: spec.networks.filter((n) => typeof n === 'object' && n !== null) }
}

/** A task's address on a network, as GET /v1/networks/:id lists them (`tasks`) for `network inspect`. */
export interface NetworkTaskAddress {
  taskId: string
  serviceName: string
  slot: number
  nodeId: string
  ip: string
}

/** What a client sends to create a network (`mesh network create`): any part of a spec but the name. */
export type NetworkCreateRequest = Partial<NetworkSpec> & { name: string }

/** The spec a create request asks for, with docker's defaults (overlay, encrypted, not attachable or internal). */
export function networkSpecFromRequest(body: unknown): { spec: NetworkSpec } | { problem: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { problem: 'request body must be a JSON object' }
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b)) {
    if (!['name', 'driver', 'subnet', 'attachable', 'internal', 'encrypted', 'labels'].includes(k)) return { problem: `unknown network field "${k}"` }
  }
  const name = networkNameProblem(b.name)
  if (name) return { problem: name }
  const driver = b.driver ?? 'overlay'
  if (driver !== 'overlay') return { problem: `network "${String(b.name)}": driver "${String(driver)}" is not supported (mesh networks are overlay networks)` }
  for (const k of ['attachable', 'internal', 'encrypted'] as const) {
    if (b[k] !== undefined && typeof b[k] !== 'boolean') return { problem: `${k} must be true or false` }
  }
  if (b.subnet !== undefined && typeof b.subnet !== 'string') return { problem: 'subnet must be a CIDR like 10.90.0.0/24' }
  const labels = b.labels ?? {}
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels) || !Object.values(labels).every((v) => typeof v === 'string')) {
    return { problem: 'labels must be a map of strings' }
  }
  const spec: NetworkSpec = {
    name: b.name as string, driver: 'overlay', attachable: b.attachable === true, internal: b.internal === true,
    encrypted: b.encrypted !== false, labels: { ...(labels as Record<string, string>) },
  }
  if (b.subnet !== undefined) spec.subnet = b.subnet as string
  return { spec }
}

/**
 * `--opt encrypted`, `--opt encrypted=true|false` (docker's overlay option; alone it means true). Other options are
 * refused: mesh has no other driver option.
 */
export function parseNetworkOpt(text: string): { encrypted: boolean } {
  const eq = text.indexOf('=')
  const k = eq < 0 ? text : text.slice(0, eq)
  const v = eq < 0 ? 'true' : text.slice(eq + 1)
  if (k !== 'encrypted') throw new ConfigError(`--opt "${text}": unknown option "${k}" (mesh networks take encrypted=true|false)`)
  if (v !== 'true' && v !== 'false' && v !== '') throw new ConfigError(`--opt "${text}": want encrypted=true or encrypted=false`)
  return { encrypted: v !== 'false' }
}
