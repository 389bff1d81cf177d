import type { Test } from 'tap'
import type { LabNode } from '../../lab/index.ts'
import { waitFor } from '../../support/procs.ts'

/** What networks can leave on a node: Docker networks, mesh's links, routes, the nft table and DOCKER-USER. */
export async function footprint(n: LabNode): Promise<Record<string, string>> {
  const [networks, links, routes, nft, user] = await Promise.all([
    n.docker(['network', 'ls', '--format', '{{.Name}}']),
    n.exec(['sh', '-c', 'ip -br link show | awk \'{print $1}\' | grep -E "^(mbr|mvx)-" || true']),
    n.exec(['ip', 'route', 'show']),
    n.exec(['sh', '-c', 'nft list table inet mesh | grep -vE "^\\s*$" | sed -E "s/counter packets [0-9]+ bytes [0-9]+ //"']),
    n.exec(['sh', '-c', 'iptables -S DOCKER-USER 2>/dev/null || true']),
  ])
  const sorted = (s: { stdout: string }) => s.stdout.trim().split('\n').map((l) => l.replace(/ linkdown\s*$/, '').trimEnd()).sort().join('\n')
  return { networks: sorted(networks), links: sorted(links), routes: sorted(routes), nft: sorted(nft), dockerUser: sorted(user) }
}

/**
 * What a part's networks left on a node: the lines of `after` that name a network (a Docker network but the default
 * one; a line naming a network bridge, a VXLAN device or the pool 10.80.0.0/12) and were not in `before`. Lines that
 * were there before and went away (an earlier part's networks still being torn down when the part began, the default
 * overlay settling when the part runs first) are not the part's doing.
 */
export function leftBehind(before: Record<string, string>, after: Record<string, string>): Record<string, string[]> {
  const ofNetworks = (k: string, v: string) => v.split('\n').filter((l) => l !== '' &&
    (k === 'networks' ? l !== 'mesh' : /mbr-|mvx-|\b10\.(8\d|9[0-5])\./.test(l)))
  const out: Record<string, string[]> = {}
  for (const [k, v] of Object.entries(after)) {
    const had = new Set(ofNetworks(k, before[k] ?? ''))
    const left = ofNetworks(k, v).filter((l) => !had.has(l))
    if (left.length > 0) out[k] = left
  }
  return out
}

/** Checks, on every node (bounded wait: 30 s each), that nothing of the part's networks is left (leftBehind). */
export async function expectNothingLeft(t: Test, nodes: LabNode[], before: Record<string, string>[], what: string): Promise<void> {
  for (const [i, n] of nodes.entries()) {
    const b = before[i] as Record<string, string>
    const left = await waitFor(async () => {
      const l = leftBehind(b, await footprint(n))
      return Object.keys(l).length === 0 ? l : null
    }, 30_000, { intervalMs: 1000, what: `${n.name}: nothing of the part's networks left` }).catch(async () => leftBehind(b, await footprint(n)))
    t.same(left, {}, `${n.name}: ${what}`)
  }
}
