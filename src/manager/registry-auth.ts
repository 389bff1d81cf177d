import type { NextFunction, Request, Response } from 'express'
import type { RegistryAuth } from '../api/types.ts'

/**
 * Registry credentials of a service (`mesh service create|update --with-registry-auth`), as Docker keeps them:
 * stored with the spec (so every task, and so every node that runs one, gets them with its assignment) and never
 * shown. The cluster API drops `registryAuth` from every JSON answer; only the agents' watch stream carries it.
 * An update that sends no credentials keeps the stored ones (Docker does the same).
 */

/** The problem with a `registryAuth` value from a request, or null when it is fine. */
export function registryAuthProblem(v: unknown): string | null {
  if (v === undefined) return null
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'registryAuth must be an object {username, password, serveraddress}'
  const a = v as Record<string, unknown>
  for (const k of Object.keys(a)) {
    if (!['username', 'password', 'serveraddress', 'email'].includes(k)) return `registryAuth: unknown field "${k}"`
    if (typeof a[k] !== 'string') return `registryAuth.${k} must be a string`
  }
  if (typeof a.serveraddress !== 'string' || a.serveraddress === '') return 'registryAuth.serveraddress must name the registry'
  return null
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
