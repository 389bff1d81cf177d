/**
 * The registry client's parts (where a reference's API lives, whose credentials go where, which registries are
 * plain HTTP, the WWW-Authenticate parser), its Bearer token flow against a loopback server, and the runtime's pull
 * path for a pinned image (a fake dockerode with only the calls ensureImage makes).
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import type Docker from 'dockerode'
import {
  DockerRuntime, byDigest, credentialsFor, insecureRegistryCheck, registryLocation, registryResolver, resolveImageDigest,
} from '../../../src/runtime/index.ts'
import { parseChallenge } from '../../../src/runtime/registry-resolve.ts'
import { parseImageRef } from '../../../src/api/index.ts'

const D = `sha256:${'c'.repeat(64)}`

t.test('registryLocation: Docker Hub short names live under library/ on registry-1.docker.io', async (t) => {
  const cases: [string, { host: string; repository: string }][] = [
    ['nginx', { host: 'registry-1.docker.io', repository: 'library/nginx' }],
    ['team/app:1', { host: 'registry-1.docker.io', repository: 'team/app' }],
    ['docker.io/nginx', { host: 'registry-1.docker.io', repository: 'library/nginx' }],
    ['registry:5000/app', { host: 'registry:5000', repository: 'app' }],
    ['10.0.0.1:5000/a/b', { host: '10.0.0.1:5000', repository: 'a/b' }],
  ]
  for (const [ref, want] of cases) t.same(registryLocation(parseImageRef(ref)!), want, ref)
})

t.test('credentialsFor: only the registry the credentials name', async (t) => {
  const a = (serveraddress: string) => ({ username: 'u', password: 'p', serveraddress })
  t.ok(credentialsFor('registry:5000', a('registry:5000')))
  t.ok(credentialsFor('registry:5000', a('https://registry:5000/v1/')))
  t.ok(credentialsFor('registry-1.docker.io', a('https://index.docker.io/v1/')))
  t.notOk(credentialsFor('registry:5000', a('other:5000')))
  t.notOk(credentialsFor('evil.example', a('https://index.docker.io/v1/')))
  t.notOk(credentialsFor('registry:5000', undefined))
})

t.test('insecureRegistryCheck: the engine\'s insecure-registries decide http', async (t) => {
  const check = insecureRegistryCheck({
    IndexConfigs: { 'docker.io': { Secure: true }, '192.168.77.11:5000': { Secure: false }, 'reg.lan:5000': { Secure: false } },
    InsecureRegistryCIDRs: ['127.0.0.0/8', '10.9.0.0/16', '::1/128'],
  })
  const cases: [string, boolean][] = [
    ['192.168.77.11:5000', true], ['reg.lan:5000', true], ['127.0.0.1:5000', true], ['localhost:5000', true],
    ['10.9.3.4:443', true], ['10.8.0.1:5000', false], ['registry-1.docker.io', false], ['other.lan:5000', false],
  ]
  for (const [host, want] of cases) t.equal(check(host), want, host)
  t.equal(insecureRegistryCheck(undefined)('127.0.0.1:5000'), false, 'no engine answer: https everywhere')
})

t.test('parseChallenge', async (t) => {
  t.same(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'), {
    scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull' },
  })
  t.same(parseChallenge('Basic realm="x"'), { scheme: 'basic', params: { realm: 'x' } })
  t.same(parseChallenge(''), { scheme: '', params: {} })
})

/** A registry with a token service: /token hands `tok` to alice:secret (or anonymously when `anonymous`). */
async function bearerRegistry(t: Test, o: { anonymous?: boolean; digestHeader?: boolean } = {}) {
  const manifest = '{"schemaVersion":2}'
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/token') {
      const ok = req.headers.authorization === `Basic ${Buffer.from('alice:secret').toString('base64')}` || (o.anonymous && !req.headers.authorization)
      if (!ok || url.searchParams.get('scope') !== 'repository:team/app:pull' || url.searchParams.get('service') !== 'test') return void res.writeHead(401).end()
      return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: 'tok' }))
    }
    if (url.pathname === '/v2/team/app/manifests/v1') {
      if (req.headers.authorization !== 'Bearer tok') {
        return void res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${req.headers.host}/token",service="test",scope="repository:team/app:pull"` }).end()
      }
      return void res.writeHead(200, o.digestHeader === false ? {} : { 'Docker-Content-Digest': D }).end(req.method === 'GET' ? manifest : undefined)
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return { host: `127.0.0.1:${(server.address() as { port: number }).port}`, manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}` }
}

t.test('Bearer: a token from the realm with the credentials, then the manifest', async (t) => {
  const reg = await bearerRegistry(t)
  const auth = (password: string) => ({ username: 'alice', password, serveraddress: reg.host })
  const insecure = () => true
  t.same(await resolveImageDigest(`${reg.host}/team/app:v1`, auth('secret'), { insecure }), { digest: D })
  t.same(await resolveImageDigest(`${reg.host}/team/app:v1`, auth('wrong'), { insecure }),
    { error: `${reg.host}/team/app:v1: the registry's token service refused the credentials (HTTP 401)` })
  const resolver = registryResolver({ registryConfig: async () => ({ InsecureRegistryCIDRs: ['127.0.0.0/8'] }) })
  t.same(await resolver(`${reg.host}/team/app:v1`, auth('secret')), { digest: D }, 'the wired resolver: plain HTTP on loopback, as the engine')
})

t.test('Bearer anonymous, and a registry that leaves Docker-Content-Digest out (digest of the manifest bytes)', async (t) => {
  const reg = await bearerRegistry(t, { anonymous: true, digestHeader: false })
  t.same(await resolveImageDigest(`${reg.host}/team/app:v1`, undefined, { insecure: () => true }), { digest: reg.manifestDigest })
})

t.test('ensureImage: a pinned image is looked up and pulled by its digest alone', async (t) => {
  t.equal(byDigest(`registry:5000/app:latest@${D}`), `registry:5000/app@${D}`)
  t.equal(byDigest('app:1'), 'app:1')
  const calls: string[] = []
  let present = false
  const fake = {
    getImage: (ref: string) => ({
      inspect: async () => {
        calls.push(`inspect ${ref}`)
        if (!present) throw Object.assign(new Error('no such image'), { statusCode: 404 })
        return {}
      },
    }),
    pull: (ref: string, _o: unknown, cb: (err: Error | null, s?: NodeJS.ReadableStream) => void, auth?: unknown) => {
      calls.push(`pull ${ref}${auth ? ' with auth' : ''}`)
      const s = new PassThrough()
      cb(null, s)
    },
    modem: { followProgress: (_s: unknown, done: (err: Error | null) => void) => done(null) },
  } as unknown as Docker
  const rt = new DockerRuntime({ docker: fake })
  const auth = { username: 'u', password: 'p', serveraddress: 'registry:5000' }
  t.equal(await rt.ensureImage(`registry:5000/app:latest@${D}`, () => undefined, { auth }), 'pulled')
  t.same(calls, [`inspect registry:5000/app@${D}`, `pull registry:5000/app@${D} with auth`])
  present = true
  calls.length = 0
  t.equal(await rt.ensureImage(`registry:5000/app:latest@${D}`, () => undefined), 'present')
  t.same(calls, [`inspect registry:5000/app@${D}`], 'present by that digest: no pull')
})
