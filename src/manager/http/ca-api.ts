import type express from 'express'
import { certificateInfo } from '../../pki/index.ts'
import type { Manager } from '../manager.ts'
import { requireAdmin } from './auth.ts'
import { RequestError } from './request-error.ts'

/**
 * The cluster CA's routes (docs/security.md "Cluster PKI"):
 *
 *   GET    /v1/ca                 anyone: the current root certificate (what a joining node pins) and its digest
 *   GET    /v1/ca/status          admin: digest, rotation in progress, nodes still to renew
 *   POST   /v1/ca/rotate          admin: start a root rotation (`mesh ca rotate`)
 *   POST   /v1/ca/clients         admin: {name, csr} → an admin client certificate (`mesh ca issue-client`)
 *   GET    /v1/ca/clients         admin: the admin client certificates that are accepted (name, serial, expiry)
 *   DELETE /v1/ca/clients/:name   admin: withdraw every admin client certificate issued under that name
 *
 * The root's private key never leaves the store; a client certificate's key never reaches the manager (the CLI
 * makes it and sends a CSR).
 */
export function mountCa(app: express.Express, m: Manager): void {
  app.get('/v1/ca', (_req, res) => {
    res.json({ certificate: m.ca.trust().current, digest: m.clusterInfo().digest })
  })
  app.get('/v1/ca/status', requireAdmin, (_req, res) => { res.json(caStatus(m)) })
  app.post('/v1/ca/rotate', requireAdmin, async (_req, res) => {
    await m.rotateCa()
    res.json(caStatus(m))
  })
  app.post('/v1/ca/clients', requireAdmin, async (req, res) => {
    const b = req.body as { name?: unknown; csr?: unknown } | undefined
    if (typeof b?.name !== 'string' || typeof b.csr !== 'string') throw new RequestError(400, 'MESH_ERR_INVALID', 'want {name, csr}: a client name and a PEM certificate request')
    const certificate = await m.ca.issue(b.csr, { nodeId: b.name, role: 'admin', clusterId: m.clusterInfo().clusterId })
    const info = certificateInfo(certificate)
    await m.ca.recordAdminClient({ name: b.name, serial: info.serial, notAfter: info.notAfter })
    res.status(201).json({ certificate, ca: m.ca.trust().roots, serial: info.serial, notAfter: new Date(info.notAfter).toISOString() })
  })
  app.get('/v1/ca/clients', requireAdmin, (_req, res) => {
    res.json(m.ca.adminClients().map((c) => ({ name: c.name, serial: c.serial, notAfter: new Date(c.notAfter).toISOString() })))
  })
  app.delete('/v1/ca/clients/:name', requireAdmin, async (req, res) => {
    const revoked = await m.ca.revokeAdminClient(req.params.name as string)
    if (revoked === 0) throw new RequestError(404, 'MESH_ERR_NOT_FOUND', `no admin client certificate named "${req.params.name}"`)
    res.json({ revoked })
  })
}

function caStatus(m: Manager): { digest: string; rotating: boolean; pending: { id: string; hostname: string; state: string }[] } {
  const s = m.ca.status()
  return {
    digest: s.digest, rotating: s.rotating,
    pending: s.pending.map((id) => {
      const n = m.getNode(id)
      return { id, hostname: n?.hostname ?? id, state: n?.state ?? 'removed' }
    }),
  }
}
