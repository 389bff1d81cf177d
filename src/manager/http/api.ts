import express, { type NextFunction, type Request, type Response } from 'express'
import http from 'node:http'
import https from 'node:https'
import { existsSync, unlinkSync } from 'node:fs'
import type { Registry } from 'prom-client'
import { MeshError } from '../../base/errors.ts'
import { listenUnix, type SocketAccess } from '../../base/unix-socket.ts'
import { apiLimits, type ApiLimits } from '../../config/index.ts'
import { applyLimits, serverOptions, streaming } from './limits.ts'
import type { TimerHandle } from '../../base/clock.ts'
import type { Manager } from '../manager.ts'
import { mountObserve, type NodeFactsSource } from './observe-api.ts'
import { every } from './every.ts'
import { sendError as fail } from './http-error.ts'
import { RequestError, statusOf } from './request-error.ts'
import type { NodeRecord, NodeRole, NodeView, Resources, ServiceRecord, ServiceSpec, TaskRecord, TaskStatus } from '../../api/types.ts'
import { serveLogs } from './logs.ts'
import { authenticate, caller, requireAdmin, requireNode } from './auth.ts'
import { mountCa } from './ca-api.ts'
import { clusterInfoView } from './info.ts'
import { serverTlsOptions, type ServerTls } from './tls.ts'
import { redactRegistryAuthMiddleware } from '../registry-auth.ts'
import { createPinned, resolveModeOf, updatePinned, type ResolveMode } from '../image-resolve.ts'
import { ServiceRequestError, isJobMode, serviceSpecFromRequest } from '../../api/index.ts'
import { completedTasks } from '../jobs.ts'
import { mountNetworks } from './networks-api.ts'
import { neededValues } from '../delivery.ts'
import { mountSecrets } from './secrets-api.ts'
import { mountVault } from './vault-api.ts'
import { mountBackup } from './backup-api.ts'
import { dockerApi, hostFacts } from '../dockerapi/index.ts'
import { DEFAULT_API_PORT } from '../../config/index.ts'
import { mountTraffic } from './traffic-api.ts'
import { mountEtcdMember } from './etcd-member-api.ts'
import { answerNoQuorum, staleReads } from './quorum.ts'
import { managerAddresses, managersLine } from './managers-line.ts'
import { renewNames } from './renew-names.ts'

/**
 * The manager's HTTP API (express 5, JSON). Served on TCP (default :7947, TLS 1.3 only) for agents and remote
 * CLIs — the caller is who its client certificate says (auth.ts): an admin client certificate for the cluster API,
 * a node certificate for /v1/agent/*, no certificate only for GET /v1/ca and the join route with a join token (the
 * dashboard's routes also take its session cookie, see observe-api.ts) — and on the admin unix socket
 * `<data-dir>/manager.sock` (root, or the `mesh` group when it exists) for the local CLI.
 * Errors are `{error: {code, message}}` with a 4xx status; no request is half-applied (one transaction each).
 * The caller is authenticated before any body is read: an unauthenticated request gets 401 and its connection is
 * closed, its body never buffered or parsed. `listen` applies the timeouts and connection caps (limits.ts).
 */

/**
 * Routes a request without a bearer token may reach as `anonymous`: the dashboard (files, login, logout) and the
 * observe routes, which let in an admin caller or a live dashboard session and refuse everyone else themselves
 * (observe-api.ts). Matched like express matches routes (any case, optional trailing slash).
 */
const OBSERVE_ROUTES = /^\/(?:ui(?:\/[^/]*)?|v1\/ui\/(?:view|stream)|v1\/events|metrics)\/?$/i

export interface ApiOptions {
  manager: Manager
  /** Unix-socket listener: requests are trusted (the socket is root-only). */
  local: boolean
  /** What GET /metrics serves (e.g. the agent's registry, with gossip and overlay). Default: the manager's metrics. */
  metrics?: Registry
  /** Node facts for the dashboard (overlay subnet, tunnel health), keyed by hostname. Default: none. */
  nodeFacts?: NodeFactsSource
  /** The dashboard's address as `mesh ui login` prints it (e.g. http://10.0.0.1:7947/ui). Default: none printed. */
  dashboardUrl?: string
  /** The port this API listens on (the Docker API's manager addresses). Default: src/config's DEFAULT_API_PORT. */
  apiPort?: number
}


