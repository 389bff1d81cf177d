import t from 'tap'
import { authFromDockerConfig, registryOf, DOCKER_HUB } from '../../../mesh/registry-auth.ts'
import { redactRegistryAuth, registryAuthProblem } from '../../../src/manager/registry-auth.ts'

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
