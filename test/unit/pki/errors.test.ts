import t from 'tap'
import { readFileSync } from 'node:fs'
import { MeshError } from '../../../src/base/errors.ts'
import { CaPinError, CsrError, JoinTokenError, PeerCertificateError, PkiError } from '../../../src/pki/index.ts'

t.test('every PKI error is a MeshError with its own code, documented in docs/security.md', async (t) => {
  const doc = readFileSync(new URL('../../../docs/security.md', import.meta.url), 'utf8')
  const errors = [
    new JoinTokenError('x'),
    new CaPinError('x'),
    new CsrError('x'),
    new PeerCertificateError('untrusted', 'x'),
    new PkiError('x'),
  ]
  const codes = errors.map((e) => e.code)
  t.equal(new Set(codes).size, codes.length, 'codes are unique')
  for (const e of errors) {
    t.ok(e instanceof MeshError, `${e.name} extends MeshError`)
    t.match(e.code, /^MESH_ERR_[A-Z_]+$/)
    t.ok(doc.includes(`| \`${e.code}\` | \`${e.name}\` |`), `${e.code} (${e.name}) is in the docs table`)
  }
  t.equal(new PeerCertificateError('revoked', 'x').problem, 'revoked')
})
