/**
 * The manager's observability routes, mounted on the API app (same port, same unix socket) by `mountObserve`:
 *
 *   GET  /v1/events?since=10m&filter=type=task   NDJSON: buffered events since a time/duration, then live ones
 *   GET  /ui, /ui/app.js, /ui/traffic.js, /ui/style.css  the dashboard (src/manager/ui, no framework, works offline)
 *   POST /ui/login                               a one-time login code → a session, cookie `mesh_session`
 *   POST /ui/logout                              ends the session on the manager and clears the cookie
 *   POST /v1/ui/login-codes                      admin: mint a login code (`mesh ui login`)
 *   GET  /v1/ui/view                             the dashboard's cluster view, once (JSON)
 *   GET  /v1/ui/stream                           server-sent events: `view` on every change, `event` per event,
 *                                                `traffic` (rates, traffic-api.ts) now and once per 5 s bucket
 *   GET  /metrics                                Prometheus text: manager metrics (the agent's full set when wired)
 *
 * Auth: mounted after the API's caller middleware (api.ts), which lets a request without a bearer token through
 * as `anonymous` to these routes only. /v1/events and the dashboard's read routes want an admin caller (the unix
 * socket, the admin credential) or a live dashboard session (src/manager/sessions.ts); /metrics and minting a code
 * want an admin caller. Nothing trusts a loopback address, and neither a join token nor a node certificate logs in.
 * A stream opened with a session ends when the session does (logout, idle time, lifetime).
 * Never: write to the store; they only read the manager's view and follow its watch.
 */
import express, { type Request, type Response } from 'express'
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import type { TimerHandle } from '../../base/clock.ts'
import { matchesFilter, parseEventFilters, parseSince, EventQueryError, type ClusterEvent, type EventFilter } from '../events.ts'
import type { Manager } from '../manager.ts'
import { completedTasks } from '../jobs.ts'
import { isJobMode, modeName } from '../../api/index.ts'
import { every } from './every.ts'
import { sendError } from './http-error.ts'
import { streaming } from './limits.ts'
import { registerManagerMetrics } from '../metrics.ts'
import { streamTraffic, trafficView } from './traffic-api.ts'
import { TERMINAL_STATES, type ClusterState, type NodeRecord, type PortSpec, type ServiceRecord, type TaskRecord } from '../../api/types.ts'

export interface ObserveOptions {
  manager: Manager
  /** Unix-socket listener: every request is trusted. */
  local: boolean
  /** What GET /metrics serves. Default: a registry with the manager's metrics only. */
  metrics?: Registry
  /** Node facts for the dashboard, keyed by hostname. Default: none. */
  nodeFacts?: NodeFactsSource
  /** The dashboard's address as `mesh ui login` prints it. Default: none. */
  dashboardUrl?: string
  /** Who is calling, as the API's caller middleware decided (api.ts `caller`). */
  caller: (res: Response) => { kind: string }
}

/** What the dashboard knows about a node beyond the store (from this manager's WireGuard). */
export interface NodeFacts {
  /** Tunnel from this manager to the node: up (handshake < 3 min), stale, none (never), self. */
  tunnel?: 'up' | 'stale' | 'none' | 'self'
  /** Seconds since the last WireGuard handshake with it. */
  handshakeAgeS?: number
}
export type NodeFactsSource = () => Promise<Map<string, NodeFacts>> | Map<string, NodeFacts>

/** A registry with the manager's metrics only (an API app built without the agent's registry). */
function managerRegistry(manager: Manager): Registry {
  const r = new Registry()
  registerManagerMetrics(r, manager)
  return r
}

// ---- the compact view the dashboard renders -------------------------------------------------------------

export interface ViewNode {
  id: string
  name: string
  role: NodeRecord['role']
  availability: NodeRecord['availability']
  state: NodeRecord['state']
  addr: string
  /** The overlay subnet registered for the node (PUT /v1/agent/overlay), e.g. 10.77.12.0/24; absent until it registers. */
  subnet?: string
  tunnel?: NodeFacts['tunnel']
  handshakeAgeS?: number
}
export interface ViewService {
  id: string
  name: string
  image: string
  /** As `service ls` shows it: replicated, global, replicated job, global job. */
  mode: string
  running: number
  /** Replicas, or the live tasks (global services and jobs). */
  desired: number
  /** Jobs: tasks of the current run that completed. */
  completed?: number
  ports: Pick<PortSpec, 'published' | 'target' | 'protocol' | 'mode'>[]
  vip?: string
  update?: string
}
export interface ViewTask {
  id: string
  service: string
  serviceId: string
  slot: number
  nodeId: string
  state: TaskRecord['status']['state']
  desired: TaskRecord['desiredState']
  image: string
  message: string
  err?: string
  ip?: string
}
export interface ClusterView {
  revision: number
  nodes: ViewNode[]
  services: ViewService[]
  tasks: ViewTask[]
}

