/**
 * Every `mesh agent` flag has a config-file key (a host runs the agent from /etc/mesh/agent.yaml under systemd, with
 * no flags): the test walks the agent command's options, and for each one loads the config twice, once with the
 * flag and once with the key in a file, and wants the same Config, different from the one without either. A new
 * flag without a row here, or whose key the file refuses or reads differently, fails.
 */
import t from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { agentCommand, flagsToConfig } from '../../../mesh/agent.ts'
import { loadConfig } from '../../../src/config/index.ts'

const d = mkdtempSync(join(tmpdir(), 'mesh-keys-'))
t.teardown(() => rmSync(d, { recursive: true, force: true }))
const TOKEN = `MESHTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`
const KEY = Buffer.alloc(32, 7).toString('base64')
writeFileSync(join(d, 'token'), `${TOKEN}\n`, { mode: 0o600 })
writeFileSync(join(d, 'gossip.key'), `${KEY}\n`, { mode: 0o600 })

/** Flags that have no key, and why. */
const NO_KEY: Record<string, string> = { '--config': 'names the file itself' }

/** flag → [argv value(s), the same setting as file keys]. */
const ROWS: Record<string, [string[], Record<string, unknown>]> = {
  '--bind': [['10.0.0.5:7000'], { gossip: { bindAddr: '10.0.0.5', bindPort: 7000 } }],
  '--advertise': [['10.0.0.6:7001'], { gossip: { advertiseAddr: '10.0.0.6', advertisePort: 7001 } }],
  '--join': [['10.0.0.2,10.0.0.3'], { gossip: { join: ['10.0.0.2', '10.0.0.3'] } }],
  '--name': [['node9'], { gossip: { name: 'node9' } }],
  '--encrypt': [[KEY], { gossip: { encryptKeys: [KEY] } }],
  '--encrypt-file': [[join(d, 'gossip.key')], { gossip: { encryptFile: join(d, 'gossip.key') } }],
  '--gossip-plaintext': [[], { gossip: { plaintext: true } }],
  '--gossip-key-rotation': [['2h'], { cluster: { gossipKeyRotationMs: 7_200_000 } }],
  '--tag': [['zone=a'], { gossip: { tags: { zone: 'a' } } }],
  '--overlay': [['off'], { overlay: { mode: 'off' } }],
  '--overlay-range': [['10.90.0.0/16'], { overlay: { range: '10.90.0.0/16' } }],
  '--init': [[], { cluster: { init: true } }],
  '--autolock': [['--init'], { cluster: { init: true, autolock: true } }],
  '--store': [['etcd://10.0.0.7:2379,10.0.0.8:2379'], { cluster: { store: 'etcd://10.0.0.7:2379,10.0.0.8:2379' } }],
  '--store-ca': [['/etc/mesh/ca.pem', '--store', 'etcd://10.0.0.7:2379'], { cluster: { storeCa: '/etc/mesh/ca.pem', store: 'etcd://10.0.0.7:2379' } }],
  '--store-cert': [['/etc/mesh/c.pem', '--store', 'etcd://10.0.0.7:2379'], { cluster: { storeCert: '/etc/mesh/c.pem', store: 'etcd://10.0.0.7:2379' } }],
  '--store-key': [['/etc/mesh/c.key', '--store', 'etcd://10.0.0.7:2379'], { cluster: { storeKey: '/etc/mesh/c.key', store: 'etcd://10.0.0.7:2379' } }],
  '--etcd-client-port': [['2479', '--store', 'etcd'], { cluster: { etcdClientPort: 2479, store: 'etcd' } }],
  '--etcd-peer-port': [['2480'], { cluster: { etcdPeerPort: 2480 } }],
  '--etcd-heartbeat-ms': [['100'], { cluster: { etcdHeartbeatMs: 100 } }],
  '--etcd-election-ms': [['3000'], { cluster: { etcdElectionMs: 3000 } }],
  '--leader-lease-s': [['10'], { cluster: { leaderLeaseSeconds: 10 } }],
  '--token': [[TOKEN], { cluster: { token: TOKEN } }],
  '--token-file': [[join(d, 'token')], { cluster: { tokenFile: join(d, 'token') } }],
  '--manager': [['10.0.0.1:7950'], { cluster: { manager: '10.0.0.1:7950' } }],
  '--api-port': [['7950'], { cluster: { apiPort: 7950 } }],
  '--vip-range': [['10.91.0.0/16'], { cluster: { vipRange: '10.91.0.0/16' } }],
  '--default-addr-pool': [['10.96.0.0/12'], { cluster: { defaultAddrPool: '10.96.0.0/12' } }],
  '--default-addr-pool-mask-length': [['22'], { cluster: { defaultAddrPoolMaskLength: 22 } }],
  '--cert-expiry': [['48h'], { cluster: { certExpiryMs: 172_800_000 } }],
  '--metrics-addr': [['off'], { metricsAddr: 'off' }],
  '--ingress-mode': [['nft'], { dataPlane: { ingressMode: 'nft' } }],
  '--ingress-prefer-local': [['on'], { dataPlane: { ingressPreferLocal: true } }],
  '--ingress-idle-timeout': [['30m'], { dataPlane: { ingressIdleTimeoutMs: 1_800_000 } }],
  '--ingress-fd-budget': [['30000'], { dataPlane: { ingressFdBudget: 30_000 } }],
  '--ingress-max-per-source': [['64'], { dataPlane: { ingressMaxPerSource: 64 } }],
  '--ingress-max-udp-flows': [['4096'], { dataPlane: { ingressMaxUdpFlows: 4096 } }],
  '--dns': [['off'], { dataPlane: { dns: false } }],
  '--dns-upstream': [['1.1.1.1'], { dataPlane: { dnsUpstreams: ['1.1.1.1'] } }],
  '--dns-udp': [['dgram'], { dataPlane: { dnsUdp: 'dgram' } }],
  '--dns-workers': [['3'], { dataPlane: { dnsWorkers: 3 } }],
  '--nft-exec': [['lib'], { dataPlane: { nftExec: 'lib' } }],
  '--data-dir': [['/srv/mesh'], { dataDir: '/srv/mesh' }],
  '--log-level': [['debug'], { logLevel: 'debug' }],
  '--profile': [['local'], { profile: 'local' }],
}

