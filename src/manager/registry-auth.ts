import { isDeepStrictEqual } from 'node:util'
import type { NextFunction, Request, Response } from 'express'
import { isSealedRegistryAuth, type RegistryAuth, type SealedRegistryAuth, type ServiceSpec, type TaskRecord } from '../api/types.ts'
import type { SecretVault } from './vault/vault.ts'

/**
 * Registry credentials of a service (`mesh service create|update --with-registry-auth`). A request carries them in
 * plain; the manager seals them with its vault for the service (sealRegistryAuth) before the spec is stored, so the
 * service, every task's copy of the spec and the store's change history hold only the sealed form; the watch stream
 * opens them (tasksForNode) for the node that runs the task, whose engine uses them for the pull. The cluster API
 * drops `registryAuth` from every JSON answer. An update that sends no credentials keeps the stored ones, and one
 * that sends the same credentials again keeps the stored sealed form (no spec change, no task restart), as docker.
 * A request's `registryAuth` is checked by src/api's serviceSpecFromRequest (registryAuthProblem), which refuses a
 * sealed form from a client.
 */

const owner = (serviceId: string): string => `registry-auth:${serviceId}`

/** The plain credentials of stored (sealed, or plain from a store made before sealing) ones; undefined when none. */
export function openRegistryAuth(vault: SecretVault, serviceId: string, auth: RegistryAuth | SealedRegistryAuth | undefined): RegistryAuth | undefined {
  if (!isSealedRegistryAuth(auth)) return auth
  const plain = JSON.parse(vault.openFor(owner(serviceId), auth.sealed, 'registry credentials').toString('utf8')) as Omit<RegistryAuth, 'serveraddress'>
  return { ...plain, serveraddress: auth.serveraddress }
}

/**
 * `spec` with its credentials sealed for `serviceId`: plain ones are sealed, unless `previous` holds a sealed form of
 * the very same credentials (kept, so the spec does not change); already sealed ones are kept.
 */
export function sealRegistryAuth(vault: SecretVault, serviceId: string, spec: ServiceSpec, previous?: ServiceSpec): ServiceSpec {
  const auth = spec.registryAuth
  if (auth === undefined || isSealedRegistryAuth(auth)) return spec
  const before = previous?.registryAuth
  if (isSealedRegistryAuth(before) && isDeepStrictEqual(openRegistryAuth(vault, serviceId, before), auth)) return { ...spec, registryAuth: before }
  const { serveraddress, ...rest } = auth
  return { ...spec, registryAuth: { serveraddress, sealed: vault.sealFor(owner(serviceId), Buffer.from(JSON.stringify(rest), 'utf8')) } }
}

/**
 * A node's assignment as its watch stream sends it: each task's credentials opened. One that does not open (a store
 * copied without its KEK's data key) goes without credentials, and `onError` hears of it.
 */
export function tasksForNode(vault: SecretVault, tasks: readonly TaskRecord[], onError: (task: TaskRecord, err: Error) => void): TaskRecord[] {
  return tasks.map((t) => {
    if (!isSealedRegistryAuth(t.spec.registryAuth)) return t
    try {
      return { ...t, spec: { ...t.spec, registryAuth: openRegistryAuth(vault, t.serviceId, t.spec.registryAuth) as RegistryAuth } }
    } catch (err) {
      onError(t, err as Error)
      const { registryAuth: _, ...spec } = t.spec
      return { ...t, spec }
    }
  })
}

const hide = (k: string, v: unknown): unknown => (k === 'registryAuth' ? undefined : v)

/** Remove every `registryAuth` from a JSON-able value. */
export function redactRegistryAuth<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value, hide)) as T)
}

/** Express middleware: `res.json` of the cluster API never shows registry credentials. */
export function redactRegistryAuthMiddleware(_req: Request, res: Response, next: NextFunction): void {
  const json = res.json.bind(res)
  res.json = (body?: unknown) => json(redactRegistryAuth(body))
  next()
}

export type { RegistryAuth }
