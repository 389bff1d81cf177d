import express, { type NextFunction, type Request, type Response } from 'express'
import type { Manager } from '../manager.ts'
import { requireAdmin } from './auth.ts'
import { sendError as fail } from './http-error.ts'
import { RequestError } from './request-error.ts'
import { VaultError } from '../vault/errors.ts'

/**
 * Autolock on the API. While the manager's vault is locked (autolock, after a restart) every route but
 * `POST /v1/unlock` answers 503 `MESH_ERR_LOCKED` `the manager is locked: run mesh unlock` (agents retry 5xx, and get
 * their streams once it is unlocked). `POST /v1/unlock` `{key}` (admin) unlocks; `GET /v1/unlock-key` and
 * `POST /v1/unlock-key/rotate` (admin) answer `{key}`: the unlock key, or a new one (a new KEK sealed by it; the
 * old key stops working). The key travels only in request and answer bodies, never in a URL or a log.
 */
export function mountVault(app: express.Express, m: Manager): void {
  app.post('/v1/unlock', requireAdmin, express.json({ limit: '4kb' }), async (req, res) => {
    const key = (req.body as { key?: unknown } | undefined)?.key
    if (typeof key !== 'string' || key === '') throw new RequestError(400, 'MESH_ERR_INVALID', 'key must be the unlock key')
    await refusedAs400(() => m.vault.unlock(key))
    res.json({ state: m.vault.state })
  })
  app.use(lockedGuard(m))
  app.get('/v1/unlock-key', requireAdmin, async (_req, res) => {
    res.json({ key: await refusedAs400(async () => m.vault.unlockKey()) })
  })
  app.post('/v1/unlock-key/rotate', requireAdmin, async (_req, res) => {
    if (!m.vault.autolock) return fail(res, 400, 'MESH_ERR_VAULT', 'autolock is not enabled: this manager has no unlock key (mesh agent --init --autolock)')
    res.json({ key: await m.vault.rotate() })
  })
}

/** Every route answers `the manager is locked` while the vault is. */
export function lockedGuard(m: Manager): (req: Request, res: Response, next: NextFunction) => void {
  return (_req, res, next) => {
    if (m.vault.locked) return fail(res, 503, 'MESH_ERR_LOCKED', 'the manager is locked: run mesh unlock')
    next()
  }
}

async function refusedAs400<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (err instanceof VaultError) throw new RequestError(400, err.code, err.message)
    throw err
  }
}
