/**
 * Which WireGuard the overlay reports, against the real binaries: a WireGuardTunnel started in a throwaway network
 * namespace (wg-impl-child.ts) with the wireguard-go on PATH (Debian 13's, as test/setup.sh installs it) and, when
 * setup kept it, Debian 12's (/var/cache/mesh/wireguard-go-bookworm). describe() must name the running executable,
 * its version, whether it does GSO/GRO, and the UDP buffers its socket really has: Debian 13's forces 7 MiB (the
 * kernel reports it doubled), Debian 12's keeps the namespace's net.core.rmem_default.
 * Needs root, ip, ss and /dev/net/tun; skipped (with the reason) otherwise. Namespaces are removed in teardown.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { WireGuardImpl } from '../../../src/api/index.ts'

const which = (cmd: string): string | null => {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : null
}
const tools = which('ip') !== null && which('ss') !== null && existsSync('/dev/net/tun')
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, ip, ss and /dev/net/tun' : false
const DEBIAN12 = '/var/cache/mesh/wireguard-go-bookworm/wireguard-go'
const child = fileURLToPath(new URL('./wg-impl-child.ts', import.meta.url))

function describeIn(bin: string): WireGuardImpl {
  const ns = `wgi${randomBytes(3).toString('hex')}`
  execFileSync('ip', ['netns', 'add', ns])
  try {
    const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, child], {
      env: { ...process.env, WG_BIN: bin, WG_IF: ns }, encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'],
    })
    return JSON.parse(out) as WireGuardImpl
  } finally {
    spawnSync('ip', ['netns', 'del', ns])
  }
}

t.test("the wireguard-go on PATH: its binary, version, GSO/GRO and forced UDP buffers", { skip: skip || (which('wireguard-go') ? false : 'no wireguard-go on PATH'), timeout: 60_000 }, async (t) => {
  const bin = which('wireguard-go') as string
  const d = describeIn(bin)
  t.equal(d.kind, 'userspace')
  t.equal(d.binary, realpathSync(bin), 'the executable that runs')
  const v = execFileSync(bin, ['--version'], { encoding: 'utf8' })
  t.ok(d.version !== null && v.includes(`v${d.version}`), `version as the binary prints it (${d.version})`)
  if (d.gso) t.ok((d.udpRcvBufBytes ?? 0) >= 7 << 20 && (d.udpSndBufBytes ?? 0) >= 7 << 20, `GSO release: 7 MiB buffers forced (${d.udpRcvBufBytes})`)
  else t.comment(`wireguard-go ${d.version} on PATH has no GSO/GRO: run test/setup.sh`)
})

t.test("Debian 12's wireguard-go: no GSO/GRO, the namespace's default buffers", { skip: skip || (existsSync(DEBIAN12) ? false : `no ${DEBIAN12} (test/setup.sh keeps it)`), timeout: 60_000 }, async (t) => {
  const d = describeIn(DEBIAN12)
  t.same({ kind: d.kind, binary: d.binary, version: d.version, gso: d.gso }, { kind: 'userspace', binary: DEBIAN12, version: '0.0.20220316', gso: false })
  t.ok(d.udpRcvBufBytes !== null && d.udpRcvBufBytes < 7 << 20, `buffers left at the default (${d.udpRcvBufBytes})`)
})
