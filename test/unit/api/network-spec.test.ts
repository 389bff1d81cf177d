/**
 * What users say about networks: `--network NAME[,alias=A]`, the attachments a spec may hold (the one validation),
 * `--opt encrypted`, a network create request with docker's defaults, and specs stored with `networks: string[]`.
 */
import t from 'tap'
import {
  attachmentProblems, defaultServiceSpec, networkSpecFromRequest, normalizeSpecNetworks, parseNetworkFlag, parseNetworkOpt, userNetworks,
  validateServiceSpec, type ServiceSpecRequest,
} from '../../../src/api/index.ts'
import { applySpecFlags } from '../../../mesh/service-flags.ts'

t.test('--network: NAME, name=NAME,alias=A,alias=B; unknown keys refused', async (t) => {
  const cases = [
    { input: 'webnet', want: { target: 'webnet', aliases: [] } },
    { input: 'name=webnet,alias=www,alias=web2', want: { target: 'webnet', aliases: ['www', 'web2'] } },
    { input: 'webnet,alias=www', want: { target: 'webnet', aliases: ['www'] } },
    { input: 'target=backend', want: { target: 'backend', aliases: [] } },
  ]
  for (const c of cases) t.same(parseNetworkFlag(c.input), c.want, c.input)
  t.throws(() => parseNetworkFlag('name=x,driver-opt=a'), { message: '--network "name=x,driver-opt=a": unknown key "driver-opt" (use name=NAME,alias=ALIAS)' })
  t.throws(() => parseNetworkFlag('alias=www'), { message: /name the network/ })
})

t.test('attachments: names, aliases, twice, and the default network only alone', async (t) => {
  const cases = [
    { name: 'fine', input: [{ target: 'a', aliases: ['x'] }, { target: 'b', aliases: [] }], want: [] },
    { name: 'mesh alone', input: [{ target: 'mesh', aliases: [] }], want: [] },
    { name: 'twice', input: [{ target: 'a', aliases: [] }, { target: 'a', aliases: [] }], want: ['network "a" is given twice'] },
    { name: 'bad alias', input: [{ target: 'a', aliases: ['-x'] }], want: [`network "a": alias "-x" must be 1-63 letters, digits, '-', '_' or '.'`] },
    { name: 'bad name', input: [{ target: 'a b', aliases: [] }], want: [`network name "a b" must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit`] },
    { name: 'mesh mixed', input: [{ target: 'mesh', aliases: [] }, { target: 'b', aliases: [] }], want: ['network "mesh" (the default network) cannot be combined with other networks'] },
    { name: 'mesh alias', input: [{ target: 'mesh', aliases: ['x'] }], want: ['network "mesh" (the default network) takes no aliases; create a network for them'] },
  ]
  for (const c of cases) t.same(attachmentProblems(c.input), c.want, c.name)
  const spec = defaultServiceSpec('web', 'nginx')
  t.same(validateServiceSpec({ ...spec, networks: ['webnet'] as never }), ['networks must be a list of {target, aliases}'], 'the old shape is refused on input')
  t.same(validateServiceSpec({ ...spec, networks: [{ target: 'a', aliases: [] }, { target: 'a', aliases: [] }] }), ['network "a" is given twice'])
  t.same(userNetworks({ networks: [{ target: 'mesh', aliases: [] }] }), [], 'mesh is no user network')
})

t.test('stored specs with networks: string[] read as the default network', async (t) => {
  const old = { ...defaultServiceSpec('web', 'nginx'), networks: ['getstartedlab_webnet'] as never }
  t.same(normalizeSpecNetworks(old).networks, [])
  const now = { ...defaultServiceSpec('web', 'nginx'), networks: [{ target: 'a', aliases: [] }] }
  t.equal(normalizeSpecNetworks(now), now, 'the new shape is kept as it is')
})

t.test('network create: docker defaults, --opt encrypted, refusals', async (t) => {
  t.same(networkSpecFromRequest({ name: 'webnet' }), { spec: { name: 'webnet', driver: 'overlay', attachable: false, internal: false, encrypted: true, labels: {} } })
  t.same(networkSpecFromRequest({ name: 'x', driver: 'bridge' }), { problem: 'network "x": driver "bridge" is not supported (mesh networks are overlay networks)' })
  t.same(networkSpecFromRequest({ name: 'x', scope: 'local' }), { problem: 'unknown network field "scope"' })
  t.same(networkSpecFromRequest({ name: '' }), { problem: 'network name must not be empty' })
  t.same(parseNetworkOpt('encrypted'), { encrypted: true })
  t.same(parseNetworkOpt('encrypted=false'), { encrypted: false })
  t.throws(() => parseNetworkOpt('mtu=1400'), { message: /unknown option "mtu"/ })
})

t.test('service flags: --network on create, --network-add/--network-rm on update', async (t) => {
  t.same(applySpecFlags<ServiceSpecRequest>({}, { network: ['a', 'name=b,alias=x'] }, false).networks, [{ target: 'a', aliases: [] }, { target: 'b', aliases: ['x'] }])
  const current = { networks: [{ target: 'a', aliases: [] }, { target: 'b', aliases: [] }] }
  t.same(applySpecFlags(current, { networkRm: ['a'], networkAdd: ['c', 'b,alias=y'] }, true).networks,
    [{ target: 'b', aliases: ['y'] }, { target: 'c', aliases: [] }])
  t.same(applySpecFlags(current, {}, true).networks, current.networks, 'untouched without the flags')
})
