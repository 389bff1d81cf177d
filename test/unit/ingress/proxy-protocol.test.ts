import t from 'tap'
import { proxyV1, proxyV2 } from '../../../src/ingress/index.ts'

// Vectors from haproxy's doc/proxy-protocol.txt (sections 2.1 and 2.2).
const SIG = '0d0a0d0a000d0a515549540a'

t.test('v1 text header', async (t) => {
  const cases = [
    { name: 'TCP4', a: { srcAddr: '192.168.0.1', srcPort: 56324, dstAddr: '192.168.0.11', dstPort: 443 }, want: 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n' },
    { name: 'IPv4-mapped becomes TCP4', a: { srcAddr: '::ffff:10.0.0.1', srcPort: 1, dstAddr: '::ffff:10.0.0.2', dstPort: 2 }, want: 'PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n' },
    { name: 'TCP6', a: { srcAddr: '2001:db8::1', srcPort: 1000, dstAddr: '2001:db8::2', dstPort: 80 }, want: 'PROXY TCP6 2001:db8::1 2001:db8::2 1000 80\r\n' },
    { name: 'mixed → UNKNOWN', a: { srcAddr: '10.0.0.1', srcPort: 1, dstAddr: '2001:db8::2', dstPort: 80 }, want: 'PROXY UNKNOWN\r\n' },
  ]
  for (const c of cases) t.equal(proxyV1(c.a).toString('latin1'), c.want, c.name)
})

t.test('v2 binary header', async (t) => {
  const cases = [
    {
      name: 'TCP over IPv4',
      got: proxyV2({ srcAddr: '192.168.0.1', srcPort: 56324, dstAddr: '192.168.0.11', dstPort: 443 }),
      // sig, 0x21 (v2 PROXY), 0x11 (AF_INET STREAM), len 12, src, dst, sport, dport
      want: `${SIG}21 11 000c c0a80001 c0a8000b dc04 01bb`,
    },
    {
      name: 'UDP over IPv4',
      got: proxyV2({ srcAddr: '10.1.2.3', srcPort: 53, dstAddr: '10.4.5.6', dstPort: 5353 }, 'dgram'),
      want: `${SIG}21 12 000c 0a010203 0a040506 0035 14e9`,
    },
    {
      name: 'TCP over IPv6',
      got: proxyV2({ srcAddr: '2001:db8::1', srcPort: 1, dstAddr: '::1', dstPort: 2 }),
      want: `${SIG}21 21 0024 20010db8000000000000000000000001 00000000000000000000000000000001 0001 0002`,
    },
    {
      name: 'mixed families → AF_UNSPEC, no address block',
      got: proxyV2({ srcAddr: '10.0.0.1', srcPort: 1, dstAddr: '::1', dstPort: 2 }),
      want: `${SIG}21 00 0000`,
    },
  ]
  for (const c of cases) t.equal(c.got.toString('hex'), c.want.replace(/ /g, ''), c.name)
})
