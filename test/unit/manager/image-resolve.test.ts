/**
 * Image pinning at create and update, through the real API on a unix socket (the CLI's own client) with a fake
 * resolver: a tag table the test changes to play a re-push, and a log of what was asked.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { digestWarning, pinImage, type ImageResolution, type ServiceAnswer } from '../../../src/manager/image-resolve.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { ManagerClient } from '../../../src/api/client.ts'
import type { RegistryAuth } from '../../../src/api/types.ts'

const D1 = `sha256:${'1'.repeat(64)}`
const D2 = `sha256:${'2'.repeat(64)}`

const tags = new Map<string, string>([['registry:5000/app:latest', D1], ['nginx:1.25', D1]])
const asked: { ref: string; auth?: RegistryAuth }[] = []
const resolveImage = async (ref: string, auth?: RegistryAuth): Promise<ImageResolution> => {
  asked.push({ ref, ...(auth ? { auth } : {}) })
  const digest = tags.get(ref)
  return digest ? { digest } : { error: `${ref}: no such manifest` }
}

const dir = mkdtempSync(join(tmpdir(), 'mesh-pin-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({ store, resolveImage })
await manager.init()
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: join(dir, 'manager.sock') })
const client = new ManagerClient({ dataDir: dir })
t.teardown(async () => {
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

const create = (body: Record<string, unknown>, query = '') => client.request<ServiceAnswer>('POST', `/v1/services${query}`, body)
const update = (name: string, body: Record<string, unknown>, query = '') =>
  client.request<ServiceAnswer>('POST', `/v1/services/${name}/update${query}`, body)
const stored = (name: string) => manager.getService(name)

t.beforeEach(() => { asked.length = 0 })

t.test('create pins the tag to its digest; inspect shows it whole', async (t) => {
  const a = await create({ name: 'web', image: 'registry:5000/app' })
  t.equal(a.spec.image, `registry:5000/app:latest@${D1}`, 'no tag is :latest, as docker records it')
  t.equal(a.warnings, undefined, 'no warnings')
  t.same(asked, [{ ref: 'registry:5000/app:latest' }])
  t.equal(stored('web')?.spec.image, `registry:5000/app:latest@${D1}`)
})

t.test('a resolution failure keeps the tag and answers docker\'s warning', async (t) => {
  const a = await create({ name: 'local', image: 'mesh/busybox' })
  t.equal(a.spec.image, 'mesh/busybox')
  t.same(a.warnings, [digestWarning('mesh/busybox:latest')])
  t.equal(digestWarning('x:1'), 'image x:1 could not be accessed on a registry to record\nits digest. Each node will access x:1 independently,\n'
    + 'possibly leading to different nodes running different\nversions of the image.\n')
})

t.test('an image with a digest is kept as given; ?resolveImage=never stores the tag', async (t) => {
  const pinned = await create({ name: 'given', image: `nginx@${D2}` })
  t.equal(pinned.spec.image, `nginx@${D2}`)
  const never = await create({ name: 'never', image: 'nginx:1.25' }, '?resolveImage=never')
  t.equal(never.spec.image, 'nginx:1.25')
  t.same(asked, [], 'the registry was not asked')
  await t.rejects(create({ name: 'bad', image: 'nginx' }, '?resolveImage=sometimes'), { code: 'MESH_ERR_INVALID', message: /resolveImage must be always or never/ })
  t.equal(stored('bad'), undefined, 'nothing created')
})

t.test('update without a new image keeps the pinned digest; --image with the same tag resolves it again', async (t) => {
  const cur = stored('web')
  const kept = await update('web', { ...cur?.spec, env: ['A=1'] })
  t.equal(kept.spec.image, `registry:5000/app:latest@${D1}`)
  t.same(asked, [], 'no re-resolution')
  tags.set('registry:5000/app:latest', D2) // the tag is pushed again
  const moved = await update('web', { image: 'registry:5000/app:latest' })
  t.equal(moved.spec.image, `registry:5000/app:latest@${D2}`, 'the re-pushed tag rolls out')
  t.equal(moved.version, kept.version + 1)
  t.same(asked, [{ ref: 'registry:5000/app:latest' }])
  const again = await update('web', { image: 'registry:5000/app:latest' })
  t.equal(again.version, moved.version, 'the same digest again changes nothing (no new version, no task restart)')
  const never = await update('web', { image: 'registry:5000/app:latest' }, '?resolveImage=never')
  t.equal(never.spec.image, 'registry:5000/app:latest', '--no-resolve-image stores the tag')
})

t.test('resolution uses the service\'s credentials: the request\'s, else the stored ones', async (t) => {
  const auth = { username: 'u', password: 'p', serveraddress: 'registry:5000' }
  await create({ name: 'private', image: 'registry:5000/app', registryAuth: auth })
  await update('private', { image: 'registry:5000/app:latest' })
  t.same(asked, [{ ref: 'registry:5000/app:latest', auth }, { ref: 'registry:5000/app:latest', auth }])
})

t.test('an invalid spec is refused without asking the registry', async (t) => {
  await t.rejects(create({ name: 'neg', image: 'nginx:1.25', mode: { replicated: { replicas: -1 } } }), { code: 'MESH_ERR_INVALID' })
  await t.rejects(create({ name: 'upper', image: 'Nginx:1' }), {
    code: 'MESH_ERR_INVALID', message: 'service "upper": image "Nginx:1": invalid reference format (want [registry/]name[:tag][@digest], lower-case name)',
  })
  await t.rejects(update('web', { image: 'nginx::1' }), { code: 'MESH_ERR_INVALID', message: /invalid reference format/ })
  t.same(asked, [])
})

t.test('pinImage: a resolver that throws or answers garbage is a failure; no resolver stores as given', async (t) => {
  const spec = defaultServiceSpec('x', 'app:1')
  t.same(await pinImage(spec, async () => { throw new Error('boom') }, 'always'), { image: 'app:1', warnings: [digestWarning('app:1')] })
  t.same(await pinImage(spec, async () => ({ digest: 'sha256:nothex' }), 'always'), { image: 'app:1', warnings: [digestWarning('app:1')] })
  t.same(await pinImage(spec, undefined, 'always'), { image: 'app:1', warnings: [] })
  t.same(await pinImage(spec, async () => ({ digest: D1 }), 'always'), { image: `app:1@${D1}`, warnings: [] })
})
