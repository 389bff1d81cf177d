import { ApiError } from '../src/api/index.ts'
import type { CreateSecretRequest } from '../src/api/secrets.ts'
import {
  planStackObjects, readStackValues, stackOwned, type ExistingObject, type FileKind, type LoadedStack, type ObjectsPlan,
} from '../src/stack/index.ts'

/**
 * The stack's secrets and configs on the manager (mesh/stack.ts calls these): read the values of its own ones from
 * their files and plan against the manager's lists (refusing a missing external one or a changed config) before any
 * change; create the new ones before the services that use them; remove the stack's own ones after its services.
 * Routes: GET/POST /v1/secrets and /v1/configs, DELETE /v1/secrets/:id and /v1/configs/:id. Values travel only in
 * the POST body (base64), never in a line printed here.
 */

export interface ObjectsClient {
  request<T>(method: string, path: string, body?: unknown): Promise<T>
}

const route = (kind: FileKind) => `/v1/${kind}s`

/** Lists a kind; a manager without the route (an older one) has none of them. */
async function list(client: ObjectsClient, kind: FileKind): Promise<ExistingObject[]> {
  try {
    return await client.request<ExistingObject[]>('GET', route(kind))
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return []
    throw err
  }
}

/** Reads the values and plans; throws (nothing sent) on a missing external one, a changed config, a bad file. */
export async function planObjects(client: ObjectsClient, loaded: LoadedStack, readBytes: (path: string) => Uint8Array): Promise<ObjectsPlan> {
  const objects = [...loaded.secrets, ...loaded.configs]
  if (objects.length === 0) return { create: [], keep: [], unverified: [] }
  const values = readStackValues(objects, readBytes)
  const [secrets, configs] = await Promise.all([
    loaded.secrets.length > 0 ? list(client, 'secret') : [],
    loaded.configs.length > 0 ? list(client, 'config') : [],
  ])
  return planStackObjects(loaded.stack, objects, values, { secrets, configs })
}

export async function createObjects(client: ObjectsClient, plan: ObjectsPlan, out: (text: string) => void): Promise<void> {
  for (const c of plan.create) {
    out(`Creating ${c.kind} ${c.name}\n`)
    const body: CreateSecretRequest = { name: c.name, labels: c.labels, data: c.data }
    await client.request('POST', route(c.kind), body)
  }
}

/** Removes the stack's own secrets, then configs (after its services, as docker stack rm); returns how many. */
export async function removeObjects(client: ObjectsClient, stack: string, out: (text: string) => void): Promise<number> {
  let n = 0
  for (const kind of ['secret', 'config'] as const) {
    for (const o of stackOwned(stack, await list(client, kind))) {
      out(`Removing ${kind} ${o.spec.name}\n`)
      await client.request('DELETE', `${route(kind)}/${encodeURIComponent(o.id)}`)
      n++
    }
  }
  return n
}
