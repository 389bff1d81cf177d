import t from 'tap'
import { hasDigest, imageMatches, imageWithoutDigest, parseImageRef, pinnedImage, taggedImage } from '../../../src/api/index.ts'

const D = `sha256:${'a'.repeat(64)}`
const E = `sha256:${'b'.repeat(64)}`

t.test('parseImageRef: docker/distribution\'s grammar', async (t) => {
  const cases: { ref: string; want: ReturnType<typeof parseImageRef> }[] = [
    { ref: 'nginx', want: { path: 'nginx' } },
    { ref: 'nginx:1.25', want: { path: 'nginx', tag: '1.25' } },
    { ref: 'team/app', want: { path: 'team/app' } },
    { ref: 'registry:5000/team/app:v2', want: { domain: 'registry:5000', path: 'team/app', tag: 'v2' } },
    { ref: 'localhost/app', want: { domain: 'localhost', path: 'app' } },
    { ref: 'docker.io/library/nginx', want: { domain: 'docker.io', path: 'library/nginx' } },
    { ref: `nginx:latest@${D}`, want: { path: 'nginx', tag: 'latest', digest: D } },
    { ref: `10.0.0.1:5000/a_b__c-d.e@${D}`, want: { domain: '10.0.0.1:5000', path: 'a_b__c-d.e', digest: D } },
    { ref: 'Nginx', want: null },
    { ref: 'nginx:', want: null },
    { ref: 'nginx:-x', want: null },
    { ref: `nginx:${'t'.repeat(129)}`, want: null },
    { ref: 'nginx@sha256:abc', want: null },
    { ref: 'a//b', want: null },
    { ref: '', want: null },
    { ref: 'nginx latest', want: null },
    { ref: `${'a'.repeat(256)}`, want: null },
  ]
  for (const c of cases) t.same(parseImageRef(c.ref), c.want, c.ref.slice(0, 60))
})

t.test('pinning, display and comparison', async (t) => {
  t.equal(pinnedImage(parseImageRef('nginx')!, D), `nginx:latest@${D}`)
  t.equal(pinnedImage(parseImageRef('registry:5000/app:v1')!, D), `registry:5000/app:v1@${D}`)
  t.equal(taggedImage(parseImageRef('registry:5000/app')!), 'registry:5000/app:latest')
  t.equal(imageWithoutDigest(`nginx:latest@${D}`), 'nginx:latest')
  t.equal(imageWithoutDigest('nginx:1'), 'nginx:1')
  t.ok(hasDigest(`nginx@${D}`))
  t.notOk(hasDigest('nginx:1'))
  const cases: [string, string, boolean][] = [
    [`nginx:latest@${D}`, 'nginx', true],
    [`nginx:latest@${D}`, 'nginx:latest', true],
    [`nginx:latest@${D}`, 'nginx:1.25', false],
    [`nginx:latest@${D}`, 'other', false],
    [`nginx@${D}`, `nginx@${D}`, true],
    [`nginx@${D}`, `nginx@${E}`, false],
    [`nginx:latest@${D}`, `nginx:latest@${E}`, false],
    [`nginx@${D}`, 'nginx', false],
    ['nginx', 'nginx', true],
  ]
  for (const [current, wanted, want] of cases) t.equal(imageMatches(current, wanted), want, `${current.slice(0, 20)} ~ ${wanted.slice(0, 20)}`)
})
