import t from 'tap'
import { failoverOrder, isConnectFailure, parseHostUrls, shouldFailOver } from '../../../src/api/index.ts'

t.test('failoverOrder: the current one first, then the ones after it, wrapping', async (t) => {
  const cases = [
    { count: 3, current: 0, want: [0, 1, 2] },
    { count: 3, current: 2, want: [2, 0, 1] },
    { count: 3, current: 4, want: [1, 2, 0] },
    { count: 1, current: 0, want: [0] },
    { count: 0, current: 0, want: [] },
  ]
  for (const c of cases) t.same(failoverOrder(c.count, c.current), c.want, `${c.count} from ${c.current}`)
})

t.test('shouldFailOver: never connected → any request; broken before the answer → reads only', async (t) => {
  const err = (code: string, syscall?: string) => Object.assign(new Error(code), { code, ...(syscall ? { syscall } : {}) })
  const cases = [
    { name: 'refused', err: err('ECONNREFUSED', 'connect'), get: true, post: true },
    { name: 'host unreachable', err: err('EHOSTUNREACH', 'connect'), get: true, post: true },
    { name: 'name not found', err: err('ENOTFOUND', 'getaddrinfo'), get: true, post: true },
    { name: 'connect timeout', err: err('ETIMEDOUT', 'connect'), get: true, post: true },
    { name: 'no answer in time (connected)', err: err('ETIMEDOUT'), get: true, post: false },
    { name: 'reset (connected)', err: err('ECONNRESET'), get: true, post: false },
    { name: 'TLS check failed', err: new Error('self-signed certificate'), get: false, post: false },
    { name: 'not an error', err: 'ECONNREFUSED', get: false, post: false },
  ]
  for (const c of cases) {
    t.equal(shouldFailOver(c.err, 'GET'), c.get, `${c.name}: GET`)
    t.equal(shouldFailOver(c.err, 'POST'), c.post, `${c.name}: POST`)
  }
  t.equal(isConnectFailure(null), false)
})

t.test('parseHostUrls: one host, or a comma list of tcp:// managers', async (t) => {
  t.same(parseHostUrls('tcp://10.0.0.1:7947,tcp://[fd00::2]:7947, tcp://m3:7950').map((u) => [u.host, u.port]),
    [['10.0.0.1', 7947], ['fd00::2', 7947], ['m3', 7950]])
  t.same(parseHostUrls('ssh://root@m1').map((u) => u.url), ['ssh://root@m1'], 'an ssh host alone')
  const bad = [
    { text: 'tcp://a:7947,ssh://root@b', want: /"tcp:\/\/a:7947,ssh:\/\/root@b": a list of hosts is for tcp:\/\/ managers only; ssh:\/\/root@b must be the one host/ },
    { text: 'tcp://a:7947,', want: /an empty host in the list/ },
    { text: 'tcp://a:7947,tcp://a:7947', want: /tcp:\/\/a:7947 is listed twice/ },
    { text: 'tcp://a:7947,b:7947', want: /want tcp:\/\/HOST:PORT/ },
  ]
  for (const b of bad) t.throws(() => parseHostUrls(b.text, '--host'), { code: 'MESH_ERR_CONFIG', message: b.want }, b.text)
})
