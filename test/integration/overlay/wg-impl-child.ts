// Runs inside a throwaway network namespace (`ip netns exec`), started by wg-impl-netns.test.ts: brings up a
// WireGuardTunnel with the wireguard-go binary $WG_BIN on interface $WG_IF (no kernel WireGuard on the test
// machine, or it is not what is asked: $WG_IF is then kernel and the test says so), sets its listen port, prints
// what describe() reports as JSON, and stops the tunnel. Started any other way it does nothing and says why.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WireGuardTunnel } from '../../../src/overlay/tunnel.ts'

if (process.env.WG_BIN === undefined || process.env.WG_IF === undefined) {
  process.stderr.write('wg-impl-child.ts: no $WG_BIN/$WG_IF: wg-impl-netns.test.ts starts it in a throwaway namespace\n')
  process.exit(0)
}
const dataDir = mkdtempSync(join(tmpdir(), 'mesh-wg-impl-'))
const tunnel = new WireGuardTunnel({ ifname: process.env.WG_IF, mtu: 1420, runDir: '/var/run/wireguard', dataDir, wireguardGo: process.env.WG_BIN })
try {
  await tunnel.start()
  await tunnel.control.set({ listenPort: 51899 })
  process.stdout.write(JSON.stringify(await tunnel.describe(51899)))
} finally {
  await tunnel.stop().catch(() => undefined)
  rmSync(dataDir, { recursive: true, force: true })
}
