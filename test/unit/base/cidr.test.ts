import t from 'tap'
import {
  anyCidrContains, cidrContains, cidrsOverlap, formatCidr, intToIpv4, ipv4ToInt, parseCidr, prefixMask, unmapIpv4,
} from '../../../src/base/cidr.ts'

t.test('ipv4ToInt: exactly a dotted quad, octets 0-255, no leading zeros', async (t) => {
  const cases: { name: string; input: string; want: number | null }[] = [
    { name: 'zero address', input: '0.0.0.0', want: 0 },
    { name: 'private address', input: '10.77.3.1', want: 0x0a4d0301 },
    { name: 'broadcast (unsigned, not negative)', input: '255.255.255.255', want: 0xffffffff },
    { name: 'high first octet', input: '192.168.0.1', want: 0xc0a80001 },
    { name: 'empty', input: '', want: null },
    { name: 'three octets', input: '1.2.3', want: null },
    { name: 'five octets', input: '1.2.3.4.5', want: null },
    { name: 'octet over 255', input: '256.0.0.1', want: null },
    { name: 'last octet over 255', input: '1.2.3.256', want: null },
    { name: 'leading zero', input: '01.2.3.4', want: null },
    { name: 'leading zero in the last octet', input: '1.2.3.04', want: null },
    { name: 'double zero', input: '1.2.3.00', want: null },
    { name: 'four digits', input: '1.2.3.0255', want: null },
    { name: 'trailing newline', input: '1.2.3.4\n', want: null },
    { name: 'smuggled second line', input: '1.2.3.4\nx', want: null },
    { name: 'leading space', input: ' 1.2.3.4', want: null },
    { name: 'trailing space', input: '1.2.3.4 ', want: null },
    { name: 'inner space', input: '1.2. 3.4', want: null },
    { name: 'empty octet', input: '1..3.4', want: null },
    { name: 'trailing dot', input: '1.2.3.4.', want: null },
    { name: 'leading dot', input: '.1.2.3', want: null },
    { name: 'sign', input: '+1.2.3.4', want: null },
    { name: 'hex', input: '0x1.2.3.4', want: null },
    { name: 'non-ASCII digits', input: '1.2.3.٤', want: null },
    { name: 'IPv6', input: '::1', want: null },
    { name: 'IPv4-mapped IPv6 (unmap first)', input: '::ffff:1.2.3.4', want: null },
    { name: 'with a prefix', input: '1.2.3.4/32', want: null },
    { name: 'with a port', input: '1.2.3.4:53', want: null },
  ]
  for (const c of cases) t.equal(ipv4ToInt(c.input), c.want, c.name)
})

t.test('intToIpv4 inverts ipv4ToInt', async (t) => {
  for (const ip of ['0.0.0.0', '10.78.0.2', '127.0.0.1', '255.255.255.255', '172.16.254.9']) {
    t.equal(intToIpv4(ipv4ToInt(ip) as number), ip, ip)
  }
})

t.test('unmapIpv4 strips only the IPv4-mapped prefix', async (t) => {
  t.equal(unmapIpv4('::ffff:10.0.0.1'), '10.0.0.1')
  t.equal(unmapIpv4('10.0.0.1'), '10.0.0.1')
  t.equal(unmapIpv4('fe80::1'), 'fe80::1')
})