/** The cluster as the dashboard shows it: every node and service; tasks that run, should run or are stopping. */
export function clusterView(source: { readonly revision: number; getState(): ClusterState }, facts: Map<string, NodeFacts>): ClusterView {
  const revision = source.revision
  const state = source.getState()
  const nodes = state.nodes.map((n): ViewNode => ({
    id: n.id, name: n.hostname, role: n.role, availability: n.availability, state: n.state, addr: n.addr,
    ...(n.overlay ? { subnet: n.overlay.subnet } : {}), ...facts.get(n.hostname),
  }))
  const shown = state.tasks.filter((t) => t.desiredState === 'running' || !TERMINAL_STATES.includes(t.status.state))
  const services = state.services.map((s: ServiceRecord): ViewService => {
    const mine = state.tasks.filter((t) => t.serviceId === s.id && t.desiredState === 'running')
    return {
      id: s.id, name: s.spec.name, image: s.spec.image, mode: modeName(s.spec.mode),
      running: mine.filter((t) => t.status.state === 'running').length,
      desired: 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : mine.length,
      ...(isJobMode(s.spec.mode) ? { completed: completedTasks(s, state.tasks) } : {}),
      ports: s.spec.ports.map((p) => ({ published: p.published, target: p.target, protocol: p.protocol, mode: p.mode })),
      ...(s.vip ? { vip: s.vip } : {}), ...(s.updateStatus ? { update: s.updateStatus.state } : {}),
    }
  })
  const tasks = shown.map((t): ViewTask => ({
    id: t.id, service: t.serviceName, serviceId: t.serviceId, slot: t.slot, nodeId: t.nodeId, state: t.status.state,
    desired: t.desiredState, image: t.spec.image, message: t.status.message,
    ...(t.status.err ? { err: t.status.err } : {}), ...(t.ip ? { ip: t.ip } : {}),
  }))
  tasks.sort((a, b) => a.service.localeCompare(b.service) || a.slot - b.slot || a.id.localeCompare(b.id))
  return { revision, nodes, services, tasks }
}

async function factsOf(src: NodeFactsSource | undefined): Promise<Map<string, NodeFacts>> {
  if (!src) return new Map()
  try {
    return await src()
  } catch {
    return new Map()
  }
}

// ---- auth -----------------------------------------------------------------------------------------------

export const SESSION_COOKIE = 'mesh_session'

/** How often a stream opened with a session checks that the session still lives, ms. */
const SESSION_CHECK_MS = 5000

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

