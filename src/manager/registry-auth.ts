import type { NextFunction, Request, Response } from 'express'
import type { RegistryAuth } from '../api/types.ts'

/**
 * Registry credentials of a service (`mesh service create|update --with-registry-auth`), as Docker keeps them:
 * stored with the spec (so every task, and so every node that runs one, gets them with its assignment) and never
 * shown. The cluster API drops `registryAuth` from every JSON answer; only the agents' watch stream carries it.
 * An update that sends no credentials keeps the stored ones (Docker does the same). A request's `registryAuth` is
 * checked by src/api's serviceSpecFromRequest (registryAuthProblem).
 */

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
