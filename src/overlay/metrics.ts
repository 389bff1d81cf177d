/**
 * Prometheus metrics of the overlay, read at scrape time from `Overlay.status()` (at most once a second, shared by
 * every metric of one scrape). Registered by the agent: `registerOverlayMetrics(registry, overlay)`.
 *
 *   mesh_overlay_enabled                         1 when this node runs the WireGuard overlay
 *   mesh_overlay_peers                           WireGuard peers configured
 *   mesh_overlay_peer_handshake_age_seconds{peer}  since the last handshake (-1: never)
 *   mesh_overlay_peer_{rx,tx}_bytes_total{peer}
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { OverlayStatus } from './index.ts'

/** What the metrics read: `Overlay` fits. */
export interface OverlayStatusSource {
  status(): Promise<OverlayStatus>
}

/** `status()` once per scrape (several metrics read it), and never more than once a second; null when it fails. */
export function cachedOverlayStatus(overlay: OverlayStatusSource): () => Promise<OverlayStatus | null> {
  let at = 0
  let last: Promise<OverlayStatus | null> = Promise.resolve(null)
  return () => {
    const now = Date.now()
    if (now - at > 1000) {
      at = now
      last = overlay.status().catch(() => null)
    }
    return last
  }
}

export function registerOverlayMetrics(registry: Registry, overlay: OverlayStatusSource): void {
  const status = cachedOverlayStatus(overlay)
  const registers = [registry]
  new Gauge({
    name: 'mesh_overlay_enabled', help: '1 when this node runs the WireGuard overlay.', registers,
    async collect() {
      this.set((await status())?.enabled ? 1 : 0)
    },
  })
  new Gauge({
    name: 'mesh_overlay_peers', help: 'WireGuard peers configured on this node.', registers,
    async collect() {
      this.set((await status())?.peers.length ?? 0)
    },
  })
  new Counter({
    name: 'mesh_overlay_peers_rejected_total', help: 'Members skipped as WireGuard peers because a gossip tag failed a check (subnet, key, port, address) or did not match the manager\'s registration.', registers,
    async collect() {
      this.reset()
      this.inc((await status())?.rejectedPeers ?? 0)
    },
  })
  new Gauge({
    name: 'mesh_overlay_peer_handshake_age_seconds', help: 'Seconds since the last WireGuard handshake with a peer (-1: never).', labelNames: ['peer'], registers,
    async collect() {
      this.reset()
      const now = Date.now() / 1000
      for (const p of (await status())?.peers ?? []) this.set({ peer: p.node }, p.lastHandshakeS > 0 ? Math.max(0, Math.round(now - p.lastHandshakeS)) : -1)
    },
  })
  for (const [dir, key] of [['rx', 'rxBytes'], ['tx', 'txBytes']] as const) {
    new Counter({
      name: `mesh_overlay_peer_${dir}_bytes_total`, help: `Bytes ${dir === 'rx' ? 'received from' : 'sent to'} a WireGuard peer.`, labelNames: ['peer'], registers,
      async collect() {
        this.reset()
        for (const p of (await status())?.peers ?? []) this.inc({ peer: p.node }, p[key])
      },
    })
  }
}
