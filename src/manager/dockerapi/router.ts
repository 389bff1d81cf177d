import type { IncomingMessage, ServerResponse } from 'node:http'
import type { NextFunction, Request, Response } from 'express'
import { X509Certificate } from 'node:crypto'
import { MeshError } from '../../base/errors.ts'
import type { NetworkRecord } from '../../api/network.ts'
import type { Manager } from '../manager.ts'
import { streaming } from '../http/limits.ts'
import { caller } from '../http/auth.ts'
import { ManagerLockedError } from '../vault/errors.ts'
import { EVENT_FILTERS, NETWORK_FILTERS, NODE_FILTERS, SERVICE_FILTERS, TASK_FILTERS, parseFilters } from './filters.ts'
import { dockerEvent, eventMatches, eventTime } from './events.ts'
import { dockerNetwork, findDockerNetwork, networkMatches } from './networks.ts'
import { dockerNode, findNode, nodeMatches, type NodeContext } from './nodes.ts'
import { dockerService, findService, serviceMatches } from './services.ts'
import { DOCKER_API_VERSION, DOCKER_MIN_API_VERSION, DockerApiError, type ShapeContext } from './shape.ts'
import { dockerInfo, dockerVersion, pingHeaders, type HostFacts } from './system.ts'
import { dockerTask, taskFilter } from './tasks.ts'
import { notServedMessage, readOnlyMessage } from './writes.ts'

/**
 * The Docker API's request handling: which paths are docker's (unversioned `/nodes` or versioned `/v1.41/nodes`;
 * mesh's own API is `/v1/…`, which never matches `/v1.NN/`), the read routes, 501 for every write, and dockerd's
 * error shape. A plain (req, res, next) middleware, mounted on the 7947 app after authentication (admin callers
 * only) and served alone on `<data-dir>/docker-api.sock`.
 */

export interface DockerApiOptions {
  manager: Manager
  /** The manager API port (ManagerStatus.Addr, RemoteManagers). */
  apiPort: number
  host: HostFacts
  /** The caller is trusted (the unix socket); else res.locals.caller must be an admin (auth.ts). */
  local: boolean
}

/** The first path segments dockerd serves: an unversioned path is docker's only when it starts with one of these. */
const DOCKER_ROOTS = new Set([
  '_ping', 'version', 'info', 'events', 'nodes', 'services', 'tasks', 'networks', 'secrets', 'configs', 'swarm',
  'containers', 'images', 'volumes', 'plugins', 'distribution', 'system', 'session', 'build', 'exec', 'auth', 'commit', 'grpc',
])

const VERSIONED = /^\/v(\d+)\.(\d+)(\/.*)?$/

type Query = URLSearchParams
type Handler = (o: DockerApiOptions, q: Query, req: IncomingMessage, res: ServerResponse, id?: string) => unknown

/** The last root CA parsed and its notBefore: parsing a certificate per request is wasted work (it changes on a CA rotation). */
let createdAtOf = { pem: '', ms: 0 }

/** When the cluster was created: its root CA's notBefore (the CA is made at `mesh agent --init`). */
function clusterCreatedAt(m: Manager): number {
  const pem = m.ca.trust().current
  if (pem !== createdAtOf.pem) createdAtOf = { pem, ms: Date.parse(new X509Certificate(pem).validFrom) }
  return createdAtOf.ms
}

/** The networks; the default one (a record built from the overlay, no time of its own) dated with the cluster. */
function networks(m: Manager): NetworkRecord[] {
  const created = clusterCreatedAt(m)
  return m.networks.list().map((n) => (n.createdAt === 0 ? { ...n, createdAt: created, updatedAt: created } : n))
}

function shapeContext(m: Manager): ShapeContext {
  return { revision: m.revision, networks: networks(m), vipRange: m.networkInfo().vipRange }
}

function nodeContext(o: DockerApiOptions): NodeContext {
  return {
    revision: o.manager.revision, leaderId: o.manager.leaderId() ?? null, apiPort: o.apiPort, engineVersion: o.host.meshVersion,
    managerStatus: (n) => o.manager.managerStatus(n, o.apiPort),
  }
}

