import t from 'tap'
import { authFromDockerConfig, registryOf, DOCKER_HUB } from '../../../mesh/registry-auth.ts'
import { redactRegistryAuth } from '../../../src/manager/registry-auth.ts'
import { registryAuthProblem } from '../../../src/api/spec.ts'

const b64 = (s: string) => Buffer.from(s).toString('base64')

t.test('the registry an image names', async (t) => {
  const cases = [
    { image: 'busybox', want: DOCKER_HUB },
    { image: 'library/busybox:1', want: DOCKER_HUB },
    { image: 'docker.io/library/busybox', want: DOCKER_HUB },
    { image: 'registry:5000/app:1', want: 'registry:5000' },
    { image: 'ghcr.io/o/app@sha256:abc', want: 'ghcr.io' },
    { image: 'localhost/app', want: 'localhost' },
  ]
  for (const c of cases) t.equal(registryOf(c.image), c.want, c.image)
})

t.test('credentials from a docker config', async (t) => {
  const config = { auths: {
    '192.168.77.11:5001': { auth: b64('alice:s3:cret') },
    'https://index.docker.io/v1/': { auth: b64('bob:pw') },
    'https://ghcr.io': { username: 'carol', password: 'tok' },
  } }
  const cases = [
    { name: 'host:port key', image: '192.168.77.11:5001/busybox:1', want: { username: 'alice', password: 's3:cret', serveraddress: '192.168.77.11:5001' } },
    { name: 'Docker Hub', image: 'busybox', want: { username: 'bob', password: 'pw', serveraddress: DOCKER_HUB } },
    { name: 'URL key, plain fields', image: 'ghcr.io/o/app', want: { username: 'carol', password: 'tok', serveraddress: 'ghcr.io' } },
    { name: 'none for that registry', image: 'quay.io/x/y', want: undefined },
  ]
  for (const c of cases) t.same(authFromDockerConfig(config, c.image), c.want, c.name)
  t.throws(() => authFromDockerConfig({ auths: { 'r:1': { auth: b64('nocolon') } } }, 'r:1/a'), /not base64 of user:password/)
})

t.test('the API checks and hides registryAuth', async (t) => {
  t.equal(registryAuthProblem(undefined), null)
  t.equal(registryAuthProblem({ username: 'u', password: 'p', serveraddress: 'r:1' }), null)
  t.match(registryAuthProblem('x'), /must be an object/)
  t.match(registryAuthProblem({ username: 'u', password: 1, serveraddress: 'r' }), /password must be a string/)
  t.match(registryAuthProblem({ username: 'u', serveraddress: '' }), /serveraddress/)
  t.match(registryAuthProblem({ token: 'x', serveraddress: 'r' }), /unknown field "token"/)
  const svc = { spec: { name: 'web', registryAuth: { username: 'u', password: 'p', serveraddress: 'r' } }, previousSpec: { registryAuth: {} } }
  t.same(redactRegistryAuth([svc]), [{ spec: { name: 'web' }, previousSpec: {} }])
})

t.test('service logs CLI: --since and the line prefix', async (t) => {
  const { parseSince, logPrefix } = await import('../../../mesh/service-logs.ts')
  const now = Date.UTC(2026, 11, 1, 8, 0, 0)
  const cases = [
    { in: '10m', want: now / 1000 - 600 },
    { in: '1h30m', want: now / 1000 - 5400 },
    { in: '2026-12-01T07:00:00Z', want: now / 1000 - 3600 },
    { in: '1700000000', want: 1700000000 },
  ]
  for (const c of cases) t.equal(parseSince(c.in, now), c.want, c.in)
  t.throws(() => parseSince('yesterday', now), /--since "yesterday"/)
  const id = 'kz2wr8scaeqdxyzabcdefghij'
  t.equal(logPrefix(`web.1.${id}`, 'node2', false), 'web.1.kz2wr8scaeqd@node2')
  t.equal(logPrefix(`web.1.${id}`, 'node2', true), `web.1.${id}@node2`)
  t.equal(logPrefix(`my.app.${id}.${id}`, 'node2', false), 'my.app.kz2wr8scaeqd.kz2wr8scaeqd@node2', 'global: node id cut too; dots in the name kept')
})
