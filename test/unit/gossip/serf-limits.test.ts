import t from 'tap'
import { seededRandom } from '../../../src/base/clock.ts'
import { SerfLayer } from '../../../src/gossip/serf.ts'
import { SERF_MSG, encodeSerfMessage } from '../../../src/gossip/serf-wire.ts'
import { FakeClock } from '../../support/fake-clock.ts'

// serf's bookkeeping about names it has not seen as members yet (join/leave intents) is bounded by maxMembers, so a
// flood of intents for made-up names cannot grow it (security review #11).

function layer(maxMembers: number) {
  return new SerfLayer({
    name: 'me', tags: {}, retransmitMult: 4, reconnectIntervalMs: 30_000, reconnectTimeoutMs: 86_400_000,
    tombstoneTimeoutMs: 86_400_000, maxMembers, maxDeadMembers: 1024,
  }, new FakeClock(), seededRandom(1), () => undefined)
}

t.test('intents about unknown names stop at maxMembers; more are neither kept nor re-gossiped', async (t) => {
  const serf = layer(5)
  for (let i = 0; i < 50; i++) serf.notifyUser(encodeSerfMessage({ type: SERF_MSG.join, LTime: 10 + i, Node: `ghost${i}` }))
  const regossiped = serf.getBroadcasts(2, 1_000_000)
  t.equal(regossiped.length, 5, `5 of 50 intents re-gossiped (${regossiped.length})`)
  while (serf.getBroadcasts(2, 1_000_000).length > 0) { /* drain the retransmits */ }
  serf.notifyUser(encodeSerfMessage({ type: SERF_MSG.join, LTime: 100, Node: 'ghost0' }))
  t.equal(serf.getBroadcasts(2, 1_000_000).length, 1, 'a newer intent about a name already kept still counts')
})