const ROUTES: Record<string, Handler> = {
  '/version': (o) => dockerVersion(o.host),
  '/info': (o) => {
    const m = o.manager
    const ca = m.ca.trust().current
    return dockerInfo({
      host: o.host, nodes: m.listNodes(), selfId: m.networkInfo().selfId, apiPort: o.apiPort,
      cluster: {
        id: m.clusterInfo().clusterId, revision: m.revision, createdAt: clusterCreatedAt(m), trustRoot: ca,
        nodeCertLifetimeMs: m.ca.certLifetimeMs(), rootRotationInProgress: m.ca.status().rotating, autolock: m.vault.autolock,
      },
    })
  },
  '/nodes': (o, q) => {
    const f = parseFilters(q.get('filters') ?? undefined, NODE_FILTERS)
    const c = nodeContext(o)
    return o.manager.listNodes().filter((n) => nodeMatches(n, f)).map((n) => dockerNode(n, c))
  },
  '/nodes/:id': (o, _q, _req, _res, id) => dockerNode(findNode(o.manager.listNodes(), id as string), nodeContext(o)),
  '/services': (o, q) => {
    const f = parseFilters(q.get('filters') ?? undefined, SERVICE_FILTERS)
    const c = shapeContext(o.manager)
    const tasks = q.get('status') === 'true' || q.get('status') === '1' ? o.manager.listTasks() : undefined
    return o.manager.listServices().filter((s) => serviceMatches(s, f)).map((s) => dockerService(s, c, tasks))
  },
  '/services/:id': (o, q, _req, _res, id) => {
    const s = findService(o.manager.listServices(), id as string)
    const tasks = q.get('status') === 'true' || q.get('status') === '1' ? o.manager.listTasks({ serviceId: s.id }) : undefined
    return dockerService(s, shapeContext(o.manager), tasks)
  },
  '/tasks': (o, q) => {
    const m = o.manager
    const keep = taskFilter(parseFilters(q.get('filters') ?? undefined, TASK_FILTERS), m.listServices(), m.listNodes())
    const c = shapeContext(m)
    return m.listTasks().filter(keep).map((t) => dockerTask(t, c))
  },
  '/tasks/:id': (o, _q, _req, _res, id) => {
    const tasks = o.manager.listTasks()
    const t = tasks.find((x) => x.id === id) ?? (id ? single(tasks.filter((x) => x.id.startsWith(id as string)), 'task', id) : undefined)
    if (!t) throw new DockerApiError(404, `task ${id} not found`)
    return dockerTask(t, shapeContext(o.manager))
  },
  '/networks': (o, q) => {
    const f = parseFilters(q.get('filters') ?? undefined, NETWORK_FILTERS)
    return networks(o.manager).filter((n) => networkMatches(n, f)).map(dockerNetwork)
  },
  '/networks/:id': (o, _q, _req, _res, id) => dockerNetwork(findDockerNetwork(networks(o.manager), id as string)),
  '/events': (o, q, req, res) => streamEvents(o, q, req, res),
}

function single<T>(found: T[], kind: string, ref: string): T | undefined {
  if (found.length > 1) throw new DockerApiError(400, `${kind} ${ref} is ambiguous (${found.length} matches found)`)
  return found[0]
}

/** `/nodes/abc` → ['/nodes/:id', 'abc']; `/nodes` → ['/nodes']. */
function routeOf(path: string): [string, string?] {
  const m = /^(\/[^/]+)(?:\/([^/]+))?\/?$/.exec(path)
  if (!m) return [path]
  return m[2] === undefined ? [m[1] as string] : [`${m[1]}/:id`, decodeURIComponent(m[2])]
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sendError(res: ServerResponse, status: number, message: string): void {
  if (!res.headersSent) send(res, status, { message })
  else res.destroy()
}

/** Is this path docker's? Returns the path without its version prefix, or null (not docker's: mesh's own API). */
export function dockerPath(path: string): { path: string; version?: [number, number] } | null {
  const v = VERSIONED.exec(path)
  if (v) return { path: v[3] ?? '/', version: [Number(v[1]), Number(v[2])] }
  const first = path.split('/')[1] ?? ''
  return DOCKER_ROOTS.has(first) ? { path } : null
}

/** A version the versioned path names that this API does not serve: dockerd's message, else null. */
export function versionProblem(v: [number, number]): string | null {
  const [maxMajor, maxMinor] = DOCKER_API_VERSION.split('.').map(Number) as [number, number]
  const [minMajor, minMinor] = DOCKER_MIN_API_VERSION.split('.').map(Number) as [number, number]
  const cmp = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1]
  if (cmp(v, [maxMajor, maxMinor]) > 0) return `client version ${v.join('.')} is too new. Maximum supported API version is ${DOCKER_API_VERSION}`
  if (cmp(v, [minMajor, minMinor]) < 0) return `client version ${v.join('.')} is too old. Minimum supported API version is ${DOCKER_MIN_API_VERSION}, please upgrade your client to a newer version`
  return null
}

