/**
 * The manager's observability routes, mounted on the API app (same port, same unix socket) by `mountObserve`:
 *
 *   GET  /v1/events?since=10m&filter=type=task   NDJSON: buffered events since a time/duration, then live ones
 *   GET  /ui, /ui/app.js, /ui/style.css          the dashboard (src/manager/ui, no framework, works offline)
 *   POST /ui/login                               token form → cookie `mesh_token` (HttpOnly, SameSite=Strict)
 *   GET  /v1/ui/view                             the dashboard's cluster view, once (JSON)
 *   GET  /v1/ui/stream                           server-sent events: `view` on every change, `event` per event
 *   GET  /metrics                                Prometheus text: manager metrics (the agent's full set when wired)
 *
 * Auth: the unix socket and loopback peers (127/8, ::1) need no token; anyone else sends the manager token as
 * `Authorization: Bearer …` or the `mesh_token` cookie (what the login form sets). Node credentials are refused.
 * These routes are mounted ahead of the API's bearer-token middleware and answer every request they match.
 * Never: write to the store; they only read the manager's view and follow its watch.
 */
import express, { type Request, type Response } from 'express'
import { readFileSync } from 'node:fs'
import { Registry } from 'prom-client'
import type { TimerHandle } from '../../base/clock.ts'
import { matchesFilter, parseEventFilters, parseSince, EventQueryError, type ClusterEvent, type EventFilter } from '../events.ts'
import type { Manager } from '../manager.ts'
import { every } from './every.ts'
import { sendError } from './http-error.ts'
import { streaming } from './limits.ts'
import { sameSecret } from '../../base/secret.ts'
import { registerManagerMetrics } from '../metrics.ts'
import { TERMINAL_STATES, type ClusterState, type NodeRecord, type PortSpec, type ServiceRecord, type TaskRecord } from '../../api/types.ts'

export interface ObserveOptions {
  manager: Manager
  /** Unix-socket listener: every request is trusted. */
  local: boolean
  /** What GET /metrics serves. Default: a registry with the manager's metrics only. */
  metrics?: Registry
  /** Node facts for the dashboard, keyed by hostname. Default: none. */
  nodeFacts?: NodeFactsSource
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
  mode: 'replicated' | 'global'
  running: number
  desired: number
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
      id: s.id, name: s.spec.name, image: s.spec.image, mode: 'replicated' in s.spec.mode ? 'replicated' : 'global',
      running: mine.filter((t) => t.status.state === 'running').length,
      desired: 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : mine.length,
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

export const TOKEN_COOKIE = 'mesh_token'

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false
  return addr === '::1' || /^(::ffff:)?127\./.test(addr)
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim())
  }
  return undefined
}

function trusted(req: Request, o: ObserveOptions): boolean {
  if (o.local || isLoopback(req.socket.remoteAddress)) return true
  const want = o.manager.tokens().manager
  if (!want) return false
  const bearer = /^Bearer\s+(\S+)$/.exec(req.headers.authorization ?? '')?.[1]
  return sameSecret(bearer ?? '', want) || sameSecret(cookie(req, TOKEN_COOKIE) ?? '', want)
}

function deny(res: Response): void {
  res.set('connection', 'close')
  sendError(res, 401, 'MESH_ERR_UNAUTHORIZED', 'send the manager token (Authorization: Bearer …) or log in at /ui')
}

// ---- static files ---------------------------------------------------------------------------------------

const UI_DIR = new URL('../ui/', import.meta.url)
const UI_FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'login.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
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

/** Mount the routes on the API app, ahead of its token middleware. */
export function mountObserve(app: express.Express, o: ObserveOptions): void {
  const m = o.manager
  const log = m.events
  const clock = m.clock
  const registry = o.metrics ?? managerRegistry(m)
  const guard = (req: Request, res: Response, next: () => void): void => {
    if (trusted(req, o)) next()
    else deny(res)
  }

  app.get(['/ui', '/ui/', '/ui/index.html'], (req, res) => {
    uiFile(res, trusted(req, o) ? 'index.html' : 'login.html')
  })
  app.get(['/ui/app.js', '/ui/style.css', '/ui/login.html'], (req, res) => uiFile(res, req.path.slice('/ui/'.length)))
  app.post('/ui/login', express.urlencoded({ extended: false, limit: '4kb' }), (req, res) => {
    const token = String((req.body as { token?: unknown } | undefined)?.token ?? '').trim()
    if (!sameSecret(token, o.manager.tokens().manager)) {
      res.status(401).type('text/plain').send('wrong token: use the manager token (`mesh token show manager -q` on a manager)\n')
      return
    }
    res.setHeader('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=604800`)
    res.redirect(303, '/ui')
  })
  app.post('/ui/logout', (_req, res) => {
    res.setHeader('set-cookie', `${TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`)
    res.redirect(303, '/ui')
  })

  app.get('/v1/ui/view', guard, async (_req, res) => {
    res.json(clusterView(m, await factsOf(o.nodeFacts)))
  })

  app.get('/v1/ui/stream', guard, (req, res) => {
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
    for (const e of log.since(0).slice(-50)) writeEvent(e)
    const unwatch = m.watch(() => soon(250)) // coalesce bursts: the view is the whole cluster
    const unsubscribe = log.subscribe(writeEvent)
    // Node facts (overlay subnet, tunnel health) do not go through the store: refresh them now and then.
    const facts = every(clock, 5000, () => soon(0))
    const heartbeat = every(clock, 15_000, () => res.write(': ping\n\n'))
    res.on('close', () => {
      closed = true
      unwatch()
      unsubscribe()
      facts()
      heartbeat()
      clock.clearTimeout(timer)
    })
  })

  app.get('/v1/events', guard, (req, res) => {
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
    res.on('close', () => {
      unsubscribe()
      heartbeat()
    })
  })

  app.get('/metrics', guard, async (_req, res) => {
    res.set('content-type', registry.contentType).send(await registry.metrics())
  })
}

