import { ApiError, STACK_LABEL, type NetworkRecord } from '../src/api/index.ts'
import { StackError, type StackNetwork } from '../src/stack/index.ts'

/**
 * The networks half of `mesh stack deploy` and `mesh stack rm`, as docker's: before any service changes, every
 * external network must exist (else the deploy is refused, naming it, and nothing changes) and the stack's own
 * networks are created when missing (labelled with the stack's namespace); `stack rm` removes the stack's networks
 * after its services, waiting (bounded) while their tasks still hold addresses on them.
 */

export interface NetworkClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}

/** Throws StackError naming the first external network the cluster does not have. Changes nothing. */
export function checkExternalNetworks(wanted: readonly StackNetwork[], existing: readonly NetworkRecord[]): void {
  const have = new Set(existing.flatMap((n) => [n.spec.name, n.id]))
  for (const n of wanted) {
    if (n.external && !have.has(n.name)) {
      throw new StackError(`network "${n.name}" is declared as external, but could not be found: create it first (mesh network create ${n.name})`)
    }
  }
}

/** The stack's own networks that do not exist yet, in name order. */
export function missingNetworks(wanted: readonly StackNetwork[], existing: readonly NetworkRecord[]): StackNetwork[] {
  const have = new Set(existing.map((n) => n.spec.name))
  return wanted.filter((n) => !n.external && n.create && !have.has(n.name))
}

export async function createStackNetworks(client: NetworkClient, wanted: readonly StackNetwork[], existing: readonly NetworkRecord[], out: (s: string) => void): Promise<void> {
  for (const n of missingNetworks(wanted, existing)) {
    out(`Creating network ${n.name}\n`)
    await client.request('POST', '/v1/networks', n.create)
  }
}

/** The networks `stack deploy` created for `stack` (its namespace label), by name. */
export function stackOwnNetworks(stack: string, all: readonly NetworkRecord[]): NetworkRecord[] {
  return all.filter((n) => n.spec.labels[STACK_LABEL] === stack)
}

export interface RemoveNetworksOptions {
  /** How long to wait for the stack's tasks to release a network. Default 30 s. */
  timeoutMs?: number
  pollMs?: number
  sleep?: (ms: number) => Promise<void>
}

/**
 * Removes each network, retrying while the manager answers that a task still holds it (the removed services' tasks
 * are stopping); gives up with the manager's message after `timeoutMs`.
 */
export async function removeStackNetworks(client: NetworkClient, networks: readonly NetworkRecord[], out: (s: string) => void, o: RemoveNetworksOptions = {}): Promise<void> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const pollMs = o.pollMs ?? 500
  const tries = Math.max(1, Math.ceil((o.timeoutMs ?? 30_000) / pollMs))
  for (const n of networks) {
    out(`Removing network ${n.spec.name}\n`)
    for (let i = 1; ; i++) {
      try {
        await client.request('DELETE', `/v1/networks/${encodeURIComponent(n.id)}`)
        break
      } catch (err) {
        const busy = err instanceof ApiError && err.status === 409 && /in use by task/.test(err.message)
        if (err instanceof ApiError && err.status === 404) break
        if (!busy || i >= tries) throw err
        await sleep(pollMs)
      }
    }
  }
}