/** The middleware: docker's paths are answered here, any other goes to `next` (mesh's own routes). */
export function dockerApi(o: DockerApiOptions): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const url = new URL(req.url ?? '/', 'http://docker')
    const p = dockerPath(url.pathname)
    if (!p) return next()
    for (const [k, v] of Object.entries(pingHeaders())) res.setHeader(k, v)
    // On 7947 the caller was authenticated before (auth.ts): admins only, as the rest of the cluster API.
    const who = o.local ? 'admin' : caller(res).kind
    if (who !== 'admin') {
      return sendError(res, who === 'node' ? 403 : 401, 'the Docker API wants an admin client certificate (mesh ca issue-client NAME --out DIR; DOCKER_CERT_PATH=DIR)')
    }
    try {
      if (p.version) {
        const problem = versionProblem(p.version)
        if (problem) return sendError(res, 400, problem)
      }
      const method = req.method ?? 'GET'
      const ping = p.path === '/_ping' || p.path === '/_ping/'
      // Autolock: as the rest of the API, nothing is answered while the vault is locked (but /_ping, as dockerd's).
      if (o.manager.vault.locked && !ping) return sendError(res, 503, new ManagerLockedError().message)
      if (ping) {
        if (method !== 'GET' && method !== 'HEAD') return sendError(res, 405, 'method not allowed')
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 2 })
        return res.end(method === 'HEAD' ? undefined : 'OK')
      }
      if (method !== 'GET' && method !== 'HEAD') return sendError(res, 501, readOnlyMessage(method, p.path))
      const [route, id] = routeOf(p.path)
      const handler = ROUTES[route]
      if (!handler) {
        const pointer = notServedMessage(p.path)
        return pointer ? sendError(res, 501, pointer) : sendError(res, 404, 'page not found')
      }
      const body = handler(o, url.searchParams, req, res, id)
      if (body !== undefined) send(res, 200, body)
    } catch (err) {
      if (err instanceof DockerApiError) return sendError(res, err.status, err.message)
      if (err instanceof MeshError) return sendError(res, 400, err.message)
      sendError(res, 500, (err as Error).message ?? 'internal error')
    }
  }
}

/**
 * GET /events: JSON messages, one per line as dockerd writes them: the buffered events since `since` (none without
 * it), then live ones until `until` (or until the client goes). Headers go out at once (the docker CLI waits for them).
 */
function streamEvents(o: DockerApiOptions, q: Query, req: IncomingMessage, res: ServerResponse): undefined {
  const f = parseFilters(q.get('filters') ?? undefined, EVENT_FILTERS)
  const since = eventTime(q.get('since') ?? undefined, 'since')
  const until = eventTime(q.get('until') ?? undefined, 'until')
  if (since !== undefined && until !== undefined && until < since) throw new DockerApiError(400, 'since time must be before until time')
  const log = o.manager.events
  const clock = o.manager.clock
  streaming(req)
  res.writeHead(200, { 'content-type': 'application/json' })
  res.flushHeaders()
  let last = since === undefined ? log.lastId : 0
  const put = (e: Parameters<typeof dockerEvent>[0]): void => {
    if (e.id <= last) return
    last = e.id
    if (until !== undefined && e.time > until) return
    const d = dockerEvent(e)
    if (d && eventMatches(d, f)) res.write(`${JSON.stringify(d)}\n`)
  }
  const unsubscribe = log.subscribe(put)
  if (since !== undefined) for (const e of log.since(since)) put(e)
  const now = o.manager.now()
  let timer: ReturnType<typeof clock.setTimeout> | null = null
  const end = (): void => {
    unsubscribe()
    clock.clearTimeout(timer)
    res.end()
  }
  if (until !== undefined) {
    if (until <= now) end()
    else timer = clock.setTimeout(end, until - now)
  }
  req.on('close', () => { unsubscribe(); clock.clearTimeout(timer) })
  return undefined
}
