import { isIP } from 'node:net'

/** Raw address bytes as memberlist sends them (4 bytes for IPv4, 16 for IPv6) → text; null if neither. */
export function ipFromBytes(b: Uint8Array): string | null {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  if (b.length === 16) {
    const groups: string[] = []
    for (let i = 0; i < 16; i += 2) groups.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16))
    const v4mapped = groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff'
    if (v4mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`
    return compressV6(groups)
  }
  return null
}

/** Text → raw bytes (4 or 16); throws TypeError for anything that is not an IP literal. */
export function ipToBytes(ip: string): Uint8Array {
  const kind = isIP(ip)
  if (kind === 4) return Uint8Array.from(ip.split('.').map(Number))
  if (kind === 6) {
    let text = ip
    let tail: number[] = []
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
    if (v4) {
      tail = (v4[1] as string).split('.').map(Number)
      const hi = ((tail[0] as number) << 8) | (tail[1] as number)
      const lo = ((tail[2] as number) << 8) | (tail[3] as number)
      text = text.slice(0, -(v4[1] as string).length) + `${hi.toString(16)}:${lo.toString(16)}`
    }
    const [head, rest] = text.split('::') as [string, string | undefined]
    const h = head === '' ? [] : head.split(':')
    const r = rest === undefined ? [] : rest === '' ? [] : rest.split(':')
    const fill = rest === undefined ? 0 : 8 - h.length - r.length
    const groups = [...h, ...Array<string>(fill).fill('0'), ...r].map((g) => parseInt(g, 16))
    const out = new Uint8Array(16)
    groups.forEach((g, i) => {
      out[2 * i] = g >> 8
      out[2 * i + 1] = g & 0xff
    })
    return out
  }
  throw new TypeError(`not an IP address: ${ip}`)
}

function compressV6(groups: string[]): string {
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue }
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i }
    i = j
  }
  if (bestStart < 0) return groups.join(':')
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLen).join(':')}`
}
