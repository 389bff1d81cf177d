import t from 'tap'
import { effectiveMode, formatInitialCluster, memberArgs, memberConfig, type MemberOptions, restartDelayMs, clientUrls, peerUrl } from '../../../../src/manager/etcd/index.ts'

const base: MemberOptions = {
  name: 'node-a1', addr: '10.0.0.11', dataDir: '/var/lib/mesh/etcd', clusterToken: 'cluster-1',
  tls: { caFile: '/var/lib/mesh/etcd-tls/ca.pem', certFile: '/var/lib/mesh/etcd-tls/member.pem', keyFile: '/var/lib/mesh/etcd-tls/member-key.pem' },
}

function flag(args: string[], name: string): string | undefined {
  return args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
}

t.test('defaults: ports 2379/2380, timing for a loaded lab, quota and compaction', async (t) => {
  const c = memberConfig(base)
  t.equal(c.clientPort, 2379)
  t.equal(c.peerPort, 2380)
  t.same(c.timing, { heartbeatMs: 250, electionMs: 2500, leaseTtlSeconds: 5 })
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.timing) && Object.isFrozen(c.tls), 'frozen')
  t.same(clientUrls(c), ['https://10.0.0.11:2379', 'https://127.0.0.1:2379'])
  t.equal(peerUrl(c), 'https://10.0.0.11:2380')
  t.same(clientUrls(memberConfig({ ...base, addr: '127.0.0.1' })), ['https://127.0.0.1:2379'], 'loopback listed once')
  t.equal(peerUrl(memberConfig({ ...base, addr: 'fd00::1' })), 'https://[fd00::1]:2380', 'IPv6 in brackets')
})

t.test('every start: mutual TLS on client and peer listeners with the cluster CA, timing, quota, compaction', async (t) => {
  const args = memberArgs(memberConfig(base), { kind: 'init' })
  const want: Record<string, string> = {
    name: 'node-a1', 'data-dir': '/var/lib/mesh/etcd',
    'listen-client-urls': 'https://10.0.0.11:2379,https://127.0.0.1:2379', 'advertise-client-urls': 'https://10.0.0.11:2379,https://127.0.0.1:2379',
    'listen-peer-urls': 'https://10.0.0.11:2380', 'initial-advertise-peer-urls': 'https://10.0.0.11:2380',
    'client-cert-auth': 'true', 'trusted-ca-file': base.tls.caFile, 'cert-file': base.tls.certFile, 'key-file': base.tls.keyFile,
    'client-cert-allowed-hostname': 'etcd-member.mesh.invalid', 'peer-cert-allowed-hostname': 'etcd-member.mesh.invalid',
    'peer-client-cert-auth': 'true', 'peer-trusted-ca-file': base.tls.caFile, 'peer-cert-file': base.tls.certFile, 'peer-key-file': base.tls.keyFile,
    'heartbeat-interval': '250', 'election-timeout': '2500', 'quota-backend-bytes': String(2 * 1024 ** 3),
    'auto-compaction-mode': 'periodic', 'auto-compaction-retention': '1h', 'strict-reconfig-check': 'true', 'pre-vote': 'true',
  }
  for (const [k, v] of Object.entries(want)) t.equal(flag(args, k), v, k)
  t.notOk(args.some((a) => a.startsWith('http://') || a.includes('=http://')), 'no plain-HTTP URL')
})

