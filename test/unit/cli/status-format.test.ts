import t from 'tap'
import { formatDataPlane, formatGossipKeys } from '../../../mesh/status.ts'
import { formatLeave } from '../../../mesh/leave.ts'
import type { DataPlaneStatus } from '../../../src/api/index.ts'

const status: DataPlaneStatus = {
  catalogRevision: 42, services: 2, downNodes: ['node4'],
  vips: [
    { service: 'web', vip: '10.78.0.2', endpointMode: 'vip', endpoints: 2, serving: 2, ports: 'all' },
    { service: 'db', vip: null, endpointMode: 'dnsrr', endpoints: 1, serving: 1, ports: 'none' },
    { service: 'cache', vip: '10.78.0.3', endpointMode: 'vip', endpoints: 1, serving: 0, ports: 'refused' },
  ],
  ingress: {
    mode: 'userspace',
    ports: [{
      service: 'web', protocol: 'tcp', published: 8080, target: 80, open: 1, bytesIn: 2048, bytesOut: 10, queuedBytes: 0, errors: 1, retries: 1, rejected: 0,
      endpoints: [
        { key: '10.77.1.2:80', taskName: 'web.1', node: 'node2', ip: '10.77.1.2', port: 80, state: 'running', health: 'none', ejected: false, ejectedForMs: 0, ejections: 0, open: 1, connections: 7, errors: 0, bytesIn: 2048, bytesOut: 10 },
        { key: '10.77.2.2:80', taskName: 'web.2', node: 'node3', ip: '10.77.2.2', port: 80, state: 'running', health: 'healthy', ejected: true, ejectedForMs: 1500, ejections: 1, open: 0, connections: 3, errors: 1, bytesIn: 0, bytesOut: 0 },
      ],
    }],
  },
  dns: {
    running: true, listen: [{ host: '127.0.0.11', port: 53 }, { host: '10.77.1.1', port: 53 }], upstreams: ['10.0.0.254:53'], domain: 'mesh.', ttlSec: 5,
    zone: { revision: 42, names: 9 }, answered: 12, forwarded: 3, forwardInflight: 0, forwardTimeouts: 0, dropped: 0, formerr: 0, tcpConnections: 0,
  },
}

t.test('mesh status: VIPs, published ports with their endpoints, and the DNS', async (t) => {
  const out = formatDataPlane(status)
  t.match(out, /^Ingress: userspace {3}catalog revision 42, 2 service\(s\) {3}nodes out of rotation \(gossip\): node4$/m)
  t.match(out, /^SERVICE\s+VIP\s+PORTS\s+SERVING$/m)
  t.match(out, /^web\s+10\.78\.0\.2\s+all tcp\/udp\s+2\/2$/m, 'a vip service shows its VIP, balanced on every port')
  t.match(out, /^db\s+dnsrr\s+-\s+1\/1$/m, 'a dnsrr service says so')
  t.match(out, /^cache\s+10\.78\.0\.3\s+refused \(no serving task\)\s+0\/1$/m, 'a VIP with no serving task refuses')
  t.match(out, /^web {2}8080\/tcp → 80 {3}open 1, in 2\.0 KiB, out 10 B, errors 1, retries 1$/m)
  t.match(out, /^web\.1\s+node2\s+10\.77\.1\.2:80\s+running\s+none\s+1\s+7\s+0\s+2\.0 KiB\s+10 B$/m)
  t.match(out, /^web\.2\s+node3\s+10\.77\.2\.2:80\s+ejected 2s\s+healthy\s+0\s+3\s+1\s+0 B\s+0 B$/m, 'an ejected endpoint shows how long it is out')
  t.match(out, /^DNS: 127\.0\.0\.11:53, 10\.77\.1\.1:53 {3}domain mesh\. {3}TTL 5s {3}upstreams 10\.0\.0\.254:53 {3}answered 12, forwarded 3$/m)
  t.notMatch(formatDataPlane({ ...status, ingress: { mode: 'nft', ports: [] } }), /8080/, 'no port, no table')
  const workers = [{ id: 0, running: true, restarts: 0, answered: 7 }, { id: 1, running: true, restarts: 0, answered: 5 }, { id: 2, running: false, restarts: 1, answered: 0 }]
  t.match(formatDataPlane({ ...status, dns: { ...status.dns!, udp: 'batched', workers } }), /answered 12, forwarded 3 {3}udp batched {3}workers 3 \(answered 7 \/ 5 \/ 0 down\)$/m,
    'with DNS workers: responses per thread')
})

t.test('mesh status: which path serves each port, why auto chose userspace, nodes out of the kernel rules', async (t) => {
  const port = status.ingress.ports[0]!
  const cases = [
    { name: 'nft, kernel path', ingress: { mode: 'nft', downNodes: ['node3'], ports: [{ ...port, path: 'nft' as const }] },
      want: [/^Ingress: nft {3}nodes out of the kernel rules \(node check\): node3 {3}catalog revision 42/m, /^web {2}8080\/tcp → 80 {3}via nft {3}open 1/m] },
    { name: 'nft, a PROXY protocol port', ingress: { mode: 'nft', ports: [{ ...port, proxyProtocol: 'v2' as const, path: 'userspace' as const, pathReason: 'PROXY protocol (the proxy writes the header)' }] },
      want: [/^Ingress: nft {3}catalog/m, /^web {2}8080\/tcp → 80 \(PROXY v2\) {3}via userspace \(PROXY protocol \(the proxy writes the header\)\) {3}open 1/m] },
    { name: 'auto chose userspace', ingress: { mode: 'userspace', modeReason: 'auto: not root', ports: [{ ...port, path: 'userspace' as const }] },
      want: [/^Ingress: userspace \(auto: not root\) {3}catalog/m, /^web {2}8080\/tcp → 80 {3}via userspace {3}open 1/m] },
  ]
  for (const c of cases) {
    const out = formatDataPlane({ ...status, ingress: c.ingress })
    for (const w of c.want) t.match(out, w, c.name)
  }
})

t.test('gossip keys line: fingerprints only', async (t) => {
  t.equal(formatGossipKeys({ encrypted: true, keys: [{ fingerprint: 'sha256:aaaa', primary: true }, { fingerprint: 'sha256:bbbb', primary: false }] }),
    'Gossip: encrypted, 2 keys installed, primary sha256:aaaa')
  t.equal(formatGossipKeys({ encrypted: false, keys: [] }), 'Gossip: NOT encrypted (--gossip-plaintext)')
})

t.test('mesh leave output: docker\'s line on stdout, warnings on stderr', async (t) => {
  t.same(formatLeave({ message: 'Node left the swarm.', warnings: [], forgot: ['node.json'] }), { stdout: 'Node left the swarm.\n', stderr: '' })
  t.same(formatLeave({ message: 'Node left the swarm.', warnings: ['the manager was not told (ECONNREFUSED): it shows this node Down until mesh node rm there'], forgot: [] }), {
    stdout: 'Node left the swarm.\n', stderr: 'mesh: warning: the manager was not told (ECONNREFUSED): it shows this node Down until mesh node rm there\n',
  })
})
