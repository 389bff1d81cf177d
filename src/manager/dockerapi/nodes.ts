import type { ManagerStatus, NodeRecord } from '../../api/types.ts'
import { anyOf, checkValues, labelsMatch, type Filters } from './filters.ts'
import { DockerApiError, dockerTime, labelsOf, type ObjectVersion } from './shape.ts'

/** GET /nodes and /nodes/{id}: mesh's node records as docker's swarm.Node (API 1.41). */

export interface DockerNode {
  ID: string
  Version: ObjectVersion
  CreatedAt: string
  UpdatedAt: string
  Spec: { Labels: Record<string, string>; Role: string; Availability: string }
  Description: {
    Hostname: string
    Platform: { Architecture: string; OS: string }
    Resources: { NanoCPUs: number; MemoryBytes: number }
    Engine: { EngineVersion: string; Labels: Record<string, string>; Plugins: { Type: string; Name: string }[] }
  }
  Status: { State: string; Message: string; Addr: string }
  ManagerStatus?: { Leader: boolean; Reachability: string; Addr: string }
}

export interface NodeContext {
  revision: number
  /** The leading manager's node id (docker's leader), or null when none is known. */
  leaderId: string | null
  /** The manager API port other managers are reached on (ManagerStatus.Addr is `ADDR:PORT`). */
  apiPort: number
  /** What Description.Engine.EngineVersion says: the mesh agent's version. */
  engineVersion: string
  /** A manager node's status as the manager sees it (Manager.managerStatus); default: leader by `leaderId`, reachable when ready. */
  managerStatus?: (n: NodeRecord) => ManagerStatus | undefined
}

export function dockerNode(n: NodeRecord, c: NodeContext): DockerNode {
  const out: DockerNode = {
    ID: n.id,
    Version: { Index: c.revision },
    CreatedAt: dockerTime(n.createdAt),
    UpdatedAt: dockerTime(n.updatedAt),
    Spec: { Labels: labelsOf(n.labels), Role: n.role, Availability: n.availability },
    Description: {
      Hostname: n.hostname,
      // mesh agents run on Linux; they do not report their architecture, so it is left empty rather than guessed.
      Platform: { Architecture: '', OS: 'linux' },
      Resources: { NanoCPUs: n.resources.nanoCpus, MemoryBytes: n.resources.memoryBytes },
      Engine: { EngineVersion: c.engineVersion, Labels: {}, Plugins: [] },
    },
    Status: { State: n.state, Message: '', Addr: n.addr },
  }
  const status = c.managerStatus?.(n)
  if (status) out.ManagerStatus = { Leader: status.leader, Reachability: status.reachability, Addr: status.addr }
  else if (n.role === 'manager' && !c.managerStatus) {
    const addr = n.addr.includes(':') ? `[${n.addr}]` : n.addr
    out.ManagerStatus = { Leader: n.id === c.leaderId, Reachability: n.state === 'ready' ? 'reachable' : 'unreachable', Addr: `${addr}:${c.apiPort}` }
  }
  return out
}

/** GET /nodes?filters=: id (prefix), name (hostname prefix), role, membership (mesh nodes are all accepted), label. */
export function nodeMatches(n: NodeRecord, f: Filters): boolean {
  checkValues(f, 'role', ['manager', 'worker'])
  checkValues(f, 'membership', ['accepted', 'pending'])
  return anyOf(f, 'id', (v) => n.id.startsWith(v)) &&
    anyOf(f, 'name', (v) => n.hostname.startsWith(v)) &&
    anyOf(f, 'role', (v) => v === n.role) &&
    anyOf(f, 'membership', (v) => v === 'accepted') &&
    labelsMatch(f, 'label', n.labels) && labelsMatch(f, 'node.label', n.labels)
}

/**
 * A node by id, hostname or unique id prefix, as dockerd resolves `/nodes/{id}`: 404 `node X not found`, and a
 * prefix of several ids is ambiguous (dockerd: 400 … is ambiguous).
 */
export function findNode(nodes: readonly NodeRecord[], ref: string): NodeRecord {
  const exact = nodes.find((n) => n.id === ref) ?? nodes.find((n) => n.hostname === ref)
  if (exact) return exact
  const byPrefix = ref === '' ? [] : nodes.filter((n) => n.id.startsWith(ref))
  if (byPrefix.length === 1) return byPrefix[0] as NodeRecord
  if (byPrefix.length > 1) throw new DockerApiError(400, `node ${ref} is ambiguous (${byPrefix.length} matches found)`)
  throw new DockerApiError(404, `node ${ref} not found`)
}
