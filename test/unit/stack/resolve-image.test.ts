/**
 * `stack deploy` and pinned images: a real manager (in-memory store, API on a unix socket) with a fake resolver
 * whose tag table the test changes to play a re-push. Deploys are detached (no agents needed): what is asserted is
 * what was printed, what the manager stores and which services got a new version.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, listen } from '../../../src/manager/http/api.ts'
import { Manager } from '../../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import { openSqliteStore } from '../../../src/manager/sqlite-store.ts'
import { ManagerClient } from '../../../src/api/client.ts'
import { deployStack, type StackIo } from '../../../mesh/stack.ts'
import type { ResolveImageMode } from '../../../src/stack/index.ts'

const D = (n: number) => `sha256:${String(n).repeat(64)}`
const tags = new Map<string, string>([['registry:5000/app:latest', D(1)], ['redis:7', D(7)]])
const asked: string[] = []
const dir = mkdtempSync(join(tmpdir(), 'mesh-stack-pin-'))
const store = openSqliteStore(':memory:')
const manager = new Manager({
  store,
  resolveImage: async (ref) => {
    asked.push(ref)
    const digest = tags.get(ref)
    return digest ? { digest } : { error: 'no registry' }
  },
})
await manager.init()
const server = await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: join(dir, 'manager.sock') })
const client = new ManagerClient({ dataDir: dir })
t.teardown(async () => {
  await new Promise<void>((r) => server.close(() => r()))
  store.close?.()
  rmSync(dir, { recursive: true, force: true })
})

const file = (replicas = 1, image = 'registry:5000/app') => `services:\n  web:\n    image: ${image}\n    deploy: {replicas: ${replicas}}\n  db:\n    image: redis:7\n  local:\n    image: mesh/busybox\n`
async function deploy(text: string, resolveImage?: ResolveImageMode): Promise<{ out: string; err: string }> {
  let out = ''
  let err = ''
  const io: StackIo = { out: (s) => void (out += s), err: (s) => void (err += s) }
  asked.length = 0
  await deployStack(client, {
    stack: 'pin', files: [{ name: 's.yml', text }], env: {}, cwd: dir, readFile: () => '', detach: true, ...(resolveImage ? { resolveImage } : {}),
  }, io)
  return { out, err }
}
const svc = (name: string) => manager.getService(`pin_${name}`)

t.test('first deploy pins every tag it can; the others keep the tag with docker\'s warning', async (t) => {
  const r = await deploy(file())
  t.equal(svc('web')?.spec.image, `registry:5000/app:latest@${D(1)}`)
  t.equal(svc('db')?.spec.image, `redis:7@${D(7)}`)
  t.equal(svc('local')?.spec.image, 'mesh/busybox')
  t.match(r.err, 'image mesh/busybox:latest could not be accessed on a registry to record\nits digest.')
})

t.test('redeploy, same digests: asked again (--resolve-image always), nothing updated', async (t) => {
  const before = [svc('web')?.version, svc('db')?.version]
  const r = await deploy(file())
  t.same(asked.sort(), ['mesh/busybox:latest', 'redis:7', 'registry:5000/app:latest'])
  t.match(r.out, 'Stack pin is up to date (3 services)')
  t.notMatch(r.out, 'Updating')
  t.same([svc('web')?.version, svc('db')?.version], before, 'no new version: no task restarts')
})

t.test('redeploy after the tag was pushed again: that service, only, is updated to the new digest', async (t) => {
  tags.set('registry:5000/app:latest', D(2))
  const before = { web: svc('web')?.version as number, db: svc('db')?.version }
  const r = await deploy(file())
  t.match(r.out, `Updating service pin_web (id: ${svc('web')?.id.slice(0, 12)})`)
  t.notMatch(r.out, 'pin_db')
  t.notMatch(r.out, 'up to date')
  t.equal(svc('web')?.spec.image, `registry:5000/app:latest@${D(2)}`)
  t.equal(svc('web')?.version, before.web + 1)
  t.equal(svc('db')?.version, before.db)
})

t.test('--resolve-image changed: a re-pushed tag is left alone, and an update keeps the stored digest', async (t) => {
  tags.set('registry:5000/app:latest', D(3))
  const same = await deploy(file(), 'changed')
  t.match(same.out, 'Stack pin is up to date (3 services)')
  t.same(asked, [], 'no registry asked')
  const scaled = await deploy(file(2), 'changed')
  t.match(scaled.out, 'Updating service pin_web')
  t.same(asked, [])
  t.equal(svc('web')?.spec.image, `registry:5000/app:latest@${D(2)}`, 'still the digest pinned before')
  t.same(svc('web')?.spec.mode, { replicated: { replicas: 2 } })
  await deploy(file(2, 'registry:5000/app:latest'), 'changed')
  t.equal(svc('web')?.spec.image, `registry:5000/app:latest@${D(2)}`, 'writing the tag out in full is the same image')
})

t.test('--resolve-image never: a new image is stored as the file names it', async (t) => {
  tags.set('registry:5000/other:1', D(4))
  const r = await deploy(file(2, 'registry:5000/other:1'), 'never')
  t.same(asked, [])
  t.match(r.out, 'Updating service pin_web')
  t.equal(svc('web')?.spec.image, 'registry:5000/other:1')
  await deploy(file(2, 'registry:5000/other:1'))
  t.equal(svc('web')?.spec.image, `registry:5000/other:1@${D(4)}`, 'the next default deploy pins it')
})
