import t from 'tap'
import { KERNEL_IMPL, WG_GO_GSO_SINCE, compareVersions, parseSsBuffers, parseWgGoVersion, wgGoAdvice, wgGoHasGso } from '../../../src/overlay/wg-impl.ts'
import { formatOverlay, formatWireGuard } from '../../../mesh/status.ts'
import type { OverlayStatus, WireGuardImpl } from '../../../src/api/index.ts'

t.test('wireguard-go --version is parsed', async (t) => {
  const cases = [
    { name: "Debian 13's", out: 'wireguard-go v0.0.20230223\n\nUserspace WireGuard daemon for linux-amd64.\n', want: '0.0.20230223' },
    { name: "Debian 12's", out: 'wireguard-go v0.0.20220316\n', want: '0.0.20220316' },
    { name: 'no version', out: 'Usage: wireguard-go [-f/--foreground] INTERFACE-NAME\n', want: null },
    { name: 'empty (could not run)', out: '', want: null },
  ]
  for (const c of cases) t.equal(parseWgGoVersion(c.out), c.want, c.name)
})

t.test('versions compare part by part; GSO/GRO from 0.0.20230223 on', async (t) => {
  const cases = [
    { a: '0.0.20230223', b: '0.0.20220316', sign: 1 },
    { a: '0.0.20220316', b: '0.0.20230223', sign: -1 },
    { a: '0.0.20230223', b: '0.0.20230223', sign: 0 },
    { a: '0.1', b: '0.0.20250101', sign: 1 },
    { a: '1.0', b: '1.0.0', sign: 0 },
  ]
  for (const c of cases) t.equal(Math.sign(compareVersions(c.a, c.b)), c.sign, `${c.a} vs ${c.b}`)
  t.equal(wgGoHasGso(WG_GO_GSO_SINCE), true)
  t.equal(wgGoHasGso('0.0.20250522'), true)
  t.equal(wgGoHasGso('0.0.20220316'), false)
  t.equal(wgGoHasGso(null), null, 'unknown version: unknown')
})

// `ss -uampnH 'sport = :51999'` in a netns with two wireguard-go processes' sockets (captured on Debian 12, ss 6.1).
const SS = [
  'UNCONN 0      0            0.0.0.0:51999      0.0.0.0:*    users:(("wireguard-go",pid=24296,fd=9))',
  '\t skmem:(r0,rb14680064,t0,tb14680064,f0,w0,o0,bl0,d0)',
  'UNCONN 0      0               [::]:51999         [::]:*    users:(("wireguard-go",pid=24296,fd=16))',
  '\t skmem:(r0,rb14680064,t0,tb14680064,f0,w0,o0,bl0,d0)',
  'UNCONN 0      0            0.0.0.0:519990     0.0.0.0:*    users:(("other",pid=777,fd=3))',
  '\t skmem:(r0,rb1,t0,tb1,f0,w0,o0,bl0,d0)',
  'UNCONN 0      0            0.0.0.0:51820      0.0.0.0:*    users:(("wireguard-go",pid=2429,fd=18))',
  '\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0)',
].join('\n')

t.test('UDP buffers of the socket a pid owns on a port, from ss', async (t) => {
  t.same(parseSsBuffers(SS, 51999, 24296), { rcvBytes: 14680064, sndBytes: 14680064 })
  t.same(parseSsBuffers(SS, 51820, 2429), { rcvBytes: 212992, sndBytes: 212992 })
  t.equal(parseSsBuffers(SS, 51999, 2429), null, 'another pid on that port: not ours')
  t.equal(parseSsBuffers(SS, 51999, 777), null, 'port 519990 is not 51999')
  t.equal(parseSsBuffers('', 51820, 1), null)
})

const impl = (o: Partial<WireGuardImpl>): WireGuardImpl =>
  ({ kind: 'userspace', binary: '/usr/bin/wireguard-go', version: '0.0.20230223', gso: true, udpRcvBufBytes: 14680064, udpSndBufBytes: 14680064, ...o })

t.test('an old wireguard-go gets one warning naming the fix; a GSO one and kernel WireGuard none', async (t) => {
  t.match(wgGoAdvice(impl({ version: '0.0.20220316', gso: false })), /wireguard-go 0\.0\.20220316 has no TCP GSO\/GRO .*docs\/install\.md/)
  t.equal(wgGoAdvice(impl({})), null)
  t.equal(wgGoAdvice(impl({ version: null, gso: null })), null, 'unknown version: no claim')
  t.equal(wgGoAdvice(KERNEL_IMPL), null)
})

t.test('mesh status names the WireGuard: kernel, or wireguard-go with version, GSO/GRO and buffers', async (t) => {
  const base: OverlayStatus = {
    enabled: true, subnet: '10.77.1.0/24', held: true, gateway: '10.77.1.1', ifname: 'mesh0', kind: 'userspace', mtu: 1420,
    publicKey: 'k', peers: [], rejectedPeers: 0,
  }
  const cases = [
    { name: 'kernel', o: { ...base, kind: 'kernel' as const, wireguard: KERNEL_IMPL }, want: 'kernel WireGuard' },
    { name: 'GSO wireguard-go', o: { ...base, wireguard: impl({}) }, want: 'wireguard-go 0.0.20230223, GSO/GRO, UDP buffers 14.0 MiB/14.0 MiB' },
    { name: 'old wireguard-go', o: { ...base, wireguard: impl({ version: '0.0.20220316', gso: false, udpRcvBufBytes: 212992, udpSndBufBytes: 212992 }) },
      want: 'wireguard-go 0.0.20220316, no GSO/GRO, UDP buffers 208.0 KiB/208.0 KiB' },
    { name: 'nothing measured', o: { ...base, wireguard: impl({ version: null, gso: null, udpRcvBufBytes: null, udpSndBufBytes: null }) }, want: 'wireguard-go' },
    { name: 'an agent without the field', o: base, want: 'wireguard-go' },
  ]
  for (const c of cases) t.equal(formatWireGuard(c.o), c.want, c.name)
  t.match(formatOverlay({ ...base, wireguard: impl({}) }), /mesh0 \(wireguard-go 0\.0\.20230223, GSO\/GRO, UDP buffers 14\.0 MiB\/14\.0 MiB, MTU 1420\)/)
})
