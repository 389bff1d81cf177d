import type { NextFunction, Request, Response } from 'express'
import type { TLSSocket } from 'node:tls'
import type { NodeRecord } from '../../api/types.ts'
import type { CertRole } from '../../pki/index.ts'
import type { Manager } from '../manager.ts'
import { sendError as fail } from './http-error.ts'
import { connectionIdentity, peerChainPem } from './tls.ts'

/**
 * Who is calling, decided before any body is read (security review #7): the unix socket is admin (root, or the
 * `mesh` group); on TCP the client's certificate says it — an admin client certificate (`mesh ca issue-client`,
 * still listed by the manager) is admin, a node certificate is that node (while it is a member: `mesh node rm`
 * ends it at once), and a client without a certificate is anonymous: it reaches GET /v1/ca and, with a join token,
 * the join route — nothing else. A join token is never an admin credential. A refused caller gets 401 and its
 * connection is closed, its body never buffered or parsed.
 */
export type Caller =
  | { kind: 'admin'; name: string }
  | { kind: 'node'; node: NodeRecord; role: CertRole }
  | { kind: 'anonymous' }

export function caller(res: Response): Caller {
  return res.locals.caller as Caller
}

export function requireAdmin(_req: Request, res: Response, next: NextFunction): void {
  const c = caller(res)
  if (c.kind === 'admin') return next()
  if (c.kind === 'node') return fail(res, 403, 'MESH_ERR_FORBIDDEN', 'a node certificate cannot use the cluster API')
  refuse(res, 'MESH_ERR_UNAUTHORIZED', NEED_CERT)
}

export function requireNode(_req: Request, res: Response, next: NextFunction): void {
  const c = caller(res)
  if (c.kind === 'node') return next()
  if (c.kind === 'admin') return fail(res, 403, 'MESH_ERR_FORBIDDEN', 'only agents use /v1/agent/*')
  refuse(res, 'MESH_ERR_UNAUTHORIZED', 'only agents, with their node certificate, use /v1/agent/*')
}

const NEED_CERT = 'a client certificate is needed: on a manager run `mesh ca issue-client NAME --out DIR`, ' +
  'then set MESH_HOST=tcp://HOST:7947 and MESH_CERT_PATH=DIR (or use the CLI on a manager, through its socket)'

function refuse(res: Response, code: string, message: string): void {
  res.set('connection', 'close')
  fail(res, 401, code, message)
}

/** Routes an anonymous caller may reach (matched as express matches: any case, optional trailing slash). */
const JOIN_ROUTE = /^\/v1\/agent\/join\/?$/i
const PUBLIC_ROUTE = /^\/v1\/ca\/?$/i

/**
 * The middleware that sets `res.locals.caller`. `local`: the unix-socket listener (admin). Anonymous callers are
 * let through only to the join route (with a join token that the manager accepts: `res.locals.joinToken`) and the
 * public CA route; `passAnonymous(path)` lets the observe routes (dashboard login, sessions) decide for themselves.
 */
export function authenticate(m: Manager, o: { local: boolean; passAnonymous?: (req: Request) => boolean }) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (o.local) {
      res.locals.caller = { kind: 'admin', name: 'local' } satisfies Caller
      return next()
    }
    const socket = req.socket as TLSSocket
    const chain = peerChainPem(socket)
    if (chain) {
      const trust = m.ca.trust()
      let id
      try {
        id = await connectionIdentity(chain, trust.roots.join(''), m.now(), (c) => m.ca.identify(c))
      } catch (err) {
        return refuse(res, 'MESH_ERR_UNAUTHORIZED', `client certificate refused: ${(err as Error).message}`)
      }
      if (id.role === 'admin') {
        if (!m.ca.isAdminSerial(id.serial)) return refuse(res, 'MESH_ERR_UNAUTHORIZED', `client certificate "${id.nodeId}" was revoked`)
        res.locals.caller = { kind: 'admin', name: id.nodeId } satisfies Caller
        return next()
      }
      const node = m.getNode(id.nodeId)
      if (!node || node.id !== id.nodeId) return refuse(res, 'MESH_ERR_UNAUTHORIZED', `node ${id.nodeId} is not a member of this cluster (removed with mesh node rm?); join it again`)
      res.locals.caller = { kind: 'node', node, role: id.role } satisfies Caller
      return next()
    }
    res.locals.caller = { kind: 'anonymous' } satisfies Caller
    if (JOIN_ROUTE.test(req.path)) {
      const token = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? '')?.[1]
      if (!token || !m.joinRole(token)) return refuse(res, 'MESH_ERR_TOKEN', 'invalid join token (check `mesh token show worker` on a manager)')
      res.locals.joinToken = token // checked again by m.join
      return next()
    }
    if ((PUBLIC_ROUTE.test(req.path) && req.method === 'GET') || o.passAnonymous?.(req)) return next()
    refuse(res, 'MESH_ERR_UNAUTHORIZED', NEED_CERT)
  }
}
