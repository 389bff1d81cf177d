import { isIPv6 } from 'node:net'
import { MeshError } from './errors.ts'
import { ipv4ToInt, parseCidr } from './cidr.ts'

/**
 * Checks for values that cross a trust boundary (reported by another node, read from gossip tags or a catalog
 * snapshot) on their way to `nft`, `ip`, `wg` or a WireGuard UAPI text. Pure predicates for the places that skip a
 * bad value (and log it); `plainText` for the text builders, which refuse outright as a last line of defence.
 * Docs: docs/security.md lists which value is checked where.
 */

/** A value from the network was about to reach a system tool's text (nft, UAPI, wg) unchecked. */
export class UnsafeValueError extends MeshError {
  constructor(message: string) {
    super('MESH_ERR_UNSAFE_VALUE', message)
  }
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** True when the text holds a newline or another control character. */
export function hasControlChars(s: string): boolean {
  return CONTROL.test(s)
}

/** `value` unchanged, or an UnsafeValueError naming `what` when it is not a string free of control characters. */
export function plainText(value: unknown, what: string): string {
  if (typeof value !== 'string' || hasControlChars(value)) throw new UnsafeValueError(`${what} ${JSON.stringify(value)}: control characters (or not text); refused`)
  return value
}

/** A canonical dotted-quad IPv4 address: four decimal octets 0-255, no leading zeros, nothing else (src/base/cidr.ts's rules). */
export function isIpv4(s: unknown): s is string {
  return typeof s === 'string' && ipv4ToInt(s) !== null
}

/** A TCP/UDP port: an integer 1-65535. */
export function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535
}

/** A port written in decimal as gossip tags carry it ("51820"), or null. */
export function parsePort(s: unknown): number | null {
  if (typeof s !== 'string' || !/^[1-9]\d{0,4}$/.test(s)) return null
  const n = Number(s)
  return isPort(n) ? n : null
}

/** `a.b.c.d:port` or `[v6]:port`, as WireGuard takes an endpoint. */
export function isEndpoint(s: unknown): s is string {
  if (typeof s !== 'string') return false
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([\d.]+)):(\d{1,5})$/.exec(s)
  if (!m) return false
  const hostOk = m[1] !== undefined ? isIPv6(m[1]) : isIpv4(m[2])
  return hostOk && parsePort(m[3]) !== null
}

/** A canonical IPv4 network `a.b.c.d/p` (p 0-32, no host bits set; src/base/cidr.ts's rules). */
export function isIpv4Cidr(s: unknown): s is string {
  if (typeof s !== 'string') return false
  try {
    parseCidr(s)
    return true
  } catch {
    return false
  }
}

/**
 * A WireGuard public key exactly as `wg` prints it: 32 bytes in canonical base64 (44 characters, the last character
 * before `=` carrying no stray bits), nothing else. Checked before a key from another node reaches UAPI or the store.
 */
export function isWireGuardKey(b64: unknown): b64 is string {
  return typeof b64 === 'string' && /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(b64)
}
