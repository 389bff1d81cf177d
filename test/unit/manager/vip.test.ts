import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCidr } from '../../../src/base/cidr.ts'
import { allocateVip, parseVipRange, vipFor } from '../../../src/manager/vip.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { service, spec } from './sim.ts'

t.test('the lowest free address, skipping network, .1 and broadcast', async (t) => {
  const r = parseCidr('10.78.0.0/16')
  t.equal(allocateVip(r, new Set()), '10.78.0.2')
  t.equal(allocateVip(r, new Set(['10.78.0.2', '10.78.0.3'])), '10.78.0.4')
  t.equal(allocateVip(r, new Set(['10.78.0.3'])), '10.78.0.2', 'a freed VIP is reused')
  const small = parseCidr('10.78.0.0/30')
  t.equal(allocateVip(small, new Set()), '10.78.0.2')
  t.throws(() => allocateVip(small, new Set(['10.78.0.2'])), /no free service VIP left in 10.78.0.0\/30/)
  t.throws(() => parseVipRange('10.78.0.0/31'), /too small/)
  t.throws(() => parseVipRange('10.78.0.1/16'), /host bits/)
})

t.test('vipFor keeps, allocates and drops', async (t) => {
  const r = parseCidr('10.78.0.0/16')
  const others = [{ ...service('a'), vip: '10.78.0.2' }, { ...service('b'), vip: '10.78.0.3' }]
  const cases = [
    { desc: 'new vip service', spec: spec('c'), current: undefined, want: '10.78.0.4' },
    { desc: 'keeps its VIP', spec: spec('a'), current: '10.78.0.2', want: '10.78.0.2' },
    { desc: 'dnsrr has none', spec: { ...spec('d'), endpointMode: 'dnsrr' as const }, current: '10.78.0.9', want: undefined },
    { desc: 'out of range → a new one', spec: spec('e'), current: '10.99.0.2', want: '10.78.0.4' },
  ]
  for (const c of cases) t.equal(vipFor(c.spec, c.current, others, r), c.want, c.desc)
})

t.test('the manager gives each vip service its own VIP, keeps it across updates and frees it on rm', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-vip-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = openSqliteStore(join(dir, 'm.db'))
  t.teardown(() => store.close())
  const m = new Manager({ store, vipRange: '10.78.0.0/29' })
  const web = await m.createService(spec('web'))
  const api = await m.createService(spec('api'))
  const rr = await m.createService({ ...spec('rr'), endpointMode: 'dnsrr' })
  t.equal(web.vip, '10.78.0.2')
  t.equal(api.vip, '10.78.0.3')
  t.equal(rr.vip, undefined, 'dnsrr gets no VIP')
  t.equal((await m.updateService('web', (s) => ({ ...s, env: ['A=1'] }))).vip, '10.78.0.2', 'an update keeps the VIP')
  t.equal((await m.updateService('web', (s) => ({ ...s, endpointMode: 'dnsrr' }))).vip, undefined, 'switching to dnsrr frees it')
  t.equal((await m.rollbackService('web')).vip, '10.78.0.2', 'rolling back to vip mode takes one again')
  await m.removeService('api')
  t.equal((await m.createService(spec('next'))).vip, '10.78.0.3', 'a removed service frees its VIP')
  await m.createService(spec('x4'))
  await m.createService(spec('x5'))
  await m.createService(spec('x6'))
  await t.rejects(m.createService(spec('full')), /no free service VIP left in 10\.78\.0\.0\/29/)
  t.notOk(store.getService('full'), 'nothing half-applied')
})
