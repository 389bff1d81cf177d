import t from 'tap'
import { ConfigError } from '../../../src/base/errors.ts'
import { parseCpus, parseDuration, parseMemory, parseMount, parsePublish } from '../../../src/api/spec.ts'

function errorOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return err instanceof ConfigError ? err.message : `not a ConfigError: ${String(err)}`
  }
  return 'no error'
}

t.test('publish: short and long syntax', async (t) => {
  const ok = [
    { in: '8080:80', want: { published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' } },
    { in: '53:53/udp', want: { published: 53, target: 53, protocol: 'udp', mode: 'ingress' } },
    { in: 'published=8080,target=80', want: { published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' } },
    { in: 'published=9000,target=90,protocol=udp,mode=host', want: { published: 9000, target: 90, protocol: 'udp', mode: 'host' } },
    { in: 'published=80,target=8080,proxy-protocol=v2', want: { published: 80, target: 8080, protocol: 'tcp', mode: 'ingress', proxyProtocol: 'v2' } },
  ]
  for (const c of ok) t.same(parsePublish(c.in), c.want, c.in)
  const bad = [
    { in: '80:', re: /port spec "80:": the target port is missing/ },
    { in: ':80', re: /the published port is missing/ },
    { in: '80', re: /want PUBLISHED:TARGET/ },
    { in: '70000:80', re: /published port 70000 must be 1-65535/ },
    { in: '80:80/sctp', re: /protocol "sctp" must be tcp or udp/ },
    { in: 'published=80', re: /target is required/ },
    { in: 'published=80,target=80,mode=mesh', re: /mode "mesh" must be ingress or host/ },
    { in: 'published=80,target=80,colour=red', re: /unknown key "colour"/ },
    { in: 'x:80', re: /published port "x" is not a number/ },
  ]
  for (const c of bad) t.match(errorOf(() => parsePublish(c.in)), c.re, c.in)
})

t.test('mounts', async (t) => {
  t.same(parseMount('type=bind,source=/srv/data,target=/data,readonly'), { type: 'bind', source: '/srv/data', target: '/data', readOnly: true })
  t.same(parseMount('type=volume,src=redis-data,dst=/data'), { type: 'volume', source: 'redis-data', target: '/data', readOnly: false })
  t.match(errorOf(() => parseMount('type=bind,source=rel,target=/x')), /absolute source path/)
  t.match(errorOf(() => parseMount('type=volume,source=v')), /target must be an absolute path/)
  t.match(errorOf(() => parseMount('type=npipe,target=/x')), /type "npipe" must be bind, volume or tmpfs/)
})

t.test('tmpfs mounts: size in docker units, octal mode, no source', async (t) => {
  const ok = [
    { in: 'type=tmpfs,target=/x', want: { type: 'tmpfs', source: '', target: '/x', readOnly: false } },
    { in: 'type=tmpfs,target=/x,tmpfs-size=64M,tmpfs-mode=1777', want: { type: 'tmpfs', source: '', target: '/x', readOnly: false, tmpfs: { sizeBytes: 64 * 2 ** 20, mode: 0o1777 } } },
    { in: 'type=tmpfs,dst=/run,tmpfs-mode=0700,readonly', want: { type: 'tmpfs', source: '', target: '/run', readOnly: true, tmpfs: { mode: 0o700 } } },
    { in: 'type=tmpfs,target=/x,tmpfs-size=1048576', want: { type: 'tmpfs', source: '', target: '/x', readOnly: false, tmpfs: { sizeBytes: 1048576 } } },
  ]
  for (const c of ok) t.same(parseMount(c.in), c.want, c.in)
  const bad = [
    { in: 'type=tmpfs,source=/tmp,target=/x', re: /a tmpfs mount has no source/ },
    { in: 'type=tmpfs,target=/x,tmpfs-mode=999', re: /tmpfs-mode "999": want an octal mode/ },
    { in: 'type=tmpfs,target=/x,tmpfs-mode=17777', re: /tmpfs-mode "17777": want an octal mode/ },
    { in: 'type=tmpfs,target=/x,tmpfs-size=lots', re: /tmpfs-size "lots": want a size/ },
    { in: 'type=tmpfs,target=/x,tmpfs-colour=red', re: /unknown key "tmpfs-colour"/ },
    { in: 'type=volume,source=v,target=/x,tmpfs-size=1M', re: /tmpfs-size only applies to type=tmpfs/ },
    { in: 'type=tmpfs,target=x', re: /target must be an absolute path/ },
  ]
  for (const c of bad) t.match(errorOf(() => parseMount(c.in)), c.re, c.in)
})

t.test('sizes, cpus, durations', async (t) => {
  const mem = [['50M', 52428800], ['1.5g', 1610612736], ['512k', 524288], ['1048576', 1048576]] as const
  for (const [i, w] of mem) t.equal(parseMemory(i), w, i)
  t.match(errorOf(() => parseMemory('5 apples')), /want a size like 50M/)
  t.equal(parseCpus('0.1'), 100_000_000)
  t.equal(parseCpus('2'), 2_000_000_000)
  t.match(errorOf(() => parseCpus('-1')), /want a number of CPUs/)
  const dur = [['5s', 5000], ['1m30s', 90000], ['200ms', 200], ['0', 0], ['1h', 3_600_000]] as const
  for (const [i, w] of dur) t.equal(parseDuration(i), w, i)
  t.match(errorOf(() => parseDuration('5')), /want a duration/)
  t.match(errorOf(() => parseDuration('5x')), /want a duration/)
})
