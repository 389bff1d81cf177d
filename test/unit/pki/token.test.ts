import t from 'tap'
import { createHash } from 'node:crypto'
import {
  caDigest,
  createClusterCa,
  fetchAndPinCa,
  formatJoinToken,
  JoinTokenError,
  newJoinSecrets,
  parseJoinToken,
  roleForJoinToken,
} from '../../../src/pki/index.ts'
import { NOW, rejectsWith, seededBytes } from './fixtures.ts'

const DIGEST = 'ab'.repeat(32)
const SECRET = '0123456789abcdef'.repeat(2)
const GOOD = `MESHTKN-2-${DIGEST}-${SECRET}`

t.test('format and parse round trip; surrounding whitespace forgiven', async (t) => {
  t.equal(formatJoinToken({ caDigest: DIGEST, secret: SECRET }), GOOD)
  for (const text of [GOOD, ` ${GOOD}`, `${GOOD}\n`, `\t${GOOD}\r\n`]) {
    t.same(parseJoinToken(text), { caDigest: DIGEST, secret: SECRET }, JSON.stringify(text))
  }
})

t.test('parseJoinToken refuses hostile input with one clear line that never repeats the secret', async (t) => {
  const cases: { name: string; input: unknown; message: RegExp }[] = [
    { name: 'empty', input: '', message: /malformed; expected MESHTKN-2-/ },
    { name: 'blank', input: '   ', message: /malformed/ },
    { name: 'prefix only', input: 'MESHTKN-2-', message: /malformed/ },
    { name: 'no secret', input: `MESHTKN-2-${DIGEST}`, message: /malformed/ },
    { name: 'empty secret', input: `MESHTKN-2-${DIGEST}-`, message: /malformed/ },
    { name: 'digest 63 hex', input: `MESHTKN-2-${DIGEST.slice(1)}-${SECRET}`, message: /malformed/ },
    { name: 'digest 65 hex', input: `MESHTKN-2-${DIGEST}a-${SECRET}`, message: /malformed/ },
    { name: 'uppercase digest', input: `MESHTKN-2-${DIGEST.toUpperCase()}-${SECRET}`, message: /malformed/ },
    { name: 'non-hex digest', input: `MESHTKN-2-${'g'.repeat(64)}-${SECRET}`, message: /malformed/ },
    { name: 'secret 31 hex', input: `MESHTKN-2-${DIGEST}-${SECRET.slice(1)}`, message: /malformed/ },
    { name: 'secret 33 hex', input: `${GOOD}0`, message: /malformed/ },
    { name: 'extra part', input: `${GOOD}-00`, message: /malformed/ },
    { name: 'parts swapped', input: `MESHTKN-2-${SECRET}-${DIGEST}`, message: /malformed/ },
    { name: 'lowercase prefix', input: GOOD.toLowerCase(), message: /malformed/ },
    { name: 'future version', input: GOOD.replace('-2-', '-3-'), message: /malformed/ },
    { name: 'version 1 token', input: `MESHTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`, message: /version 1 .*ask a manager/ },
    { name: 'swarm token', input: `SWMTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`, message: /Docker Swarm token/ },
    { name: 'space inside', input: GOOD.replace(`-${SECRET}`, ` -${SECRET}`), message: /malformed/ },
    { name: 'second line appended', input: `${GOOD}\n${GOOD}`, message: /215 characters long; expected MESHTKN-2-/ },
    { name: 'short second line', input: `${GOOD}\nx`, message: /malformed/ },
    { name: 'NUL inside', input: `${GOOD.slice(0, 20)}\u0000${GOOD.slice(20)}`, message: /malformed/ },
    { name: 'homoglyph digit', input: GOOD.replace('-2-', '-\uff12-'), message: /malformed/ },
    { name: 'sha256: prefix', input: `MESHTKN-2-sha256:${DIGEST}-${SECRET}`, message: /malformed/ },
    { name: 'megabyte', input: 'A'.repeat(1 << 20), message: /1048576 characters long/ },
    { name: 'number', input: 42, message: /not text/ },
    { name: 'null', input: null, message: /not text/ },
    { name: 'object', input: { caDigest: DIGEST, secret: SECRET }, message: /not text/ },
  ]
  for (const c of cases) {
    try {
      parseJoinToken(c.input)
      t.fail(`${c.name}: accepted`)
    } catch (err) {
      t.ok(err instanceof JoinTokenError, `${c.name}: JoinTokenError`)
      const e = err as JoinTokenError
      t.equal(e.code, 'MESH_ERR_JOIN_TOKEN', `${c.name}: code`)
      t.match(e.message, c.message, `${c.name}: message`)
      t.notMatch(e.message, /\n/, `${c.name}: one line`)
      t.notOk(e.message.includes(SECRET.slice(0, 12)), `${c.name}: secret not echoed`)
    }
  }
})

