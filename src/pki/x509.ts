/**
 * The one file that touches @peculiar/x509 and WebCrypto: key generation and PEM conversion, certificate parsing,
 * names. Everything else in src/pki talks in PEM strings and the helpers below.
 */
import 'reflect-metadata' // @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect polyfill
import * as x509 from '@peculiar/x509'
import { createPrivateKey, createPublicKey, randomBytes as nodeRandomBytes, webcrypto } from 'node:crypto'
import { PkiError } from './errors.ts'

export { x509 }

x509.cryptoProvider.set(webcrypto as unknown as Crypto)

/** ECDSA over P-256 with SHA-256: the only key and signature type the cluster issues or accepts. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const

/** Random bytes; injected so tests can make serial numbers and secrets reproducible. */
export type RandomBytes = (size: number) => Uint8Array

export const cryptoRandomBytes: RandomBytes = (size) => nodeRandomBytes(size)

/** A private key and the certificate that names its public half, both PEM. */
export interface KeyAndCert {
  readonly certPem: string
  readonly keyPem: string
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair
}

/** PKCS#8 PEM ("BEGIN PRIVATE KEY"), the form Node's tls and openssl read. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

/** Imports a PEM private key and derives its public half; refuses anything but an ECDSA P-256 key. */
export async function importKeyPair(keyPem: string, what: string): Promise<CryptoKeyPair> {
  let pkcs8: Buffer
  let spki: Buffer
  try {
    const key = createPrivateKey(keyPem)
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error(`a ${key.asymmetricKeyType ?? 'symmetric'} key`)
    }
    pkcs8 = key.export({ type: 'pkcs8', format: 'der' })
    spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  } catch (err) {
    throw new PkiError(`${what}: not an ECDSA P-256 private key (${(err as Error).message})`, { cause: err })
  }
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, KEY_ALGORITHM, true, ['sign'])
  const publicKey = await webcrypto.subtle.importKey('spki', spki, KEY_ALGORITHM, true, ['verify'])
  return { privateKey, publicKey } as CryptoKeyPair
}

/** The DER SubjectPublicKeyInfo of a key pair, to compare with a certificate's. */
export async function publicKeyDer(keys: CryptoKeyPair): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey))
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g

/**
 * Splits a PEM bundle into certificates, in order. Strict: anything but CERTIFICATE blocks and whitespace is
 * refused, so a key or a stray line pasted into a chain is an error, not silently ignored.
 */
export function splitCertificates(pem: string): x509.X509Certificate[] {
  if (typeof pem !== 'string') throw new Error('not a string')
  const certs: x509.X509Certificate[] = []
  let rest = pem
  for (const m of pem.matchAll(CERT_BLOCK)) {
    certs.push(new x509.X509Certificate(Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64')))
    rest = rest.replace(m[0], '')
  }
  if (rest.trim() !== '') throw new Error('text outside CERTIFICATE blocks')
  if (certs.length === 0) throw new Error('no CERTIFICATE block')
  return certs
}

/** Parses exactly one PEM certificate. */
export function parseCertificate(pem: string): x509.X509Certificate {
  const certs = splitCertificates(pem)
  if (certs.length !== 1) throw new Error(`${certs.length} certificates where one was expected`)
  return certs[0] as x509.X509Certificate
}

export function certificateToPem(cert: x509.X509Certificate): string {
  return cert.toString('pem') + '\n'
}

/** A positive 128-bit serial number (RFC 5280 allows up to 20 octets), as lowercase hex. */
export function newSerialNumber(randomBytes: RandomBytes): string {
  const bytes = Buffer.from(randomBytes(16))
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x40 // positive, and no leading zero octet to be trimmed
  return bytes.toString('hex')
}

/** Certificates carry whole seconds; truncate so what we compute equals what we read back. */
export function toCertDate(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000)
}

export function sameName(a: x509.Name, b: x509.Name): boolean {
  return Buffer.from(a.toArrayBuffer()).equals(Buffer.from(b.toArrayBuffer()))
}

/** The single value of a subject attribute, or undefined when it is absent or repeated. */
export function singleField(name: x509.Name, field: string): string | undefined {
  const values = name.getField(field)
  return values.length === 1 ? values[0] : undefined
}

export function isCaCertificate(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true
}
