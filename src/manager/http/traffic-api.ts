/**
 * Live traffic on the manager's API (traffic.ts holds the rates):
 *
 *   POST /v1/agent/traffic   a node's cumulative ingress and tunnel counters (node certificate; about itself only)
 *   the `traffic` events of GET /v1/ui/stream (observe-api.ts calls `streamTraffic`)
 *
 * The reporter is the caller's certificate: a body that names another node gets 403, a malformed one 400
 * (MESH_ERR_TRAFFIC_REPORT), and neither changes any rate. Services without a published port and peers that are
 * not nodes are ignored. Never: write to the store.
 */
import type express from 'express'
import type { Response } from 'express'
import type { Clock, TimerHandle } from '../../base/clock.ts'
import type { ClusterState, NodeRecord } from '../../api/types.ts'
import { trafficLimits } from '../../config/traffic.ts'
import type { Manager } from '../manager.ts'
import { TrafficReportError } from '../errors.ts'
import { parseTrafficReport } from '../traffic-report.ts'
import type { TrafficKnown, TrafficView } from '../traffic.ts'
import { caller, requireNode } from './auth.ts'
import { sendError } from './http-error.ts'

/** The services traffic is kept for (those with a port published through the ingress) and the nodes, by name. */
export function trafficKnown(state: Pick<ClusterState, 'nodes' | 'services'>): TrafficKnown {
  return {
    services: new Set(state.services.filter((s) => s.spec.ports.some((p) => p.mode !== 'host')).map((s) => s.spec.name)),
    nodes: new Set(state.nodes.map((n) => n.hostname)),
  }
}

/** trafficKnown of the manager's store, read again only when its revision moved (reports come every 2 s per node). */
function knownOf(m: Manager): () => TrafficKnown {
  let cached: { revision: number; known: TrafficKnown } | null = null
  return () => {
    const revision = m.revision
    if (cached?.revision !== revision) cached = { revision, known: trafficKnown({ nodes: m.listNodes(), services: m.listServices() }) }
    return cached.known
  }
}

/** The rates as the dashboard gets them: the last `points` buckets (all of them by default). */
export function trafficView(m: Manager, points?: number): TrafficView {
  return m.traffic.view(trafficKnown({ nodes: m.listNodes(), services: m.listServices() }), points)
}

/** Mount POST /v1/agent/traffic (after the JSON body parser). */
export function mountTraffic(app: express.Express, m: Manager): void {
  const limits = trafficLimits()
  const known = knownOf(m)
  app.post('/v1/agent/traffic', requireNode, (req, res) => {
    const node = (caller(res) as { node: NodeRecord }).node
    let report
    try {
      report = parseTrafficReport(req.body, limits)
    } catch (err) {
      if (err instanceof TrafficReportError) return sendError(res, 400, err.code, err.message)
      throw err
    }
    if (report.node !== undefined && report.node !== node.hostname) {
      return sendError(res, 403, 'MESH_ERR_FORBIDDEN', `node "${node.hostname}" cannot report traffic for "${report.node}"`)
    }
    m.traffic.accept(node.hostname, report, known())
    res.json({ accepted: true })
  })
}

/** Buckets in each `traffic` event after the first: the newest, and two more in case one went out short. */
const UPDATE_POINTS = 3

/**
 * Write a `traffic` event to a dashboard stream now (the whole history: sparklines are full on load) and then once
 * per bucket, `settleMs` after it closes (so every node's report for it is in), with the last UPDATE_POINTS buckets
 * (the page lays them over what it has, by time). Returns the stop function.
 */
export function streamTraffic(res: Response, m: Manager, clock: Clock): () => void {
  const { bucketMs, settleMs } = trafficLimits()
  let timer: TimerHandle | null = null
  let stopped = false
  const write = (points?: number): void => {
    try {
      res.write(`event: traffic\ndata: ${JSON.stringify(trafficView(m, points))}\n\n`)
    } catch {
      // the store closed under us (shutdown); the connection goes with it
    }
  }
  const arm = (): void => {
    if (stopped) return
    const now = m.now()
    const next = Math.floor((now - settleMs) / bucketMs + 1) * bucketMs + settleMs
    timer = clock.setTimeout(() => {
      write(UPDATE_POINTS)
      arm()
    }, Math.max(1, next - now))
  }
  write()
  arm()
  return () => {
    stopped = true
    clock.clearTimeout(timer)
  }
}