t.test('parseCidr: networks, and refusals naming the field', async (t) => {
  const good: { input: string; want: string }[] = [
    { input: '10.77.0.0/16', want: '10.77.0.0/16' },
    { input: '0.0.0.0/0', want: '0.0.0.0/0' },
    { input: '10.78.0.2/32', want: '10.78.0.2/32' },
    { input: '127.0.0.0/8', want: '127.0.0.0/8' },
  ]
  for (const c of good) t.equal(formatCidr(parseCidr(c.input, 'range')), c.want, c.input)

  const bad: { name: string; input: string }[] = [
    { name: 'empty', input: '' },
    { name: 'no prefix', input: '10.77.0.0' },
    { name: 'empty prefix', input: '10.77.0.0/' },
    { name: 'prefix over 32', input: '1.2.3.4/33' },
    { name: 'prefix 100', input: '1.2.3.0/100' },
    { name: 'leading-zero prefix', input: '10.0.0.0/08' },
    { name: 'negative prefix', input: '10.0.0.0/-1' },
    { name: 'three octets', input: '1.2.3/24' },
    { name: 'octet over 255', input: '256.0.0.1/32' },
    { name: 'leading-zero octet', input: '01.2.3.4/32' },
    { name: 'newline after', input: '10.0.0.0/8\n' },
    { name: 'second line', input: '10.0.0.0/8\nflush ruleset' },
    { name: 'newline inside the address', input: '1.2.3.4\nx/32' },
    { name: 'surrounding spaces', input: ' 10.0.0.0/8 ' },
    { name: 'space before the prefix', input: '10.0.0.0 /8' },
    { name: 'two prefixes', input: '10.0.0.0/8/8' },
    { name: 'IPv6', input: 'fd00::/8' },
  ]
  for (const c of bad) {
    t.throws(() => parseCidr(c.input, 'overlay range'), {
      code: 'MESH_ERR_CONFIG',
      message: `overlay range "${c.input}": want an IPv4 network like 10.77.0.0/16`,
    }, c.name)
  }
  t.throws(() => parseCidr('1.2.3.4/33'), { message: 'CIDR "1.2.3.4/33": want an IPv4 network like 10.77.0.0/16' }, 'default field name')
})

t.test('parseCidr: host bits refused for ranges, cleared for allow-lists', async (t) => {
  t.throws(() => parseCidr('10.77.1.0/16', 'VIP range'), {
    code: 'MESH_ERR_CONFIG',
    message: 'VIP range "10.77.1.0/16": host bits are set; did you mean 10.77.0.0/16?',
  })
  t.equal(formatCidr(parseCidr('127.0.0.1/8', 'allowCidrs', 'clear')), '127.0.0.0/8')
  t.equal(formatCidr(parseCidr('10.1.2.3/0', 'allowCidrs', 'clear')), '0.0.0.0/0')
  t.throws(() => parseCidr('127.0.0.1/33', 'allowCidrs', 'clear'), /want an IPv4 network/, 'clearing does not loosen syntax')
})

t.test('prefixMask', async (t) => {
  const cases = [{ prefix: 0, want: 0 }, { prefix: 1, want: 0x80000000 }, { prefix: 24, want: 0xffffff00 }, { prefix: 32, want: 0xffffffff }]
  for (const c of cases) t.equal(prefixMask(c.prefix), c.want, `/${c.prefix}`)
})

t.test('cidrContains and anyCidrContains', async (t) => {
  const ip = (s: string): number => ipv4ToInt(s) as number
  const net = parseCidr('10.77.0.0/16')
  const cases = [
    { addr: '10.77.0.0', want: true },
    { addr: '10.77.255.255', want: true },
    { addr: '10.78.0.0', want: false },
    { addr: '10.76.255.255', want: false },
    { addr: '255.255.255.255', want: false },
  ]
  for (const c of cases) t.equal(cidrContains(net, ip(c.addr)), c.want, c.addr)
  t.ok(cidrContains(parseCidr('0.0.0.0/0'), ip('200.1.1.1')), '/0 holds everything')
  t.ok(cidrContains(parseCidr('200.1.1.1/32'), ip('200.1.1.1')), '/32 holds itself')
  t.notOk(cidrContains(parseCidr('200.1.1.1/32'), ip('200.1.1.2')), '/32 holds nothing else')
  const list = [parseCidr('10.0.0.0/8'), parseCidr('127.0.0.0/8')]
  t.ok(anyCidrContains(list, ip('127.0.0.1')))
  t.notOk(anyCidrContains(list, ip('192.168.0.1')))
  t.notOk(anyCidrContains([], ip('10.0.0.1')), 'empty list holds nothing')
})

t.test('cidrsOverlap', async (t) => {
  const cases = [
    { a: '10.77.0.0/16', b: '10.77.3.0/24', want: true },
    { a: '10.77.3.0/24', b: '10.77.0.0/16', want: true },
    { a: '10.77.0.0/16', b: '10.78.0.0/16', want: false },
    { a: '0.0.0.0/0', b: '192.168.1.0/24', want: true },
    { a: '172.17.0.0/16', b: '172.16.0.0/12', want: true },
    { a: '172.32.0.0/16', b: '172.16.0.0/12', want: false },
  ]
  for (const c of cases) t.equal(cidrsOverlap(parseCidr(c.a), parseCidr(c.b)), c.want, `${c.a} ∩ ${c.b}`)
})
