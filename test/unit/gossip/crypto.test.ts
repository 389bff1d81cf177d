import t from 'tap'
import { ConfigError, GossipDecryptError } from '../../../src/base/errors.ts'
import { decodePacket, encodePacket, encodeStream, tryDecodeStream } from '../../../src/gossip/codec.ts'
import { Keyring, encryptedLength } from '../../../src/gossip/keyring.ts'
import { MSG } from '../../../src/gossip/wire.ts'
import { V, hex, toHex } from './fixtures/spec-vectors.ts'

const KEY = hex(V.key)
const fixedNonce = (n: string) => () => hex(n)
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64')

t.test('parseKey', async (t) => {
  const cases: { name: string; input: string; len?: number; error?: RegExp }[] = [
    { name: '16 bytes', input: b64(new Uint8Array(16).fill(1)), len: 16 },
    { name: '24 bytes', input: b64(new Uint8Array(24).fill(2)), len: 24 },
    { name: '32 bytes (serf keygen)', input: b64(new Uint8Array(32).fill(3)), len: 32 },
    { name: 'surrounding whitespace', input: ` ${b64(KEY)}\n`, len: 16 },
    { name: '15 bytes', input: b64(new Uint8Array(15)), error: /^encryption key must be 16, 24 or 32 bytes after base64 decoding, got 15$/ },
    { name: '33 bytes', input: b64(new Uint8Array(33)), error: /got 33$/ },
    { name: 'empty', input: '', error: /got 0$/ },
    { name: 'not base64', input: 'not*base64!!', error: /not valid base64/ },
    { name: 'unpadded', input: b64(KEY).replace(/=+$/, ''), error: /not valid base64/ },
  ]
  for (const c of cases) {
    if (c.error) {
      t.throws(() => Keyring.parseKey(c.input), ConfigError, c.name)
      t.throws(() => Keyring.parseKey(c.input), c.error, c.name)
    } else {
      t.equal(Keyring.parseKey(c.input).length, c.len, c.name)
    }
  }
  t.same(Keyring.parseKey(b64(KEY)), KEY, 'decodes to the key bytes')
})

t.test('UDP vector: decrypts exactly, and our encryption reproduces it', async (t) => {
  const ring = new Keyring([KEY], { randomBytes: fixedNonce(V.udpNonce) })
  t.equal(toHex(ring.decrypt(hex(V.udpEncrypted))), V.udpPlain, 'decrypt with empty AAD')
  t.equal(toHex(ring.encrypt(hex(V.udpPlain))), toHex(hex(V.udpEncrypted)), 'encrypt with the captured nonce')
  t.equal(toHex(encodePacket([hex(V.udpPlain)], { crc: false, compress: false, keyring: ring })), toHex(hex(V.udpEncrypted)), 'encodePacket')
  const { messages, errors } = decodePacket(hex(V.udpEncrypted), ring)
  t.same(errors, [])
  t.match(messages, [{ type: MSG.ping, Node: 'ea', SeqNo: 1, SourceNode: 'eb', SourcePort: 7946, SourceAddr: hex('7f00000d') }])
})

t.test('stream vector: decrypts to the compress vector, and encodeStream reproduces it', async (t) => {
  const ring = new Keyring([KEY], { randomBytes: fixedNonce(V.streamNonce) })
  const wire = hex(V.streamEncrypted)
  t.equal(toHex(ring.decrypt(wire.subarray(5), wire.subarray(0, 5))), toHex(hex(V.compressedAck)), 'AAD = 0a + length')
  t.throws(() => ring.decrypt(wire.subarray(5)), GossipDecryptError, 'wrong AAD fails')
  t.same(tryDecodeStream(wire, ring), { done: true, msg: { type: MSG.ack, SeqNo: 99, Payload: null }, bytes: wire.length })
  const ours = encodeStream({ type: MSG.ack, SeqNo: 99, Payload: null }, { compress: true, keyring: ring })
  t.equal(toHex(ours), toHex(wire), 'compress + encrypt byte for byte')
})