function body<T>(req: Request): T {
  const b = req.body as unknown
  if (b === undefined || b === null || typeof b !== 'object' || Array.isArray(b)) throw new RequestError(400, 'MESH_ERR_INVALID', 'request body must be a JSON object')
  return b as T
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') throw new RequestError(400, 'MESH_ERR_INVALID', `${what} must be a non-empty string`)
  return v
}

/** The spec a create/update request asks for (src/api's serviceSpecFromRequest); a malformed request is a 400. */
function specFrom(b: Record<string, unknown>, base: ServiceSpec): ServiceSpec {
  try {
    return serviceSpecFromRequest(b, base)
  } catch (err) {
    if (err instanceof ServiceRequestError) throw new RequestError(400, 'MESH_ERR_INVALID', err.message)
    throw err
  }
}

function resolveMode(req: Request): ResolveMode {
  const mode = resolveModeOf(req.query.resolveImage)
  if (!mode) throw new RequestError(400, 'MESH_ERR_INVALID', 'resolveImage must be always or never')
  return mode
}

export function createApp(o: ApiOptions, defaults: (name: string, image: string) => ServiceSpec): express.Express {
  const m = o.manager
  const app = express()
  app.disable('x-powered-by')

  // Authenticate before any body is read (auth.ts): a refused caller's body is never buffered, its connection closed.
  // A caller without a certificate is `anonymous` on the observe and login routes, which want an admin caller or a
  // live dashboard session themselves (observe-api.ts).
  app.use(authenticate(m, { local: o.local, passAnonymous: (req) => OBSERVE_ROUTES.test(req.path) }))
  // Reads answered from a view that may lag the store (no quorum, no leader known) say so (quorum.ts).
  app.use(staleReads(m))
  // Autolock (vault-api.ts): `POST /v1/unlock`, then every other route answers `locked` while the vault is.
  mountVault(app, m)
  mountBackup(app, m)
  // /v1/events, /ui, /v1/ui/*, /metrics: authenticated by the middleware above, each route checks the caller kind.
  mountObserve(app, { ...o, caller })
  // docker's paths (`/nodes`, `/v1.41/services` …, never mesh's `/v1/…`): the read-only Docker API, admin callers only.
  app.use(dockerApi({ manager: m, apiPort: o.apiPort ?? DEFAULT_API_PORT, host: hostFacts(), local: o.local }))
  app.use(express.json({ limit: '1mb' }))
  app.use(redactRegistryAuthMiddleware)

  // ---- cluster ---------------------------------------------------------------------------------------------
  app.get('/v1/info', requireAdmin, (_req, res) => {
    res.json(clusterInfoView(m))
  })
  mountCa(app, m)
  app.get('/v1/tokens', requireAdmin, (_req, res) => { res.json(m.tokens()) })
  app.post('/v1/tokens/:role/rotate', requireAdmin, async (req, res) => {
    const role = req.params.role
    if (role !== 'worker' && role !== 'manager') return fail(res, 400, 'MESH_ERR_INVALID', `role "${role}" must be worker or manager`)
    res.json({ role, token: await m.rotateToken(role) })
  })

  // ---- gossip keyring (src/manager/gossip-keys.ts): fingerprints only, never keys, on admin routes ------------
  app.get('/v1/gossip/keys', requireAdmin, (_req, res) => { res.json(m.gossipKeys.view()) })
  app.post('/v1/gossip/keys/rotate', requireAdmin, async (_req, res) => {
    await m.gossipKeys.rotate()
    res.status(202).json(m.gossipKeys.view())
  })

  // ---- nodes -----------------------------------------------------------------------------------------------
  // Each manager node with its ManagerStatus (docker's: leader, reachability, address), as this manager sees it.
  const apiPort = o.apiPort ?? DEFAULT_API_PORT
  const nodeView = (n: NodeRecord): NodeView => {
    const status = m.managerStatus(n, apiPort)
    return status ? { ...n, managerStatus: status } : n
  }
  app.get('/v1/nodes', requireAdmin, (_req, res) => { res.json(m.listNodes().map(nodeView)) })
  app.get('/v1/nodes/:id', requireAdmin, (req, res) => {
    const n = m.getNode(req.params.id as string)
    if (!n) return fail(res, 404, 'MESH_ERR_NOT_FOUND', `node "${req.params.id}" not found`)
    res.json(nodeView(n))
  })
  app.patch('/v1/nodes/:id', requireAdmin, async (req, res) => {
    const b = body<{ availability?: 'active' | 'pause' | 'drain'; role?: NodeRole; labelAdd?: Record<string, string>; labelRm?: string[] }>(req)
    res.json(await m.updateNode(req.params.id as string, b))
  })
  app.delete('/v1/nodes/:id', requireAdmin, async (req, res) => {
    await m.removeNode(req.params.id as string, req.query.force === 'true' || req.query.force === '1')
    res.status(204).end()
  })

  // ---- services --------------------------------------------------------------------------------------------
  app.get('/v1/services', requireAdmin, (_req, res) => {
    const tasks = m.listTasks()
    res.json(m.listServices().map((s) => ({ ...s, ...replicaCounts(s, tasks) })))
  })
  // ?resolveImage=never (`--no-resolve-image`) stores the image as given; by default a tag is pinned to its digest.
  app.post('/v1/services', requireAdmin, async (req, res) => {
    const mode = resolveMode(req)
    const b = body<Record<string, unknown>>(req)
    const spec = specFrom(b, defaults(str(b.name, 'name'), typeof b.image === 'string' ? b.image : ''))
    res.status(201).json(await createPinned(m, spec, mode))
  })
  app.get('/v1/services/:id', requireAdmin, (req, res) => {
    const s = m.getService(req.params.id as string)
    if (!s) return fail(res, 404, 'MESH_ERR_NOT_FOUND', `service "${req.params.id}" not found`)
    // `now`: the manager's clock, so a CLI on another host can tell how long tasks have run (src/api/convergence.ts).
    res.json({ ...s, ...replicaCounts(s, m.listTasks({ serviceId: s.id })), now: m.now() })
  })
  app.post('/v1/services/:id/update', requireAdmin, async (req, res) => {
    const mode = resolveMode(req)
    const b = body<Record<string, unknown>>(req)
    res.json(await updatePinned(m, req.params.id as string, (spec) => specFrom(b, spec), mode))
  })
  app.post('/v1/services/:id/scale', requireAdmin, async (req, res) => {
    const { replicas } = body<{ replicas: number }>(req)
    res.json(await m.updateService(req.params.id as string, (spec) => {
      // As docker: a replicated job's replicas are its total completions (a new run of the job); per-node modes refuse.
      if ('replicatedJob' in spec.mode) return { ...spec, mode: { replicatedJob: { ...spec.mode.replicatedJob, totalCompletions: replicas } } }
      if (!('replicated' in spec.mode)) throw new RequestError(400, 'MESH_ERR_INVALID', `service "${spec.name}": scale can only be used with replicated or replicated-job mode`)
      return { ...spec, mode: { replicated: { replicas } } }
    }))
  })
  app.get('/v1/services/:id/logs', requireAdmin, (req, res) => serveLogs(m, 'service', req, res))
  app.get('/v1/tasks/:id/logs', requireAdmin, (req, res) => serveLogs(m, 'task', req, res))
  app.post('/v1/services/:id/rollback', requireAdmin, async (req, res) => { res.json(await m.rollbackService(req.params.id as string)) })
  app.delete('/v1/services/:id', requireAdmin, async (req, res) => {
    await m.removeService(req.params.id as string)
    res.status(204).end()
  })

  // ---- networks (networks-api.ts) ----------------------------------------------------------------------------
  mountNetworks(app, m)

  // ---- secrets and configs (secrets-api.ts) ---------------------------------------------------------------
  mountSecrets(app, m)

  // ---- tasks -----------------------------------------------------------------------------------------------
  app.get('/v1/tasks', requireAdmin, (req, res) => {
    let serviceId: string | undefined
    if (typeof req.query.service === 'string') {
      const s = m.getService(req.query.service)
      if (!s) return fail(res, 404, 'MESH_ERR_NOT_FOUND', `service "${req.query.service}" not found`)
      serviceId = s.id
    }
    let nodeId: string | undefined
    if (typeof req.query.node === 'string') {
      const n = m.getNode(req.query.node)
      if (!n) return fail(res, 404, 'MESH_ERR_NOT_FOUND', `node "${req.query.node}" not found`)
      nodeId = n.id
    }
    res.json(m.listTasks({ ...(serviceId ? { serviceId } : {}), ...(nodeId ? { nodeId } : {}) }))
  })

  // ---- agents ----------------------------------------------------------------------------------------------
  app.post('/v1/agent/join', async (req, res) => {
    const token = o.local ? m.tokens().worker : res.locals.joinToken
    if (typeof token !== 'string') return fail(res, 401, 'MESH_ERR_TOKEN', 'joining needs a join token')
    const b = body<{ hostname: string; addr: string; resources?: Resources; csr: string }>(req)
    const r = await m.join({
      token, hostname: str(b.hostname, 'hostname'), addr: str(b.addr, 'addr'), resources: resourcesOf(b.resources), csr: str(b.csr, 'csr'),
    })
    const gossipKeys = m.gossipKeys.message()
    const managers = managerAddresses(m.listNodes(), o.apiPort ?? DEFAULT_API_PORT) // as {managers}: fail over before the stream opens
    res.json({ nodeId: r.node.id, role: r.node.role, certificate: r.certificate, ca: m.ca.trust().roots, cluster: m.clusterInfo().digest,
      ...(gossipKeys ? { gossipKeys } : {}), ...(managers.length > 0 ? { managers } : {}) })
  })
  /**
   * A node's new certificate for a new key: same node id, current root, and the role the store holds for the node
   * (a promoted worker gets a manager's certificate, a demoted manager a worker's: issue 15, promote at runtime).
   */
  app.post('/v1/agent/renew', requireNode, async (req, res) => {
    const c = caller(res) as { node: NodeRecord }
    const certificate = await m.renew(c.node, c.node.role === 'manager' ? 'manager' : 'worker', { csr: str(body<{ csr: string }>(req).csr, 'csr'), ...renewNames(m, c.node) })
    res.json({ certificate, ca: m.ca.trust().roots })
  })
  mountEtcdMember(app, m)
  /** A node applied gossip keyring `version` (the key rotation waits for every ready node's ack). */
  app.post('/v1/agent/gossip-keys', requireNode, async (req, res) => {
    const { version } = body<{ version: unknown }>(req)
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return fail(res, 400, 'MESH_ERR_INVALID', 'version must be a whole number ≥ 1')
    await m.gossipKeys.ack((caller(res) as { node: NodeRecord }).node.id, version)
    res.json({ version })
  })
  app.post('/v1/agent/status', requireNode, async (req, res) => {
    const { updates } = body<{ updates: unknown }>(req)
    if (!Array.isArray(updates)) return fail(res, 400, 'MESH_ERR_INVALID', 'updates must be a list')
    res.json({ applied: await m.reportTasks((caller(res) as { node: NodeRecord }).node, updates) })
  })
  /** A node's ingress and tunnel counters for the dashboard's live traffic (traffic-api.ts); about itself only. */
  mountTraffic(app, m)
  /**
   * A node registers its own WireGuard key and overlay subnet (`{publicKey, subnet}`); the node is the caller, never
   * one named in the body. 400 for a bad key or subnet, 409 for one registered to another node; nothing stored then.
   */
  app.put('/v1/agent/overlay', requireNode, async (req, res) => {
    const n = await m.registerOverlay((caller(res) as { node: NodeRecord }).node, body<Record<string, unknown>>(req))
    res.json({ nodeId: n.id, ...n.overlay })
  })
  /**
   * The node leaves the cluster (`mesh leave`): it is marked down at once, its overlay registration is revoked (peers
   * drop it) and its tasks are replaced; the record stays until `mesh node rm`, as docker's. Only the node itself.
   */
  app.post('/v1/agent/leave', requireNode, async (_req, res) => {
    const n = await m.nodeLeft((caller(res) as { node: NodeRecord }).node)
    res.json({ nodeId: n.id, hostname: n.hostname, state: n.state })
  })
  /**
   * The push stream (NDJSON): `{secrets}` and `{configs}` with the values this node's live tasks use (only those,
   * sent before the `{tasks}` that needs them; delivery.ts), `{tasks}` with this node's full assignment, `{catalog}` with the cluster's services →
   * endpoints, `{peers}` with every node's registered overlay key and subnet, `{ca}` with the trusted roots (a
   * CA rotation), `{gossipKeys}` with the cluster's gossip keyring and `{managers}` with every manager's API address
   * (managers-line.ts), each sent now and again after every change to it (coalesced over 10 ms); `{}` heartbeats. The
   * stream ends when the node is removed (`mesh node rm`) and when this manager stops (a store move hands over).
   */
  app.get('/v1/agent/watch', requireNode, (req, res) => {
    streaming(req)
    const node = (caller(res) as { node: NodeRecord }).node
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    const clock = m.clock
    let timer: TimerHandle | null = null
    /** What each kind of line last said on this stream: a line goes out only when its content changed. */
    const last = new Map<string, string>()
    // A new stream starts with no values on the node's side (an agent keeps them in memory only): none to drop.
    last.set('secrets', 'ids:').set('configs', 'ids:')
    const put = (kind: string, content: string, line = `${content}\n`): void => {
      if (content === '' || last.get(kind) === content) return
      last.set(kind, content)
      res.write(line)
    }
    const send = () => {
      timer = null
      if (!m.getNode(node.id)) {
        res.destroy() // removed: its certificate is refused from now on, and so is this stream
        return
      }
      const tasks = m.assignments(node.id)
      // Values before the assignment that needs them, so a new task's files can be written at once (delivery.ts).
      const needed = neededValues(tasks)
      for (const kind of ['secrets', 'configs'] as const) {
        if (last.get(kind) === `ids:${needed[kind].join(',')}`) continue
        const values = m.fileValues(kind, needed[kind])
        // Keyed by the ids actually sent: a value that could not be read yet is tried again on the next change.
        put(kind, `ids:${values.map((v) => v.id).join(',')}`, `${JSON.stringify({ [kind]: values })}\n`)
      }
      put('tasks', JSON.stringify({ tasks }))
      const catalog = m.catalog()
      put('catalog', catalog.content, catalog.line) // compared without its revision
      const peers = m.overlayPeersLine() // already a line
      put('peers', peers, peers)
      put('ca', JSON.stringify({ ca: { roots: m.ca.trust().roots, digest: m.clusterInfo().digest } }))
      const gossipKeys = m.gossipKeys.message()
      if (gossipKeys) put('gossipKeys', JSON.stringify({ gossipKeys }))
      put('managers', managersLine(m.listNodes(), o.apiPort ?? DEFAULT_API_PORT)) // where the node fails over to
    }
    send()
    const wake = () => {
      if (!timer) timer = clock.setTimeout(send, 10)
    }
    const unwatch = m.watch(wake)
    const unwatchCa = m.ca.onChange(wake)
    const unwatchKeys = m.gossipKeys.onChange(wake)
    const heartbeat = every(clock, 10_000, () => res.write('{}\n'))
    const detachLogs = m.logs.attach(node.id, (line) => res.write(line)) // `{logs}` / `{logsCancel}` lines
    const offStop = m.onStop(() => res.destroy()) // a store move: the node reconnects to the manager on etcd
    req.on('close', () => {
      offStop()
      detachLogs()
      unwatch()
      unwatchCa()
      unwatchKeys()
      heartbeat()
      clock.clearTimeout(timer)
    })
  })

  /** A node's answer to a `{logs}` request: its log lines, NDJSON, as a streaming request body (src/manager/logs.ts). */
  app.post('/v1/agent/logs/:id', requireNode, (req, res) => {
    streaming(req)
    m.logs.upload((caller(res) as { node: NodeRecord }).node, req.params.id as string, req, res)
  })

  app.use((_req: Request, res: Response) => fail(res, 404, 'MESH_ERR_NOT_FOUND', 'no such route'))
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string }
    // A stream (events, logs) that failed after its head was sent: no error answer can follow, end the connection.
    if (res.headersSent) return void res.destroy()
    if (e.type === 'entity.parse.failed') return fail(res, 400, 'MESH_ERR_INVALID', 'request body is not valid JSON')
    if (e.type === 'entity.too.large') return fail(res, 413, 'MESH_ERR_INVALID', 'request body too large')
    if (answerNoQuorum(m, err, res)) return
    if (err instanceof MeshError) return fail(res, statusOf(err), err.code, err.message)
    fail(res, 500, 'MESH_ERR_INTERNAL', e.message ?? 'internal error')
  })
  return app
}

