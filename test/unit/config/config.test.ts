import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../../src/config/index.ts'
import { ConfigError } from '../../../src/base/errors.ts'

const base = { gossip: { name: 'n1', bindAddr: '127.0.0.5' } }

t.test('defaults are memberlist LAN defaults', async (t) => {
  const c = loadConfig({ flags: base })
  t.match(c.gossip, {
    probeIntervalMs: 1000, probeTimeoutMs: 500, indirectChecks: 3, suspicionMult: 4, suspicionMaxTimeoutMult: 6,
    gossipIntervalMs: 200, gossipNodes: 3, retransmitMult: 4, pushPullIntervalMs: 30000, bindPort: 7946, advertisePort: 7946,
  })
  t.equal(c.dataDir, '/var/lib/mesh')
  t.equal(c.gossip.advertiseAddr, '127.0.0.5', 'advertise defaults to the bind address')
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.gossip), 'frozen')
})

t.test('precedence: defaults < file < env < flags', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-cfg-'))
  const file = join(dir, 'mesh.yaml')
  writeFileSync(file, 'dataDir: /from/file\nlogLevel: debug\ngossip:\n  name: filename\n  probeIntervalMs: 2000\n  bindAddr: 127.0.0.9\n')
  const c = loadConfig({ file, env: { MESH_NAME: 'envname', MESH_DATA_DIR: '/from/env' }, flags: { dataDir: '/from/flags' } })
  t.equal(c.dataDir, '/from/flags', 'flag wins over env and file')
  t.equal(c.gossip.name, 'envname', 'env wins over file')
  t.equal(c.logLevel, 'debug', 'file wins over defaults')
  t.equal(c.gossip.probeIntervalMs, 2000)
  t.equal(c.gossip.bindAddr, '127.0.0.9')
})

t.test('--bind with a port moves the advertised port too', async (t) => {
  const c = loadConfig({ flags: { gossip: { name: 'x', bindAddr: '127.0.0.5', bindPort: 7950 } } })
  t.equal(c.gossip.advertisePort, 7950)
})

t.test('bad values are ConfigErrors naming the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-cfg-'))
  const unknown = join(dir, 'u.yaml')
  writeFileSync(unknown, 'gossip:\n  probeIntervall: 5\n')
  const cases = [
    { name: 'bad bind', o: { flags: { gossip: { name: 'x', bindAddr: 'nope' } } }, re: /bind address "nope"/ },
    { name: 'advertise 0.0.0.0', o: { flags: { gossip: { name: 'x', bindAddr: '127.0.0.1', advertiseAddr: '0.0.0.0' } } }, re: /advertise address/ },
    { name: 'bad name', o: { flags: { gossip: { name: 'a b', bindAddr: '127.0.0.1' } } }, re: /node name "a b"/ },
    { name: 'negative probe', o: { flags: { gossip: { ...base.gossip, probeIntervalMs: -1 } } }, re: /probeIntervalMs -1: must be a number > 0/ },
    { name: 'timeout > interval', o: { flags: { gossip: { ...base.gossip, probeTimeoutMs: 5000 } } }, re: /probeTimeoutMs 5000/ },
    { name: 'unknown file key', o: { file: unknown, flags: base }, re: /unknown key "gossip.probeIntervall"/ },
    { name: 'missing file', o: { file: join(dir, 'none.yaml'), flags: base }, re: /ENOENT/ },
    { name: 'bad log level', o: { flags: { ...base, logLevel: 'loud' as never } }, re: /log level "loud"/ },
    { name: 'member cap below 2', o: { flags: { gossip: { ...base.gossip, maxMembers: 1 } } }, re: /gossip.maxMembers 1: must be an integer ≥ 2/ },
    { name: 'negative dead cap', o: { flags: { gossip: { ...base.gossip, maxDeadMembers: -1 } } }, re: /gossip.maxDeadMembers -1/ },
    { name: 'zero tombstone timeout', o: { flags: { gossip: { ...base.gossip, tombstoneTimeoutMs: 0 } } }, re: /gossip.tombstoneTimeoutMs 0: must be a number > 0/ },
  ]
  for (const c of cases) {
    let err: unknown = null
    try {
      loadConfig(c.o)
    } catch (e) {
      err = e
    }
    t.ok(err instanceof ConfigError, `${c.name}: a ConfigError`)
    t.match((err as Error | null)?.message ?? '', c.re, `${c.name}: message`)
  }
})

t.test('gossip caps and reaping have documented defaults and can be set from a file', async (t) => {
  t.match(loadConfig({ flags: base }).gossip, {
    maxMembers: 4096, maxDeadMembers: 1024, reconnectTimeoutMs: 86_400_000, tombstoneTimeoutMs: 86_400_000,
  })
  const dir = mkdtempSync(join(tmpdir(), 'mesh-cfg-'))
  const file = join(dir, 'caps.yaml')
  writeFileSync(file, 'gossip:\n  maxMembers: 100\n  maxDeadMembers: 10\n')
  t.match(loadConfig({ file, flags: base }).gossip, { maxMembers: 100, maxDeadMembers: 10 })
})