t.test('vsn 0 (PKCS#7) and vsn 1 round trips', async (t) => {
  const ring = new Keyring([KEY])
  for (const len of [0, 1, 15, 16, 17, 100]) {
    const plain = Uint8Array.from({ length: len }, (_, i) => i)
    for (const vsn of [0, 1]) {
      const blob = ring.encrypt(plain, hex('0a00000000'), vsn)
      t.equal(blob[0], vsn, `vsn ${vsn} len ${len}: version byte`)
      t.equal(blob.length, encryptedLength(vsn, len), `vsn ${vsn} len ${len}: length`)
      t.same(ring.decrypt(blob, hex('0a00000000')), plain, `vsn ${vsn} len ${len}: round trip`)
    }
  }
  t.equal(encryptedLength(1, 0), 29, 'vsn 1 overhead is 29')
  t.equal(encryptedLength(0, 15), 45, 'vsn 0 pads 15 to 16')
  t.equal(encryptedLength(0, 16), 61, 'vsn 0 adds a full block at 16')
  t.throws(() => ring.encrypt(new Uint8Array(1), undefined, 2), RangeError)
})

t.test('AES-192 and AES-256 keys', async (t) => {
  for (const size of [24, 32]) {
    const ring = new Keyring([new Uint8Array(size).fill(size)])
    const blob = ring.encrypt(hex('00'))
    t.equal(toHex(ring.decrypt(blob)), '00', `${size}-byte key`)
    t.throws(() => new Keyring([KEY]).decrypt(blob), GossipDecryptError, `${size}-byte blob with another key`)
  }
})

t.test('decrypt failures carry serf messages', async (t) => {
  const ring = new Keyring([KEY])
  const other = new Keyring([new Uint8Array(16).fill(9)])
  const good = ring.encrypt(hex('0102'))
  const tampered = Uint8Array.from(good)
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
  const cases: { name: string; input: Uint8Array; ring: Keyring; message: string }[] = [
    { name: 'wrong key', input: good, ring: other, message: 'No installed keys could decrypt the message' },
    { name: 'tampered tag', input: tampered, ring, message: 'No installed keys could decrypt the message' },
    // A plaintext ping starts with 00 (= vsn 0) and is long enough, so it is tried and every key fails.
    { name: 'plaintext ping', input: hex(V.ping), ring, message: 'No installed keys could decrypt the message' },
    { name: 'plaintext CRC packet', input: hex(V.suspect), ring, message: 'Unsupported encryption version 12' },
    { name: 'too small vsn 1', input: good.subarray(0, 28), ring, message: 'Payload is too small to decrypt: 28' },
    { name: 'too small vsn 0', input: Uint8Array.of(0, ...new Uint8Array(43)), ring, message: 'Payload is too small to decrypt: 44' },
    { name: 'empty', input: new Uint8Array(0), ring, message: 'Cannot decrypt empty payload' },
  ]
  for (const c of cases) {
    t.throws(() => c.ring.decrypt(c.input), GossipDecryptError, c.name)
    t.throws(() => c.ring.decrypt(c.input), { message: c.message }, c.name)
    t.throws(() => decodePacket(c.input, c.ring), GossipDecryptError, `${c.name} (decodePacket)`)
  }
})

t.test('keyring management', async (t) => {
  const k2 = new Uint8Array(32).fill(2)
  const k3 = new Uint8Array(24).fill(3)
  const ring = new Keyring([KEY, k2])
  t.same(ring.keys(), [KEY, k2], 'primary first')
  const fromOld = ring.encrypt(hex('aa'))
  ring.addKey(k3)
  ring.addKey(k3)
  t.equal(ring.keys().length, 3, 'addKey is idempotent')
  ring.useKey(k3)
  t.same(ring.keys()[0], k3, 'useKey makes it primary')
  t.equal(toHex(new Keyring([k3]).decrypt(ring.encrypt(hex('bb')))), 'bb', 'encrypts with the new primary')
  t.equal(toHex(ring.decrypt(fromOld)), 'aa', 'still decrypts with older keys')
  t.throws(() => ring.removeKey(k3), ConfigError, 'cannot remove the primary')
  ring.removeKey(KEY)
  t.same(ring.keys(), [k3, k2], 'removed an extra key')
  t.throws(() => ring.decrypt(fromOld), GossipDecryptError, 'removed key no longer decrypts')
  t.throws(() => ring.useKey(KEY), ConfigError, 'useKey needs an installed key')
  t.throws(() => ring.addKey(new Uint8Array(20)), /got 20/, 'addKey checks the size')
  t.throws(() => new Keyring([]), ConfigError, 'needs a primary')
  const ks = ring.keys()
  ks[0]!.fill(0)
  t.same(ring.keys()[0], k3, 'keys() returns copies')
  t.throws(() => new Keyring([KEY], { randomBytes: () => new Uint8Array(8) }).encrypt(hex('00')), RangeError, 'nonce must be 12 bytes')
})