/** A joining node's resources: two non-negative safe integers (they feed the scheduler's arithmetic), or zeros. */
function resourcesOf(v: unknown): Resources {
  if (v === undefined || v === null) return { nanoCpus: 0, memoryBytes: 0 }
  const r = v as Partial<Record<keyof Resources, unknown>>
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
  if (typeof v !== 'object' || !ok(r.nanoCpus) || !ok(r.memoryBytes)) {
    throw new RequestError(400, 'MESH_ERR_INVALID', 'resources must be {nanoCpus, memoryBytes}, whole numbers ≥ 0')
  }
  return { nanoCpus: r.nanoCpus, memoryBytes: r.memoryBytes }
}

/** Running and desired (live) tasks; for a job also the completions of its current run. */
function replicaCounts(s: ServiceRecord, tasks: TaskRecord[]): { running: number; desired: number; completed?: number } {
  const mine = tasks.filter((t) => t.serviceId === s.id)
  return {
    running: mine.filter((t) => t.status.state === 'running' && t.desiredState === 'running').length,
    desired: mine.filter((t) => t.desiredState === 'running').length,
    ...(isJobMode(s.spec.mode) ? { completed: completedTasks(s, mine) } : {}),
  }
}

/**
 * Listen on TCP with TLS 1.3 (`tls`: the manager's key, chain and the roots client certificates chain to; reload
 * them with `server.setSecureContext`), on plain TCP (tests of the HTTP layer only), or on a unix socket, with the
 * API limits (timeouts, connection caps; default src/config apiLimits). The socket is created 0600 (umask around
 * listen); with `access` naming a group (the `mesh` group, see socketAccess in src/base) it is given to root:group
 * while still 0600, then opened to 0660.
 */
export async function listen(app: express.Express, where: { port: number; host: string; tls?: ServerTls } | { socketPath: string; access?: SocketAccess }, limits: Readonly<ApiLimits> = apiLimits()): Promise<http.Server> {
  const tls = 'tls' in where ? where.tls : undefined
  const server = tls
    ? https.createServer({ ...serverOptions(limits), ...serverTlsOptions(tls, limits.headersTimeoutMs) }, app) as unknown as http.Server
    : http.createServer(serverOptions(limits), app)
  applyLimits(server, limits)
  if ('socketPath' in where && existsSync(where.socketPath)) unlinkSync(where.socketPath)
  if ('socketPath' in where) await listenUnix(server, where.socketPath, where.access ?? { mode: 0o600 })
  else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(where.port, where.host, resolve)
    })
  }
  return server
}

