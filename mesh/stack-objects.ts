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
/** The manager has no such route (an older one), as opposed to an object not found. */
const noRoute = (err: unknown) => err instanceof ApiError && err.status === 404 && /no such route/.test(err.message)

/** Lists a kind; a manager without the route (an older one) has none of them. */
async function list(client: ObjectsClient, kind: FileKind): Promise<ExistingObject[]> {
  try {
    return await client.request<ExistingObject[]>('GET', route(kind))
  } catch (err) {
    if (noRoute(err)) return []
    throw err
  }
}

/** Reads the values and plans; throws (nothing sent) on a missing external one, a changed config, a bad file. */
export async function planObjects(client: ObjectsClient, loaded: LoadedStack, readBytes: (path: string) => Uint8Array): Promise<ObjectsPlan> {
  const objects = [...loaded.secrets, ...loaded.configs]
  if (objects.length === 0) return { create: [], keep: [], update: [] }
  const values = readStackValues(objects, readBytes)
  const [secrets, configs] = await Promise.all([
    loaded.secrets.length > 0 ? list(client, 'secret') : [],
    loaded.configs.length > 0 ? list(client, 'config') : [],
  ])
  return planStackObjects(loaded.stack, objects, values, { secrets, configs })
}

/**
 * The stack's existing objects first (labels as the files say; the manager refuses a secret whose file changed:
 * `only updates to Labels are allowed`, and nothing is created), then the new ones. A manager without the update
 * route cannot compare: the object is kept, with a warning.
 */
export async function applyObjects(client: ObjectsClient, plan: ObjectsPlan, out: (text: string) => void, warn: (text: string) => void): Promise<void> {
  for (const u of plan.update) {
    try {
      await client.request('POST', `${route(u.kind)}/${encodeURIComponent(u.id)}/update`, { labels: u.labels, data: u.data })
    } catch (err) {
      if (!noRoute(err)) throw err
      warn(`warning: ${u.kind} ${u.name} exists and is kept: this manager cannot compare its value with the file (to change it, see Rotation in docs/secrets.md)\n`)
    }
  }
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
