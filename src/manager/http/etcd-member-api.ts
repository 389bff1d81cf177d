import type express from 'express'
import type { NodeRecord } from '../../api/types.ts'
import type { CertRole } from '../../pki/index.ts'
import type { Manager } from '../manager.ts'
import { caller, requireNode } from './auth.ts'
import { RequestError } from './request-error.ts'

/**
 * `POST /v1/agent/etcd-member` `{csr, peerPort}` (issue 15 items 2 and 8): a manager node that has no etcd member
 * yet (joined with the manager token, or promoted) asks for one over mutual TLS. Only a node certificate whose
 * role is manager, of a node the store holds as a manager, gets an answer (Manager.grantEtcdMember): its member
 * certificate, the cluster roots, the `--initial-cluster` to start with and the vault's KEK. The answer holds a
 * key-encryption key: it is never logged, and the agent writes it 0600 in the 0700 vault folder.
 */
export function mountEtcdMember(app: express.Express, m: Manager): void {
  app.post('/v1/agent/etcd-member', requireNode, async (req, res) => {
    const c = caller(res) as { node: NodeRecord; role: CertRole }
    if (c.role !== 'manager') throw new RequestError(403, 'MESH_ERR_FORBIDDEN', `node "${c.node.hostname}": only a manager's certificate gets an etcd member`)
    const b = req.body as { csr?: unknown; peerPort?: unknown } | undefined
    if (typeof b?.csr !== 'string' || b.csr === '') throw new RequestError(400, 'MESH_ERR_INVALID', 'csr must be a non-empty string')
    if (typeof b.peerPort !== 'number') throw new RequestError(400, 'MESH_ERR_INVALID', 'peerPort must be a port number')
    res.set('cache-control', 'no-store')
    res.json(await m.grantEtcdMember(c.node, { csr: b.csr, peerPort: b.peerPort }))
  })
}