t.test('formatJoinToken refuses parts that would not parse back', async (t) => {
  t.throws(() => formatJoinToken({ caDigest: DIGEST.toUpperCase(), secret: SECRET }), { code: 'MESH_ERR_JOIN_TOKEN' })
  t.throws(() => formatJoinToken({ caDigest: DIGEST, secret: `${SECRET}-x` }), { code: 'MESH_ERR_JOIN_TOKEN' })
})

t.test('role secrets: separate, compared in full, digest checked first', async (t) => {
  const secrets = newJoinSecrets(seededBytes(1))
  t.match(secrets.worker, /^[0-9a-f]{32}$/)
  t.not(secrets.worker, secrets.manager)
  t.same(newJoinSecrets(seededBytes(1)), secrets, 'reproducible with injected random bytes')
  t.throws(() => newJoinSecrets((size) => new Uint8Array(size).fill(7)), { code: 'MESH_ERR_PKI' }, 'a stuck random source is refused')
  const cluster = { caDigest: DIGEST, secrets }
  const cases: { name: string; token: { caDigest: string; secret: string }; want: string | RegExp }[] = [
    { name: 'worker secret', token: { caDigest: DIGEST, secret: secrets.worker }, want: 'worker' },
    { name: 'manager secret', token: { caDigest: DIGEST, secret: secrets.manager }, want: 'manager' },
    { name: 'unknown secret', token: { caDigest: DIGEST, secret: SECRET }, want: /secret is not valid/ },
    { name: 'one digit off', token: { caDigest: DIGEST, secret: secrets.worker.slice(0, 31) + (secrets.worker.endsWith('0') ? '1' : '0') }, want: /secret is not valid/ },
    { name: 'other CA, right secret', token: { caDigest: 'cd'.repeat(32), secret: secrets.manager }, want: /another cluster CA/ },
    { name: 'short digest', token: { caDigest: 'ab', secret: secrets.worker }, want: /another cluster CA/ },
  ]
  for (const c of cases) {
    if (typeof c.want === 'string') t.equal(roleForJoinToken(c.token, cluster), c.want, c.name)
    else t.throws(() => roleForJoinToken(c.token, cluster), { code: 'MESH_ERR_JOIN_TOKEN', message: c.want }, c.name)
  }
})

t.test('caDigest is sha256 of the DER; fetchAndPinCa accepts only the pinned, self-signed CA', async (t) => {
  const ca = await createClusterCa({ clusterId: 'c1', now: NOW })
  const other = await createClusterCa({ clusterId: 'c1', now: NOW })
  const b64 = ca.certPem.replace(/-----[A-Z ]+-----|\s/g, '')
  const digest = caDigest(ca.certPem)
  t.equal(digest, createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex'))
  t.equal(caDigest(ca.certPem.replace(/\n/g, '\r\n')), digest, 'line endings do not matter')
  t.equal(await fetchAndPinCa(ca.certPem, digest), ca.certPem)
  await rejectsWith(t, () => fetchAndPinCa(other.certPem, digest), { code: 'MESH_ERR_CA_PIN', message: /not the one the join token pins/ }, 'other CA')
  await rejectsWith(t, () => fetchAndPinCa(ca.certPem, digest.toUpperCase()), { code: 'MESH_ERR_CA_PIN', message: /64 lowercase hex/ }, 'bad expected digest')
  await rejectsWith(t, () => fetchAndPinCa('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', digest), { code: 'MESH_ERR_CA_PIN' }, 'garbage')
  await rejectsWith(t, () => fetchAndPinCa(ca.certPem + other.certPem, digest), { code: 'MESH_ERR_CA_PIN', message: /2 certificates/ }, 'two certificates')
  await rejectsWith(t, () => fetchAndPinCa(`${ca.certPem}${ca.keyPem}`, digest), { code: 'MESH_ERR_CA_PIN', message: /outside CERTIFICATE/ }, 'key appended')
  const token = parseJoinToken(formatJoinToken({ caDigest: digest, secret: SECRET }))
  t.equal(token.caDigest, digest, 'a token carries the digest the joining node pins')
})
