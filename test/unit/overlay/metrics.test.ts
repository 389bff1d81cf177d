import t from 'tap'
import { Registry } from 'prom-client'
import { registerOverlayMetrics, type OverlayStatus } from '../../../src/overlay/index.ts'
import { parsePromText } from '../../support/prom-text.ts'

const status = (o: Partial<OverlayStatus>): OverlayStatus => ({
  enabled: true, subnet: '10.77.3.0/24', held: true, gateway: '10.77.3.1', ifname: 'mesh0', kind: 'kernel', mtu: 1420,
  publicKey: 'k', peers: [], rejectedPeers: 0, ...o,
})

t.test('overlay metrics: one status() per scrape, peers by name', async (t) => {
  let calls = 0
  const now = Math.round(Date.now() / 1000)
  const registry = new Registry()
  registerOverlayMetrics(registry, {
    status: async () => {
      calls++
      return status({ peers: [
        { node: 'b', subnet: '10.77.4.0/24', endpoint: '10.0.0.4:51820', lastHandshakeS: now - 30, rxBytes: 100, txBytes: 200 },
        { node: 'c', subnet: '10.77.5.0/24', endpoint: '10.0.0.5:51820', lastHandshakeS: 0, rxBytes: 0, txBytes: 0 },
      ], rejectedPeers: 3 })
    },
  })
  const m = parsePromText(await registry.metrics())
  t.equal(calls, 1, 'every metric of a scrape shares one status()')
  t.equal(m.get('mesh_overlay_enabled'), 1)
  t.equal(m.get('mesh_overlay_peers'), 2)
  t.equal(m.get('mesh_overlay_peers_rejected_total'), 3, 'members skipped for a bad tag')
  t.ok(Math.abs((m.get('mesh_overlay_peer_handshake_age_seconds', { peer: 'b' }) ?? 0) - 30) <= 2)
  t.equal(m.get('mesh_overlay_peer_handshake_age_seconds', { peer: 'c' }), -1, 'never shook hands')
  t.equal(m.get('mesh_overlay_peer_rx_bytes_total', { peer: 'b' }), 100)
  t.equal(m.get('mesh_overlay_peer_tx_bytes_total', { peer: 'b' }), 200)
})

t.test('a failing status() reads as a disabled overlay with no peers', async (t) => {
  const registry = new Registry()
  registerOverlayMetrics(registry, { status: async () => { throw new Error('uapi down') } })
  const m = parsePromText(await registry.metrics())
  t.equal(m.get('mesh_overlay_enabled'), 0)
  t.equal(m.get('mesh_overlay_peers'), 0)
})
