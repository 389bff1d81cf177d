/**
 * Compose keys for the container (hostname, user, working_dir, entrypoint, healthcheck, tmpfs) give the same spec as
 * `mesh service create`'s flags; bad values are refused with the file, the key path and the one validation's words.
 */
import t from 'tap'
import type { ServiceSpec } from '../../../src/api/types.ts'
import { errorOf, load } from './fixtures.ts'

t.test('hostname, user, working_dir, entrypoint, healthcheck, tmpfs', async (t) => {
  const file = `
services:
  api:
    image: x
    hostname: "{{.Node.Hostname}}-{{.Task.Slot}}"
    user: "1000:1000"
    working_dir: /srv
    entrypoint: ["/bin/tini", "--"]
    healthcheck:
      test: ["CMD", "/bin/check"]
      retries: 2
    tmpfs:
      - /run
      - /cache:size=64m,mode=1777
      - /ro:ro
    volumes:
      - type: tmpfs
        target: /scratch
        tmpfs: {size: 1048576}
      - type: tmpfs
        target: /plain
        read_only: true
  off:
    image: y
    tmpfs: /tmp
    healthcheck: {disable: true}
`
  const r = load({ 's.yml': file })
  const [api, off] = r.services as [ServiceSpec, ServiceSpec]
  t.equal(api.hostname, '{{.Node.Hostname}}-{{.Task.Slot}}')
  t.equal(api.user, '1000:1000')
  t.equal(api.workdir, '/srv')
  t.same(api.entrypoint, ['/bin/tini', '--'])
  t.same(api.healthcheck, { test: ['CMD', '/bin/check'], intervalMs: 0, timeoutMs: 0, retries: 2, startPeriodMs: 0 })
  t.same(api.mounts, [
    { type: 'tmpfs', source: '', target: '/scratch', readOnly: false, tmpfs: { sizeBytes: 1048576 } },
    { type: 'tmpfs', source: '', target: '/plain', readOnly: true },
    { type: 'tmpfs', source: '', target: '/run', readOnly: false },
    { type: 'tmpfs', source: '', target: '/cache', readOnly: false, tmpfs: { sizeBytes: 64 * 2 ** 20, mode: 0o1777 } },
    { type: 'tmpfs', source: '', target: '/ro', readOnly: true },
  ])
  t.same(off.mounts, [{ type: 'tmpfs', source: '', target: '/tmp', readOnly: false }], 'one path as a string')
  t.same(off.healthcheck?.test, ['NONE'], 'disable: true turns the image healthcheck off')
  t.same(r.warnings, [], 'none of these keys is reported as unsupported')
})

t.test('a later file overrides these keys; tmpfs paths merge by target', async (t) => {
  const base = 'services:\n  web:\n    image: x\n    hostname: a\n    user: nobody\n    tmpfs: [/run, /tmp]\n'
  const over = 'services:\n  web:\n    hostname: b\n    tmpfs: ["/tmp:size=1m"]\n'
  const [web] = load({ 'a.yml': base, 'b.yml': over }).services as [ServiceSpec]
  t.equal(web.hostname, 'b')
  t.equal(web.user, 'nobody')
  t.same(web.mounts, [{ type: 'tmpfs', source: '', target: '/run', readOnly: false }, { type: 'tmpfs', source: '', target: '/tmp', readOnly: false, tmpfs: { sizeBytes: 2 ** 20 } }])
})

t.test('unsupported tmpfs options are reported once, the rest is used', async (t) => {
  const r = load({ 's.yml': 'services:\n  web:\n    image: x\n    tmpfs: ["/run:noexec,size=1k"]\n    volumes:\n      - type: tmpfs\n        target: /x\n        tmpfs: {size: 1, mode: 448}\n' })
  t.same(r.warnings, ['ignoring keys mesh does not support: s.yml: services.web.volumes[0].tmpfs.mode, services.web.tmpfs[0] (tmpfs option noexec)'])
  t.same(r.services[0]?.mounts.map((m) => m.tmpfs), [{ sizeBytes: 1 }, { sizeBytes: 1024 }])
})

t.test('refusals name the file and the key', async (t) => {
  const svc = (body: string) => ({ 's.yml': `services:\n  web:\n    image: x\n${body}` })
  const cases = [
    { body: '    hostname: web_1\n', want: 's.yml: services.web: hostname "web_1" must be letters, digits and \'-\' in dot-separated labels of at most 63 characters (RFC 1123)' },
    { body: '    user: "a b"\n', want: 's.yml: services.web: user "a b" must be name|uid[:group|gid], e.g. 1000:1000 or nobody' },
    { body: '    working_dir: srv\n', want: 's.yml: services.web: workdir "srv" must be an absolute path' },
    { body: '    tmpfs: run\n', want: 's.yml: services.web.tmpfs: "run": the path must be absolute, e.g. /run' },
    { body: '    tmpfs: ["/run:size=lots"]\n', want: 's.yml: services.web.tmpfs[0]: "/run:size=lots": size "lots": want a size like 50M, 1.5G or 512k' },
    { body: '    tmpfs: ["/run:mode=99"]\n', want: 's.yml: services.web.tmpfs[0]: "/run:mode=99": mode "99": want an octal mode like 1777 or 0755' },
    { body: '    volumes:\n      - type: tmpfs\n        source: /x\n        target: /y\n', want: 's.yml: services.web.volumes[0]: a tmpfs mount has no source (remove source: /x)' },
    { body: '    volumes:\n      - type: volume\n        source: v\n        target: /y\n        tmpfs: {size: 1}\n', want: 's.yml: services.web.volumes[0]: tmpfs options are incompatible with type volume' },
    { body: '    tmpfs: [/run]\n    volumes:\n      - type: tmpfs\n        target: /run\n', want: 's.yml: services.web: mount target /run used twice' },
    { body: '    healthcheck:\n      test: ["curl", "-f", "localhost"]\n', want: 's.yml: services.web: healthcheck test must start with CMD, CMD-SHELL or NONE, e.g. ["CMD-SHELL", "wget -q -O- localhost"]' },
  ]
  for (const c of cases) t.equal(errorOf(() => load(svc(c.body))), c.want, c.body.trim())
})