// Both loads start from the same file, so neither depends on the host's name or addresses.
const BASE = { gossip: { name: 'base', bindAddr: '127.0.0.5' } }
const deepMerge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
  const out = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k]
    out[k] = prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object' && !Array.isArray(v)
      ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>) : v
  }
  return out
}
let n = 0
const fileWith = (o: Record<string, unknown>): string => {
  const p = join(d, `cfg-${++n}.yaml`)
  writeFileSync(p, JSON.stringify(o), { mode: 0o600 }) // JSON is YAML
  chmodSync(p, 0o600)
  return p
}
const base = fileWith(BASE)
const without = loadConfig({ file: base, env: {} })

t.test('every mesh agent flag has a config-file key that sets the same thing', async (t) => {
  const flags = agentCommand().options.map((o) => o.long as string)
  t.ok(flags.length >= 20, `${flags.length} flags walked`)
  for (const flag of flags) {
    if (NO_KEY[flag]) continue
    const row = ROWS[flag]
    if (!row) {
      t.fail(`${flag} has no config-file key: add one (src/config, docs/configuration.md) and a row here`)
      continue
    }
    const cmd = agentCommand()
    cmd.parseOptions([flag, ...row[0]])
    const byFlag = loadConfig({ file: base, env: {}, flags: flagsToConfig(cmd.opts()) })
    const byFile = loadConfig({ file: fileWith(deepMerge(BASE, row[1])), env: {} })
    t.same(byFile, byFlag, `${flag} = ${JSON.stringify(row[1])}`)
    t.notSame(byFlag, without, `${flag} changes the config`)
  }
  t.same(Object.keys(ROWS).filter((f) => !flags.includes(f)), [], 'no row for a flag that is gone')
})
