/** The ingress limits in the agent's config: defaults, MESH_* variables, flags beat env, one-line refusals. */
import t from 'tap'
import { loadConfig } from '../../../src/config/index.ts'
import { ConfigError } from '../../../src/base/errors.ts'
import { flagsToConfig } from '../../../mesh/agent.ts'

const base = { gossip: { name: 'n1', bindAddr: '127.0.0.5' } }

t.test('defaults: budget derived (0), no per-source cap, 16384 UDP flows', async (t) => {
  const d = loadConfig({ flags: base }).dataPlane
  t.same([d.ingressFdBudget, d.ingressMaxPerSource, d.ingressMaxUdpFlows], [0, 0, 16_384])
})

t.test('MESH_INGRESS_* set them; a flag wins over the variable', async (t) => {
  const env = { MESH_INGRESS_FD_BUDGET: '30000', MESH_INGRESS_MAX_PER_SOURCE: '64', MESH_INGRESS_MAX_UDP_FLOWS: '1024' }
  const d = loadConfig({ flags: base, env }).dataPlane
  t.same([d.ingressFdBudget, d.ingressMaxPerSource, d.ingressMaxUdpFlows], [30_000, 64, 1024])
  const flags = { ...base, ...flagsToConfig({ ingressMaxPerSource: '8' }) }
  t.equal(loadConfig({ flags, env }).dataPlane.ingressMaxPerSource, 8)
})

t.test('bad values are refused with one line naming the setting', async (t) => {
  const cases = [
    { name: 'env not a number', o: { flags: base, env: { MESH_INGRESS_FD_BUDGET: 'lots' } }, want: /MESH_INGRESS_FD_BUDGET "lots": want a whole number/ },
    { name: 'negative in a file-like input', o: { flags: { ...base, dataPlane: { ingressMaxPerSource: -1 } } }, want: /dataPlane.ingressMaxPerSource -1: must be an integer ≥ 0/ },
    { name: 'zero UDP flows', o: { flags: { ...base, dataPlane: { ingressMaxUdpFlows: 0 } } }, want: /dataPlane.ingressMaxUdpFlows 0: must be ≥ 1/ },
  ]
  for (const c of cases) t.throws(() => loadConfig(c.o), c.want, c.name)
  t.throws(() => flagsToConfig({ ingressFdBudget: '-5' }), new ConfigError('--ingress-fd-budget "-5": want a whole number ≥ 0'))
})
