/**
 * `--store etcd://…` as the agent reads it: the URL parsed into endpoints and a key prefix, the TLS files checked
 * before any connection, and the config refusing store flags that make no sense together. One line each, no state.
 */
import t from 'tap'
import { ConfigError } from '../../../src/base/errors.ts'
import { etcdClient, parseEtcdUrl } from '../../../src/manager/etcd-store/index.ts'
import { loadConfig } from '../../../src/config/index.ts'

t.test('parseEtcdUrl', async (t) => {
  const cases = [
    { desc: 'one member', url: 'etcd://10.0.0.7:2379', want: { endpoints: ['10.0.0.7:2379'] } },
    { desc: 'three members', url: 'etcd://a:1,b:2,c:3', want: { endpoints: ['a:1', 'b:2', 'c:3'] } },
    { desc: 'a prefix', url: 'etcd://a:1/prod', want: { endpoints: ['a:1'], prefix: '/prod/' } },
    { desc: 'a nested prefix', url: 'etcd://a:1/x/y/', want: { endpoints: ['a:1'], prefix: '/x/y/' } },
    { desc: 'IPv6', url: 'etcd://[fd00::1]:2379', want: { endpoints: ['[fd00::1]:2379'] } },
  ]
  for (const c of cases) t.same(parseEtcdUrl(c.url), c.want, c.desc)
  const bad = [
    { desc: 'http scheme', url: 'http://a:2379', re: /expected etcd:\/\/HOST:PORT/ },
    { desc: 'no port', url: 'etcd://a', re: /"a" is not HOST:PORT/ },
    { desc: 'port out of range', url: 'etcd://a:70000', re: /"a:70000" is not HOST:PORT/ },
    { desc: 'an empty member', url: 'etcd://a:1,,b:2', re: /"" is not HOST:PORT/ },
    { desc: 'a bad prefix', url: 'etcd://a:1/pro d', re: /key prefix/ },
  ]
  for (const c of bad) {
    const err = t.throws(() => parseEtcdUrl(c.url), c.desc)
    t.ok(err instanceof ConfigError, `${c.desc}: ConfigError`)
    t.match((err as Error).message, c.re, c.desc)
  }
})

t.test('etcdClient checks the TLS files before connecting', async (t) => {
  const url = parseEtcdUrl('etcd://127.0.0.1:1')
  const cases = [
    { desc: 'cert without key', tls: { ca: '/x', cert: '/y' }, re: /--store-cert and --store-key go together/ },
    { desc: 'cert without CA', tls: { cert: '/y', key: '/z' }, re: /--store-cert needs --store-ca/ },
    { desc: 'a missing CA file', tls: { ca: '/nonexistent/ca.pem' }, re: /--store-ca \/nonexistent\/ca.pem: ENOENT/ },
  ]
  for (const c of cases) t.throws(() => etcdClient(url, c.tls), { name: 'ConfigError', message: c.re }, c.desc)
})

t.test('the config refuses store settings that do not go together', async (t) => {
  const base = { gossip: { name: 'n1', bindAddr: '127.0.0.5' } }
  const cases = [
    { desc: 'not etcd', cluster: { store: 'sqlite:///x' }, re: /--store "sqlite:\/\/\/x": want etcd \(a member this manager runs\) or etcd:\/\/HOST:PORT/ },
    { desc: 'TLS files with a managed etcd', cluster: { store: 'etcd', storeCa: '/ca.pem' }, re: /a managed etcd uses the cluster CA/ },
    { desc: 'the own member\'s ports the same', cluster: { store: 'etcd', etcdClientPort: 2400, etcdPeerPort: 2400 }, re: /--etcd-client-port and --etcd-peer-port must differ \(both 2400\)/ },
    { desc: 'a port out of range', cluster: { etcdPeerPort: 70000 }, re: /cluster.etcdPeerPort 70000: must be 1-65535/ },
    { desc: 'TLS files without a store', cluster: { storeCa: '/ca.pem' }, re: /go with --store etcd/ },
    { desc: 'a store on a joining worker', cluster: { store: 'etcd://a:1', token: 'MESHTKN-x' }, re: /a node joining with --token takes none/ },
    { desc: 'a heartbeat out of range', cluster: { etcdHeartbeatMs: 5 }, re: /--etcd-heartbeat-ms 5: must be 10-5000/ },
    { desc: 'an election timeout under 5 heartbeats', cluster: { etcdHeartbeatMs: 250, etcdElectionMs: 1000 }, re: /--etcd-election-ms 1000: must be 5 × --etcd-heartbeat-ms \(1250\) to 50000/ },
    { desc: 'a lease under etcd\'s floor', cluster: { etcdElectionMs: 2500, leaderLeaseSeconds: 3 }, re: /--leader-lease-s 3: etcd grants no lease shorter than 1.5 × --etcd-election-ms \(3.75 s\)/ },
  ]
  for (const c of cases) {
    t.throws(() => loadConfig({ env: {}, flags: { ...base, cluster: c.cluster } }), { code: 'MESH_ERR_CONFIG', message: c.re }, c.desc)
  }
  t.equal(loadConfig({ env: {}, flags: base }).cluster.store, '', 'SQLite stays the default')
  t.equal(loadConfig({ env: {}, flags: { ...base, cluster: { init: true, store: 'etcd' } } }).cluster.store, 'etcd', 'a managed etcd')
})

t.test('an etcd nobody answers at: open() fails with one line naming it', async (t) => {
  const { EtcdStore } = await import('../../../src/manager/etcd-store/index.ts')
  const { freePort } = await import('../../support/etcd.ts')
  const url = parseEtcdUrl(`etcd://127.0.0.1:${await freePort()}`)
  const s = new EtcdStore(etcdClient(url, {}, { callTimeoutMs: 500 }), { describe: url.endpoints.join(',') })
  const err = await s.open().then(() => null, (e: unknown) => e as Error & { code: string })
  t.equal(err?.code, 'MESH_ERR_STORE')
  t.match(err?.message, new RegExp(`^${url.endpoints[0]}: cannot open the store: .+`))
  t.notMatch(err?.message, /\n/, 'one line')
  t.throws(() => s.listNodes(), /not open/, 'and the store stays closed')
})