/** The session cookie's header: Secure, HttpOnly, SameSite=Strict, for the session's absolute lifetime at most. */
export function sessionCookie(id: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${id}; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}`
}

// ---- static files ---------------------------------------------------------------------------------------

const UI_DIR = new URL('../ui/', import.meta.url)
const UI_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'login.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'traffic.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
}
const uiCache = new Map<string, Buffer>()

function uiFile(res: Response, name: string): void {
  let body = uiCache.get(name)
  if (!body) {
    body = readFileSync(new URL(name, UI_DIR))
    uiCache.set(name, body)
  }
  res.set({ 'content-type': UI_FILES[name] as string, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' })
  res.set('content-security-policy', "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
  res.send(body)
}

// ---- routes ---------------------------------------------------------------------------------------------

/** Mount the routes on the API app, after its caller middleware and before its JSON body parser. */
export function mountObserve(app: express.Express, o: ObserveOptions): void {
  const m = o.manager
  const log = m.events
  const clock = m.clock
  const sessions = m.sessions
  const registry = o.metrics ?? managerRegistry(m)
  const isAdmin = (res: Response): boolean => o.caller(res).kind === 'admin'
  /** Who may look: an admin caller, or a live session (the request restarts its idle time). */
  const viewer = (req: Request, res: Response): { session?: string } | null => {
    if (isAdmin(res)) return {}
    const id = cookie(req, SESSION_COOKIE)
    return id && sessions.check(id) ? { session: id } : null
  }
  const deny = (res: Response, what: string): void => {
    if (o.caller(res).kind === 'node') return sendError(res, 403, 'MESH_ERR_FORBIDDEN', `a node certificate cannot read ${what}`)
    res.set('connection', 'close')
    sendError(res, 401, 'MESH_ERR_UNAUTHORIZED', `${what} needs an admin credential or a dashboard session (log in at /ui with a code from \`mesh ui login\`)`)
  }
  const guard = (what: string) => (req: Request, res: Response, next: () => void): void => {
    const v = viewer(req, res)
    if (!v) return deny(res, what)
    res.locals.session = v.session
    next()
  }
  /** End a stream opened with a session once that session is over; returns the stop function. */
  const endWithSession = (res: Response): (() => void) => {
    const id = res.locals.session as string | undefined
    if (!id) return () => undefined
    return every(clock, SESSION_CHECK_MS, () => {
      if (!sessions.check(id, false)) res.end()
    })
  }

  app.get(['/ui', '/ui/', '/ui/index.html'], (req, res) => {
    uiFile(res, viewer(req, res) ? 'index.html' : 'login.html')
  })
  app.get(['/ui/app.js', '/ui/traffic.js', '/ui/style.css', '/ui/login.html'], (req, res) => uiFile(res, req.path.slice('/ui/'.length)))
  // The attempt is counted before the body is read; over the budget, the code is not even looked at.
  app.post('/ui/login', (req, res, next) => {
    if (sessions.allowAttempt(req.socket.remoteAddress ?? 'local')) return next()
    res.set({ connection: 'close', 'retry-after': '60' })
    res.status(429).type('text/plain').send('too many login attempts from this address: wait a minute\n')
  }, express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
    const code = (req.body as { code?: unknown } | undefined)?.code
    const id = typeof code === 'string' ? sessions.login(code) : null
    if (!id) {
      res.status(401).type('text/plain').send('wrong, used or expired login code: get a new one with `mesh ui login` on a manager\n')
      return
    }
    res.setHeader('set-cookie', sessionCookie(id, sessions.limits.sessionLifetimeMs / 1000))
    res.redirect(303, '/ui')
  })
  app.post('/ui/logout', (req, res) => {
    sessions.logout(cookie(req, SESSION_COOKIE))
    res.setHeader('set-cookie', sessionCookie('', 0))
    res.redirect(303, '/ui')
  })
  app.post('/v1/ui/login-codes', (_req, res) => {
    if (!isAdmin(res)) return sendError(res, 403, 'MESH_ERR_FORBIDDEN', 'only an admin can mint dashboard login codes')
    const { code, expiresInMs } = sessions.mintCode()
    res.set('cache-control', 'no-store')
    res.status(201).json({ code, expiresInS: Math.floor(expiresInMs / 1000), ...(o.dashboardUrl ? { url: o.dashboardUrl } : {}) })
  })

  app.get('/v1/ui/view', guard('the cluster view'), async (_req, res) => {
    res.json({ ...clusterView(m, await factsOf(o.nodeFacts)), traffic: trafficView(m) })
  })

  app.get('/v1/ui/stream', guard('the cluster view'), (req, res) => {
    streaming(req)
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write('retry: 2000\n\n')
    let last = ''
    let timer: TimerHandle | null = null
    let closed = false
    let sending = false
    const send = async (): Promise<void> => {
      timer = null
      if (closed || sending) return
      sending = true
      try {
        const data = JSON.stringify(clusterView(m, await factsOf(o.nodeFacts)))
        if (!closed && data !== last) {
          last = data
          res.write(`event: view\ndata: ${data}\n\n`)
        }
      } catch {
        // the store closed under us (shutdown); the connection goes with it
      } finally {
        sending = false
      }
    }
    const soon = (ms: number): void => {
      if (!timer && !closed) timer = clock.setTimeout(() => void send(), ms)
    }
    const writeEvent = (e: ClusterEvent): void => {
      if (!closed) res.write(`event: event\nid: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`)
    }
    void send()
    const traffic = streamTraffic(res, m, clock)
    for (const e of log.since(0).slice(-50)) writeEvent(e)
    const unwatch = m.watch(() => soon(250)) // coalesce bursts: the view is the whole cluster
    const unsubscribe = log.subscribe(writeEvent)
    // Node facts (overlay subnet, tunnel health) do not go through the store: refresh them now and then.
    const facts = every(clock, 5000, () => soon(0))
    const heartbeat = every(clock, 15_000, () => res.write(': ping\n\n'))
    const session = endWithSession(res)
    res.on('close', () => {
      closed = true
      traffic()
      session()
      unwatch()
      unsubscribe()
      facts()
      heartbeat()
      clock.clearTimeout(timer)
    })
  })

  app.get('/v1/events', guard('/v1/events'), (req, res) => {
    let filter: EventFilter
    let since: number | null = null
    try {
      const raw = req.query.filter
      filter = parseEventFilters(raw === undefined ? [] : Array.isArray(raw) ? raw.map(String) : [String(raw)])
      if (typeof req.query.since === 'string' && req.query.since !== '') since = parseSince(req.query.since, m.now())
    } catch (err) {
      if (err instanceof EventQueryError) {
        sendError(res, 400, err.code, err.message)
        return
      }
      throw err
    }
    streaming(req)
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' })
    // History and subscription in one tick: nothing falls between them.
    if (since !== null) for (const e of log.since(since, filter)) res.write(`${JSON.stringify(e)}\n`)
    const unsubscribe = log.subscribe((e) => {
      if (matchesFilter(e, filter)) res.write(`${JSON.stringify(e)}\n`)
    })
    const heartbeat = every(clock, 10_000, () => res.write('{}\n'))
    const session = endWithSession(res)
    res.on('close', () => {
      session()
      unsubscribe()
      heartbeat()
    })
  })

  app.get('/metrics', async (_req, res) => {
    if (!isAdmin(res)) return deny(res, '/metrics') // Prometheus scrapes with an admin credential (a client certificate after the TLS change)
    res.set('content-type', registry.contentType).send(await registry.metrics())
  })
}