const cases = [
  {
    name: 'init: a new one-member cluster',
    mode: { kind: 'init' } as const,
    want: { 'initial-cluster': 'node-a1=https://10.0.0.11:2380', 'initial-cluster-state': 'new', 'initial-cluster-token': 'cluster-1' },
  },
  {
    name: 'join: the full initial cluster, state existing',
    mode: { kind: 'join', initialCluster: [{ name: 'node-m1', peerUrl: 'https://10.0.0.10:2380' }, { name: 'node-a1', peerUrl: 'https://10.0.0.11:2380' }] } as const,
    want: { 'initial-cluster': 'node-m1=https://10.0.0.10:2380,node-a1=https://10.0.0.11:2380', 'initial-cluster-state': 'existing', 'initial-cluster-token': 'cluster-1' },
  },
  {
    name: 'restart: no initial-* flag (etcd starts from its data dir)',
    mode: { kind: 'restart' } as const,
    want: { 'initial-cluster': undefined, 'initial-cluster-state': undefined, 'initial-cluster-token': undefined },
  },
]
for (const c of cases) {
  t.test(c.name, async (t) => {
    const args = memberArgs(memberConfig(base), c.mode)
    for (const [k, v] of Object.entries(c.want)) t.equal(flag(args, k), v, k)
  })
}

t.test('a join that does not list the member, or lists it under another peer URL, is refused', async (t) => {
  const c = memberConfig(base)
  t.throws(() => memberArgs(c, { kind: 'join', initialCluster: [{ name: 'node-m1', peerUrl: 'https://10.0.0.10:2380' }] }), { code: 'MESH_ERR_ETCD_MEMBER', message: /must list the member itself/ })
  t.throws(() => memberArgs(c, { kind: 'join', initialCluster: [{ name: 'node-a1', peerUrl: 'https://10.0.0.99:2380' }] }), { message: /added with peer URL https:\/\/10.0.0.99:2380/ })
})

t.test('initial cluster entries etcd would misparse are refused', async (t) => {
  t.throws(() => formatInitialCluster([{ name: 'a,b', peerUrl: 'https://10.0.0.1:2380' }]), { code: 'MESH_ERR_ETCD_MEMBER' })
  t.throws(() => formatInitialCluster([{ name: 'a', peerUrl: 'http://10.0.0.1:2380' }]), { message: /must be https/ })
  t.throws(() => formatInitialCluster([{ name: 'a', peerUrl: 'https://10.0.0.1:2380,b=https://x' }]))
})

t.test('a data dir that holds a member restarts from it, whatever was asked', async (t) => {
  const join = { kind: 'join', initialCluster: [] } as const
  t.same(effectiveMode({ kind: 'init' }, true), { kind: 'restart' })
  t.same(effectiveMode(join, true), { kind: 'restart' })
  t.same(effectiveMode({ kind: 'init' }, false), { kind: 'init' })
  t.same(effectiveMode(join, false), join)
})

t.test('restart backoff doubles from 0.5 s to a 30 s cap', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 7, 8, 50].map(restartDelayMs), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000])
})

const bad: Array<{ name: string; o: Partial<MemberOptions>; msg: RegExp }> = [
  { name: 'a name that is not a node id', o: { name: 'a b' }, msg: /must be a node id/ },
  { name: 'a host name instead of an address', o: { addr: 'node1' }, msg: /is not an IP address/ },
  { name: 'port 0', o: { clientPort: 0 }, msg: /client port must be 1–65535/ },
  { name: 'the same client and peer port', o: { clientPort: 2380 }, msg: /ports must differ/ },
  { name: 'an election timeout under 5 heartbeats', o: { timing: { heartbeatMs: 250, electionMs: 1000, leaseTtlSeconds: 5 } }, msg: /election timeout must be 5 × the heartbeat \(1250 ms\)/ },
  { name: 'a 1 s lease', o: { timing: { heartbeatMs: 250, electionMs: 2500, leaseTtlSeconds: 1 } }, msg: /lease TTL must be 2–600 s/ },
  { name: 'a tiny quota', o: { quotaBackendBytes: 1024 }, msg: /backend quota/ },
  { name: 'no compaction retention', o: { autoCompactionHours: 0 }, msg: /auto-compaction/ },
]
for (const b of bad) {
  t.test(`refused: ${b.name}`, async (t) => {
    t.throws(() => memberConfig({ ...base, ...b.o }), { code: 'MESH_ERR_ETCD_MEMBER', message: b.msg })
  })
}
