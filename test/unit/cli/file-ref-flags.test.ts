/**
 * `--secret` / `--config` on create, `--secret-add/-rm` and `--config-add/-rm` on update → the request body
 * (mesh/file-ref-flags.ts through applySpecFlags): create sends only what was given; update removes by name, then
 * adds, so a rotation swaps a file in one update.
 */
import t from 'tap'
import { applySpecFlags } from '../../../mesh/service-flags.ts'
import { defaultServiceSpec, type FileReference, type ServiceSpecRequest } from '../../../src/api/index.ts'

const ref = (o: Partial<FileReference>): FileReference => ({ id: '', name: 'db', target: 'db', uid: '0', gid: '0', mode: 0o444, ...o })
const create = (flags: Record<string, unknown>): ServiceSpecRequest => applySpecFlags<ServiceSpecRequest>({ name: 'web', image: 'nginx' }, flags, false)

t.test('create', async (t) => {
  t.same(create({}), { name: 'web', image: 'nginx' }, 'no flag: no secrets or configs in the request')
  t.same(create({ secret: ['db', 'source=tls,target=/etc/tls.key,mode=0400'], config: ['app'] }), {
    name: 'web', image: 'nginx', secrets: [ref({}), ref({ name: 'tls', target: '/etc/tls.key', mode: 0o400 })], configs: [ref({ name: 'app', target: 'app' })],
  })
  t.throws(() => create({ secret: ['mode=0400'] }), { message: '--secret "mode=0400": source is required' })
})

t.test('update: remove by name, then add; the rest kept', async (t) => {
  const cur = { ...defaultServiceSpec('web', 'nginx'), secrets: [ref({ id: 's1' }), ref({ id: 's2', name: 'api', target: 'api' })], configs: [ref({ id: 'c1', name: 'app', target: '/app' })] }
  const rotated = applySpecFlags(cur, { secretRm: ['db'], secretAdd: ['source=db_v2,target=db'] }, true)
  t.same(rotated.secrets, [ref({ id: 's2', name: 'api', target: 'api' }), ref({ name: 'db_v2', target: 'db' })])
  t.same(rotated.configs, cur.configs, 'configs untouched')
  t.same(applySpecFlags(cur, { configRm: ['app'] }, true).configs, [], 'the last config removed: an empty list is sent')
  t.same(applySpecFlags(cur, {}, true), cur, 'no flag: unchanged')
  t.equal(cur.secrets.length, 2, 'the current spec is not changed')
})
