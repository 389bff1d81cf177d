import { parseCidr } from '../base/cidr.ts'
import { DEFAULT_NETWORK } from '../api/network.ts'
import type { NetworkCreateRequest } from '../api/network-spec.ts'
import { STACK_LABEL } from '../api/types.ts'
import { StackFileError, formatPath, type KeyPath } from './errors.ts'
import type { Ref } from './model.ts'

/**
 * Compose networks → mesh networks (pure), as `docker stack deploy` makes them: a stack's own network `webnet` is
 * `<stack>_webnet` (or its `name:`), created with the stack's label before its services; `default` is
 * `<stack>_default`, made when a service names no network; `external: true` must already exist (the deploy refuses
 * before any change). Options: `attachable`, `internal`, `driver_opts: {encrypted: "true"|"false"}` (docker's
 * overlay option; present but empty means true), `ipam.config[0].subnet`, `labels`.
 */

/** A top-level network's options as the compose file gives them (absent: docker's defaults). */
export interface NetworkOptions {
  attachable?: boolean
  internal?: boolean
  encrypted?: boolean
  subnet?: string
  labels?: Record<string, string>
}

/** A network the stack's services use, by its name on the cluster. */
export interface StackNetwork {
  name: string
  /** Must exist already (external: true); nothing to create. */
  external: boolean
  /** What `mesh network create` should make (own networks only). */
  create?: NetworkCreateRequest
  at: Ref
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The options of a top-level network declaration (`networks: {webnet: {...}}`), parsed; errors name the key path.
 * `labels` is list_or_dict and already parsed by the caller.
 */
export function networkOptions(n: Obj, path: KeyPath, file: string, labels: Record<string, string> | undefined): NetworkOptions {
  const out: NetworkOptions = {}
  if (typeof n.attachable === 'boolean') out.attachable = n.attachable
  if (typeof n.internal === 'boolean') out.internal = n.internal
  if (isObj(n.driver_opts)) {
    for (const [k, v] of Object.entries(n.driver_opts)) {
      if (k !== 'encrypted') throw new StackFileError(file, formatPath([...path, 'driver_opts', k]), `driver option "${k}" is not supported (mesh networks take encrypted: "true" or "false")`)
      const text = String(v)
      if (!['true', 'false', ''].includes(text)) throw new StackFileError(file, formatPath([...path, 'driver_opts', k]), `want "true" or "false", not "${text}"`)
      out.encrypted = text !== 'false'
    }
  }
  if (isObj(n.ipam)) {
    const config = Array.isArray(n.ipam.config) ? n.ipam.config : []
    if (config.length > 1) throw new StackFileError(file, formatPath([...path, 'ipam', 'config']), 'a mesh network has one range: give one subnet')
    const first = config[0]
    if (isObj(first) && first.subnet !== undefined) {
      const at = formatPath([...path, 'ipam', 'config', 0, 'subnet'])
      try {
        parseCidr(String(first.subnet), 'subnet')
      } catch (err) {
        throw new StackFileError(file, at, (err as Error).message)
      }
      out.subnet = String(first.subnet)
    }
  }
  if (labels) out.labels = labels
  return out
}

/**
 * The cluster networks of a stack, by name: external ones to check, the stack's own ones to create (labelled with
 * the stack's namespace, so `stack rm` finds them). `used` maps each compose network a service names to its cluster
 * name and declaration.
 */
export function stackNetworks(stack: string, used: ReadonlyMap<string, { name: string; external: boolean; options?: NetworkOptions; at: Ref }>): StackNetwork[] {
  const out = new Map<string, StackNetwork>()
  for (const u of used.values()) {
    if (out.has(u.name)) continue
    if (u.name === DEFAULT_NETWORK) throw new StackFileError(u.at.file, u.at.path, `network "${DEFAULT_NETWORK}" is the cluster's default network; services on it need no networks key`)
    if (u.external) {
      out.set(u.name, { name: u.name, external: true, at: u.at })
      continue
    }
    const o = u.options ?? {}
    const create: NetworkCreateRequest = {
      name: u.name, driver: 'overlay', attachable: o.attachable ?? false, internal: o.internal ?? false, encrypted: o.encrypted ?? true,
      labels: { ...o.labels, [STACK_LABEL]: stack },
    }
    if (o.subnet) create.subnet = o.subnet
    out.set(u.name, { name: u.name, external: false, create, at: u.at })
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
