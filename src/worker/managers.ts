import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { writeFileAtomic } from '../base/state-file.ts'
import { isDnsName } from '../pki/index.ts'
import type { ManagerAddress } from '../api/watch.ts'

/**
 * The cluster's managers as this node knows them: the `{managers}` line of the watch stream, checked here (the
 * boundary) before anything uses it, and kept in `<data-dir>/managers.json` (0644, written atomically: it holds
 * addresses, no secret) so that a restarted agent starts from every manager it knew, not only the one it joined.
 */
export const MANAGERS_FILE = 'managers.json'
/** More managers than any cluster runs (Swarm advises 3, 5 or 7): a longer list is refused as bad. */
const MAX_MANAGERS = 64

export function managersPath(dataDir: string): string {
  return join(dataDir, MANAGERS_FILE)
}

/** `HOST:PORT` for a manager (IPv6 in brackets), as transports and messages name it. */
export function managerAddress(m: { addr: string; port: number }): string {
  return `${isIP(m.addr) === 6 ? `[${m.addr}]` : m.addr}:${m.port}`
}

/** What is wrong with a `{managers}` value (null: nothing). An empty list is wrong: it would leave a node with no manager. */
export function managerListProblem(raw: unknown): string | null {
  if (!Array.isArray(raw)) return 'is not a list'
  if (raw.length === 0) return 'is empty'
  if (raw.length > MAX_MANAGERS) return `has ${raw.length} entries (at most ${MAX_MANAGERS})`
  const seen = new Set<string>()
  for (const [i, m] of raw.entries()) {
    if (typeof m !== 'object' || m === null) return `entry ${i} is not an object`
    const { id, addr, port } = m as Partial<ManagerAddress>
    if (typeof id !== 'string' || id === '') return `entry ${i} has no id`
    if (typeof addr !== 'string' || (isIP(addr) === 0 && !isDnsName(addr))) return `entry ${i} (${id}) has no IP address or DNS name`
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return `entry ${i} (${id}) has no port in 1-65535`
    const key = managerAddress({ addr, port })
    if (seen.has(key)) return `names ${key} twice`
    seen.add(key)
  }
  return null
}

/** A checked list, copied to exactly its three fields (anything else the manager sent is dropped). */
export function managerList(raw: readonly ManagerAddress[]): ManagerAddress[] {
  return raw.map((m) => ({ id: m.id, addr: m.addr, port: m.port }))
}

/** The list kept by an earlier run: `{list}`, or `{problem}` (the caller logs it and goes on with its seeds). None: an empty list. */
export function readSavedManagers(dataDir: string): { list: ManagerAddress[]; problem?: string } {
  const path = managersPath(dataDir)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    return code === 'ENOENT' ? { list: [] } : { list: [], problem: `${path}: cannot read (${code ?? (err as Error).message})` }
  }
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return { list: [], problem: `${path}: not valid JSON` }
  }
  const raw = (v as { managers?: unknown } | null)?.managers
  const problem = managerListProblem(raw)
  return problem ? { list: [], problem: `${path}: the list ${problem}` } : { list: managerList(raw as ManagerAddress[]) }
}

export function saveManagers(dataDir: string, list: readonly ManagerAddress[]): void {
  writeFileAtomic(managersPath(dataDir), `${JSON.stringify({ managers: managerList(list) })}\n`, 0o644)
}

/** `HOST[:PORT]`, `[v6]:PORT` → host and port (`port` when none is given); null when it is not an address. */
function parseSeed(text: string, port: number, portAllowed: boolean): string | null {
  const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(text.trim())
  if (!m || !m[1]) return null
  const p = portAllowed && m[2] ? Number(m[2]) : port
  return managerAddress({ addr: m[1], port: p })
}

/**
 * The managers a starting agent tries, in order (pure): `--manager HOST[:PORT]` when given, else every `--join`
 * host on the API port (a join address names the gossip port, not the API's); then the managers.json list an
 * earlier run kept; then the manager node.json says it registered with. Duplicates are dropped.
 */
export function seedManagers(o: { manager: string; join: readonly string[]; apiPort: number; saved: readonly ManagerAddress[]; registered: string | null }): string[] {
  const flags = o.manager ? [parseSeed(o.manager, o.apiPort, true)] : o.join.map((j) => parseSeed(j, o.apiPort, false))
  const registered = o.registered ? parseSeed(o.registered, o.apiPort, true) : null
  const all = [...flags, ...o.saved.map(managerAddress), registered].filter((a): a is string => a !== null)
  return [...new Set(all)]
}

/** `HOST:PORT` / `[v6]:PORT` (managerAddress's form) → host and port. */
export function splitManagerAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address)
  if (!m) throw new Error(`not HOST:PORT: ${address}`)
  return { host: m[1] as string, port: Number(m[2]) }
}
