/** dataPlane.dnsWorkers / --dns-workers: default 1, range 1–16, one-line refusals. */
import t from 'tap'
import { loadConfig } from '../../../src/config/index.ts'
import { ConfigError } from '../../../src/base/errors.ts'
import { flagsToConfig } from '../../../mesh/agent.ts'

const base = { gossip: { name: 'n1', bindAddr: '127.0.0.5' } }

t.test('default one responder; the flag sets it', async (t) => {
  t.equal(loadConfig({ flags: base }).dataPlane.dnsWorkers, 1)
  t.equal(loadConfig({ flags: { ...base, ...flagsToConfig({ dnsWorkers: '4' }) } }).dataPlane.dnsWorkers, 4)
})

t.test('bad values are refused with one line naming the setting', async (t) => {
  for (const v of [0, 17, 2.5]) {
    t.throws(() => loadConfig({ flags: { ...base, dataPlane: { dnsWorkers: v } } }), new ConfigError(`dataPlane.dnsWorkers ${v}: must be an integer 1-16`), String(v))
  }
  t.throws(() => flagsToConfig({ dnsWorkers: 'many' }), /--dns-workers "many": want a whole number/)
})
