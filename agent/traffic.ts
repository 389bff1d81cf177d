/**
 * agent/traffic.ts — wires the traffic reporter (src/worker traffic-reporter.ts): this node's ingress ports (the
 * data plane) and WireGuard peers (the overlay) every 2 s to the manager, for the dashboard's live traffic.
 */
import { realClock } from '../src/base/clock.ts'
import { TRAFFIC_REPORT_MS } from '../src/config/traffic.ts'
import { cachedOverlayStatus, type Overlay } from '../src/overlay/index.ts'
import { TrafficReporter, trafficReport, type ManagerEndpoint } from '../src/worker/index.ts'
import type { DataPlane } from './dataplane.ts'
import type { Logger } from './log.ts'

export function startTrafficReporter(o: { node: string; dataPlane: DataPlane; overlay: Overlay; transport: Pick<ManagerEndpoint, 'postTraffic'>; log: Logger }): TrafficReporter {
  const overlayStatus = cachedOverlayStatus(o.overlay)
  const log = o.log.child({ sub: 'traffic' })
  const reporter = new TrafficReporter({
    clock: realClock(), intervalMs: TRAFFIC_REPORT_MS,
    sample: async () => trafficReport(o.node, o.dataPlane.status().ingress.ports, (await overlayStatus())?.peers ?? [], Date.now() / 1000),
    send: async (r) => {
      const reply = await o.transport.postTraffic(r)
      if (reply.status !== 200) throw new Error(`HTTP ${reply.status}: ${reply.message}`)
    },
    log: (level, msg, fields) => log[level](fields ?? {}, msg),
  })
  reporter.start()
  return reporter
}
