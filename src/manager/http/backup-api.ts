import { once } from 'node:events'
import { createHash } from 'node:crypto'
import type express from 'express'
import type { Manager } from '../manager.ts'
import { requireAdmin } from './auth.ts'
import { streaming } from './limits.ts'
import { RequestError } from './request-error.ts'

/** Bytes of the file per NDJSON line (base64 in the line). */
export const BACKUP_CHUNK_BYTES = 48 * 1024

/**
 * `GET /v1/manager/backup[?kek=true]` (admin): the whole store as a backup file (backup/format.ts), read at one
 * revision, streamed as NDJSON so the CLI shows progress and knows the end came: `{"header":{…},"bytes":N}`, then
 * `{"chunk":"<base64>"}` lines, then `{"end":{"bytes":N,"sha256":"<hex of the file>"}}`. With `kek=true` the file
 * also holds the manager's KEK as its file keeps it. Secrets stay sealed; nothing here is decrypted.
 */
export function mountBackup(app: express.Express, m: Manager): void {
  app.get('/v1/manager/backup', requireAdmin, async (req, res) => {
    const withKek = req.query.kek === 'true'
    if (req.query.kek !== undefined && !withKek && req.query.kek !== 'false') throw new RequestError(400, 'MESH_ERR_INVALID', 'kek must be true or false')
    const kek = withKek ? m.vault.kekContent() : undefined
    if (withKek && !kek) throw new RequestError(400, 'MESH_ERR_INVALID', 'this manager keeps no KEK file (its vault lives in memory)')
    const { header, bytes } = m.backup(kek ? { kek } : {})
    streaming(req)
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    const write = async (v: unknown): Promise<void> => {
      if (!res.write(`${JSON.stringify(v)}\n`)) await Promise.race([once(res, 'drain'), once(res, 'close')])
    }
    await write({ header, bytes: bytes.length })
    for (let at = 0; at < bytes.length && !res.destroyed; at += BACKUP_CHUNK_BYTES) {
      await write({ chunk: bytes.subarray(at, at + BACKUP_CHUNK_BYTES).toString('base64') })
    }
    await write({ end: { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') } })
    res.end()
  })
}
