/** `--default-addr-pool` / `--default-addr-pool-mask-length`: defaults, and one line for a bad value at startup. */
import t from 'tap'
import { DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH, loadConfig } from '../../../src/config/index.ts'

const base = { gossip: { name: 'x', bindAddr: '127.0.0.5' } }

t.test('defaults: 10.80.0.0/12 cut into /20s', async (t) => {
  const c = loadConfig({ flags: base })
  t.same([c.cluster.defaultAddrPool, c.cluster.defaultAddrPoolMaskLength], [DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH])
  t.same([DEFAULT_ADDR_POOL, DEFAULT_ADDR_POOL_MASK_LENGTH], ['10.80.0.0/12', 20])
})

t.test('bad values: one line naming the setting', async (t) => {
  const cases = [
    { name: 'not a CIDR', cluster: { defaultAddrPool: '10.80.0.0' }, want: /default address pool "10.80.0.0": want an IPv4 network/ },
    { name: 'mask above /24', cluster: { defaultAddrPoolMaskLength: 26 }, want: 'default address pool mask length 26: must be 16-24 for the pool 10.80.0.0/12' },
    { name: 'mask wider than the pool', cluster: { defaultAddrPool: '10.80.0.0/20', defaultAddrPoolMaskLength: 18 }, want: 'default address pool mask length 18: must be 20-24 for the pool 10.80.0.0/20' },
  ]
  for (const c of cases) t.throws(() => loadConfig({ flags: { ...base, cluster: c.cluster } }), { message: c.want }, c.name)
})
