import type { LabNode } from '../../lab/index.ts'

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
