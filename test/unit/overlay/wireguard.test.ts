import t from 'tap'
import net from 'node:net'
import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SubnetPool } from '../../../src/overlay/ipam.ts'
import { parseCidr } from '../../../src/base/cidr.ts'
import { desiredPeers, planPeers, planRoutes } from '../../../src/overlay/peers.ts'
import { UapiClient, formatSet, parseGet } from '../../../src/overlay/uapi.ts'
import { generateKeyPair, keyToHex, loadOrCreateKey, publicKeyOf } from '../../../src/overlay/wg-keys.ts'
import type { MemberInfo } from '../../../src/gossip/index.ts'

const hex = (h: string) => Buffer.from(h, 'hex').toString('base64')

t.test('X25519 public key from private key (RFC 7748 §6.1 vector)', async (t) => {
  const priv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')
  t.equal(keyToHex(publicKeyOf(priv)), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
  const pair = generateKeyPair()
  t.equal(publicKeyOf(pair.privateKey), pair.publicKey, 'generated pairs are consistent')
  t.throws(() => publicKeyOf('c2hvcnQ='), /32 bytes/)
})

t.test('the node key is created once, 0600, and kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-wg-'))
  const a = loadOrCreateKey(dir)
  t.equal(statSync(join(dir, 'wireguard.key')).mode & 0o777, 0o600)
  const b = loadOrCreateKey(dir)
  t.same(b, a, 'the same key on the next start')
  t.equal(readFileSync(join(dir, 'wireguard.key'), 'utf8').trim(), a.privateKey)
})

const K1 = hex('e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a')
const K2 = hex('58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376')

t.test('UAPI set text matches the xplatform protocol', async (t) => {
  const text = formatSet({
    privateKey: K1, listenPort: 51820, replacePeers: true,
    peers: [{ publicKey: K2, endpoint: '192.168.77.12:51820', allowedIps: ['10.77.2.0/24'], persistentKeepaliveS: 25 }, { publicKey: K1, remove: true }],
  })
  t.equal(text, [
    'set=1', `private_key=${keyToHex(K1)}`, 'listen_port=51820', 'replace_peers=true',
    `public_key=${keyToHex(K2)}`, 'endpoint=192.168.77.12:51820', 'persistent_keepalive_interval=25', 'replace_allowed_ips=true',
    'allowed_ip=10.77.2.0/24', `public_key=${keyToHex(K1)}`, 'remove=true', '', '',
  ].join('\n'))
})

t.test('UAPI get reply is parsed', async (t) => {
  const reply = `private_key=${keyToHex(K1)}\nlisten_port=51820\npublic_key=${keyToHex(K2)}\nendpoint=192.168.77.12:51820\n` +
    'last_handshake_time_sec=1700000000\nlast_handshake_time_nsec=5\ntx_bytes=1200\nrx_bytes=3400\npersistent_keepalive_interval=25\n' +
    'allowed_ip=10.77.2.0/24\nprotocol_version=1\nerrno=0\n\n'
  t.same(parseGet(reply), {
    publicKey: null, listenPort: 51820, errno: 0,
    peers: [{ publicKey: K2, endpoint: '192.168.77.12:51820', allowedIps: ['10.77.2.0/24'], lastHandshakeS: 1700000000, rxBytes: 3400, txBytes: 1200, persistentKeepaliveS: 25 }],
  })
})

t.test('UAPI client over a unix socket: set errors surface, get works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-uapi-'))
  const path = join(dir, 'wg.sock')
  const seen: string[] = []
  const server = net.createServer((s) => {
    let buf = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      buf += d
      if (!buf.endsWith('\n\n')) return
      seen.push(buf)
      if (buf.startsWith('get=1')) s.end(`listen_port=7\npublic_key=${keyToHex(K2)}\nrx_bytes=9\nerrno=0\n\n`)
      else s.end(buf.includes('listen_port=1\n') ? 'errno=-22\n\n' : 'errno=0\n\n')
    })
  })
  await new Promise<void>((r) => server.listen(path, r))
  t.teardown(() => server.close())
  const c = new UapiClient(path)
  await c.set({ listenPort: 51820 })
  await t.rejects(c.set({ listenPort: 1 }), /errno=-22/)
  const dev = await c.get()
  t.equal(dev.listenPort, 7)
  t.equal(dev.peers[0]?.rxBytes, 9)
  await t.rejects(new UapiClient(join(dir, 'missing.sock')).get(), /ENOENT/)
})

function member(name: string, state: MemberInfo['state'], tags: Record<string, string>, ip = '192.168.77.12'): MemberInfo {
  return { name, address: `${ip}:7946`, ip, port: 7946, state, status: state === 'dead' ? 'failed' : 'alive', incarnation: 1, tags, protocol: [], sinceChangeMs: 0 }
}

t.test('desired peers: alive members with a held subnet and a key; plans are minimal', async (t) => {
  const held = (s: string, k: string) => ({ 'mesh.subnet': s, 'mesh.subnet.held': '1', 'mesh.wg.pub': k })
  const members = [
    member('me', 'alive', held('10.77.1.0/24', K1), '192.168.77.11'),
    member('b', 'alive', held('10.77.2.0/24', K2)),
    member('c', 'dead', held('10.77.3.0/24', K1), '192.168.77.13'),
    member('d', 'alive', { 'mesh.subnet': '10.77.4.0/24', 'mesh.subnet.held': '0', 'mesh.wg.pub': K1 }, '192.168.77.14'),
    member('e', 'alive', {}, '192.168.77.15'),
  ]
  const d = desiredPeers(members, 'me', new SubnetPool(parseCidr('10.77.0.0/16'), 24))
  t.same(d, [{ node: 'b', publicKey: K2, endpoint: '192.168.77.12:51820', subnet: '10.77.2.0/24' }])
  t.same(planPeers(d, [], 25), [{ publicKey: K2, endpoint: '192.168.77.12:51820', allowedIps: ['10.77.2.0/24'], persistentKeepaliveS: 25 }])
  const current = [{ publicKey: K2, endpoint: '192.168.77.12:51820', allowedIps: ['10.77.2.0/24'], lastHandshakeS: 0, rxBytes: 0, txBytes: 0, persistentKeepaliveS: 25 }]
  t.same(planPeers(d, current, 25), [], 'nothing to do when in sync (restarts are idempotent)')
  t.same(planPeers([], current, 25), [{ publicKey: K2, remove: true }], 'a failed member is removed')
  t.same(planRoutes(d, ['10.77.2.0/24', '10.77.3.0/24']), { add: [], remove: ['10.77.3.0/24'] })
})
