import { readlinkSync } from 'node:fs'
import type { WireGuardImpl } from '../api/index.ts'
import { run } from './exec.ts'

/**
 * Which WireGuard the node runs, as the agent logs it at start and `mesh status` shows it: kernel, or wireguard-go
 * with its version, whether its tun I/O does TCP GSO/GRO, and the UDP socket buffers it ended up with.
 *
 * The buffers are measured, not set: wireguard-go from v0.0.20230223 on asks for 7 MiB with SO_RCVBUFFORCE /
 * SO_SNDBUFFORCE (root has CAP_NET_ADMIN, so net.core.rmem_max does not cap it); older releases (Debian 12's
 * 0.0.20220316) never set them and get net.core.rmem_default (usually 208 KiB), which drops datagrams under load.
 * The agent changes no sysctl: they are the host's (or the netns owner's), apply to every socket there, and a
 * wireguard-go that needs them raised is better replaced (docs/install.md).
 */

/** The first wireguard-go release with vectorised tun I/O (TCP GSO/GRO) and forced 7 MiB UDP buffers. */
export const WG_GO_GSO_SINCE = '0.0.20230223'

/** `wireguard-go --version` output → `0.0.20230223`, or null when it names no version. */
export function parseWgGoVersion(out: string): string | null {
  return /wireguard-go v?(\d+(?:\.\d+)+)/.exec(out)?.[1] ?? null
}

/** Dotted numeric versions compared part by part (missing parts are 0): negative, 0 or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** Whether a wireguard-go version does TCP GSO/GRO on its tun; null when the version is unknown. */
export function wgGoHasGso(version: string | null): boolean | null {
  return version === null ? null : compareVersions(version, WG_GO_GSO_SINCE) >= 0
}

/**
 * The receive and send buffer sizes of the UDP socket bound to `port` that process `pid` owns, from `ss -uampnH`
 * output (`skmem:(…,rb<bytes>,…,tb<bytes>,…)` on the line after the socket's); null when none matches.
 */
export function parseSsBuffers(out: string, port: number, pid: number): { rcvBytes: number; sndBytes: number } | null {
  const lines = out.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string
    if (!new RegExp(`:${port}\\s`).test(l) || !l.includes(`pid=${pid},`)) continue
    const mem = `${l} ${lines[i + 1] ?? ''}`
    const rb = /\brb(\d+)/.exec(mem)
    const tb = /\btb(\d+)/.exec(mem)
    if (rb && tb) return { rcvBytes: Number(rb[1]), sndBytes: Number(tb[1]) }
  }
  return null
}

/** The log/status record for kernel WireGuard. */
export const KERNEL_IMPL: WireGuardImpl = { kind: 'kernel', binary: null, version: null, gso: null, udpRcvBufBytes: null, udpSndBufBytes: null }

/**
 * What a running wireguard-go is (adapter): its executable (/proc/PID/exe, which also answers for a binary an
 * upgrade replaced on disk), `--version` of that very executable, and its UDP buffers on `port` from `ss`.
 * Each part is null when it cannot be read; describing never fails the overlay.
 */
export async function describeWgGo(pid: number, port: number): Promise<WireGuardImpl> {
  let binary: string | null = null
  try {
    binary = readlinkSync(`/proc/${pid}/exe`)
  } catch { /* gone, or not ours to read */ }
  const version = binary === null ? null : parseWgGoVersion(await run(`/proc/${pid}/exe`, ['--version'], { timeoutMs: 5_000 }).catch(() => ''))
  const ss = await run('ss', ['-uampnH', `sport = :${port}`], { timeoutMs: 5_000 }).catch(() => '')
  const buf = parseSsBuffers(ss, port, pid)
  return {
    kind: 'userspace', binary, version, gso: wgGoHasGso(version),
    udpRcvBufBytes: buf?.rcvBytes ?? null, udpSndBufBytes: buf?.sndBytes ?? null,
  }
}

/** One log line's worth: what to warn about a wireguard-go (old: no GSO/GRO; small UDP buffers), or null. */
export function wgGoAdvice(impl: WireGuardImpl): string | null {
  if (impl.kind !== 'userspace') return null
  if (impl.gso === false) {
    return `wireguard-go ${impl.version} has no TCP GSO/GRO and keeps the default UDP buffers (overlay throughput ` +
      `a fraction of ${WG_GO_GSO_SINCE}'s or later): install a newer one (docs/install.md: Debian 13's package, pinned)`
  }
  return null
}
