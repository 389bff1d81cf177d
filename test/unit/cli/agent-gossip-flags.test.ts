/**
 * `mesh agent --gossip-plaintext` and `--gossip-key-rotation DURATION`: flags → config, checked once.
 */
import t from 'tap'
import { flagsToConfig } from '../../../mesh/agent.ts'
import { loadConfig } from '../../../src/config/index.ts'

const load = (o: Parameters<typeof flagsToConfig>[0]) => loadConfig({ flags: flagsToConfig(o), env: {} })

t.test('defaults: encrypted (no plaintext), rotation interval kept as stored', async (t) => {
  const c = load({})
  t.equal(c.gossip.plaintext, false)
  t.equal(c.cluster.gossipKeyRotationMs, null)
})

t.test('--gossip-plaintext', async (t) => {
  t.equal(load({ gossipPlaintext: true }).gossip.plaintext, true)
})

t.test('--gossip-key-rotation', async (t) => {
  const cases: { input: string; want?: number; error?: RegExp }[] = [
    { input: '12h', want: 12 * 3600_000 },
    { input: '30m', want: 30 * 60_000 },
    { input: '0', want: 0 },
    { input: '5s', error: /0 \(off\) or at least one minute/ },
    { input: 'soon', error: /--gossip-key-rotation "soon": want a duration/ },
  ]
  for (const c of cases) {
    if (c.error) t.throws(() => load({ gossipKeyRotation: c.input }), { code: 'MESH_ERR_CONFIG', message: c.error }, c.input)
    else t.equal(load({ gossipKeyRotation: c.input }).cluster.gossipKeyRotationMs, c.want, c.input)
  }
})
