/**
 * Live restore: the agent puts the overlay tags a kept overlay had into gossip BEFORE gossip starts, so the first
 * alive (and the refutation after a restart) carries them. Real Gossip on a loopback port.
 */
import t from 'tap'
import { Gossip } from '../../../src/gossip/index.ts'
import { lanGossipConfig } from '../../../src/config/gossip.ts'

t.test('tags set before start are in the first alive', async (t) => {
  const g = new Gossip({ ...lanGossipConfig(), name: 'g', bindAddr: '127.0.0.1', advertiseAddr: '127.0.0.1', bindPort: 0, plaintext: true })
  g.updateTags({ 'mesh.subnet': '10.77.3.0/24', 'mesh.subnet.held': '1' })
  await g.start()
  t.teardown(() => g.stop())
  const self = g.members().find((m) => m.name === 'g')
  t.match(self?.tags, { 'mesh.subnet': '10.77.3.0/24', 'mesh.subnet.held': '1' })
  t.equal(self?.incarnation, 1, 'announced once, not bumped for tags set before start')
})
