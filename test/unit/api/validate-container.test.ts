/**
 * The container fields of the one spec validation: hostname (RFC 1123, Swarm's placeholders), user, workdir,
 * tmpfs mounts, healthcheck. Each refusal is one sentence naming the field.
 */
import t from 'tap'
import { assertServiceSpec, defaultServiceSpec, validateServiceSpec, type ServiceSpec } from '../../../src/api/index.ts'

const spec = (over: Partial<ServiceSpec>): ServiceSpec => ({ ...defaultServiceSpec('web', 'nginx'), ...over })
const health = (test: string[], over: Record<string, number> = {}) => ({ test, intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0, ...over })

t.test('accepted', async (t) => {
  const cases: { name: string; over: Partial<ServiceSpec> }[] = [
    { name: 'plain hostname', over: { hostname: 'web-1' } },
    { name: 'dotted hostname', over: { hostname: 'web.example.com' } },
    { name: 'placeholders', over: { hostname: '{{.Node.Hostname}}-{{.Task.Slot}}' } },
    { name: 'placeholders with spaces', over: { hostname: '{{ .Service.Name }}.{{.Task.ID}}' } },
    { name: 'user name', over: { user: 'nobody' } },
    { name: 'uid:gid', over: { user: '1000:1000' } },
    { name: 'name:group', over: { user: 'www-data:www-data' } },
    { name: 'absolute workdir', over: { workdir: '/srv/app' } },
    { name: 'tmpfs', over: { mounts: [{ type: 'tmpfs', source: '', target: '/run', readOnly: true, tmpfs: { sizeBytes: 1 << 20, mode: 0o1777 } }] } },
    { name: 'healthcheck CMD', over: { healthcheck: health(['CMD', 'true']) } },
    { name: 'healthcheck CMD-SHELL', over: { healthcheck: health(['CMD-SHELL', 'wget -q localhost'], { intervalMs: 1000 }) } },
    { name: 'healthcheck NONE', over: { healthcheck: health(['NONE']) } },
    { name: 'healthcheck timings only (the image\'s test)', over: { healthcheck: health([], { retries: 3 }) } },
    { name: 'entrypoint', over: { entrypoint: ['/bin/tini', '--'] } },
  ]
  for (const c of cases) t.same(validateServiceSpec(spec(c.over)), [], c.name)
})

t.test('refused, one sentence naming the field', async (t) => {
  const cases: { name: string; over: Partial<ServiceSpec>; want: string }[] = [
    { name: 'underscore in hostname', over: { hostname: 'web_1' }, want: 'hostname "web_1" must be letters, digits and \'-\' in dot-separated labels of at most 63 characters (RFC 1123)' },
    { name: 'label too long', over: { hostname: 'a'.repeat(64) }, want: `hostname "${'a'.repeat(64)}" must be letters, digits and '-' in dot-separated labels of at most 63 characters (RFC 1123)` },
    { name: 'leading hyphen', over: { hostname: '-web' }, want: 'hostname "-web" must be letters, digits and \'-\' in dot-separated labels of at most 63 characters (RFC 1123)' },
    { name: 'empty label', over: { hostname: 'web..x' }, want: 'hostname "web..x" must be letters, digits and \'-\' in dot-separated labels of at most 63 characters (RFC 1123)' },
    { name: 'empty hostname', over: { hostname: '' }, want: 'hostname must not be empty (send null to clear it)' },
    {
      name: 'unknown placeholder', over: { hostname: '{{.Task.Name}}' },
      want: 'hostname "{{.Task.Name}}": unknown placeholder {{.Task.Name}} (use {{.Service.Name}}, {{.Service.ID}}, {{.Task.Slot}}, {{.Task.ID}}, {{.Node.Hostname}}, {{.Node.ID}})',
    },
    { name: 'hostname not a string', over: { hostname: 7 as never }, want: 'hostname must be a string' },
    { name: 'user with a space', over: { user: 'no body' }, want: 'user "no body" must be name|uid[:group|gid], e.g. 1000:1000 or nobody' },
    { name: 'user with two colons', over: { user: '1:2:3' }, want: 'user "1:2:3" must be name|uid[:group|gid], e.g. 1000:1000 or nobody' },
    { name: 'empty user', over: { user: '' }, want: 'user must not be empty (send null to clear it)' },
    { name: 'relative workdir', over: { workdir: 'app' }, want: 'workdir "app" must be an absolute path' },
    { name: 'tmpfs with a source', over: { mounts: [{ type: 'tmpfs', source: '/tmp', target: '/x', readOnly: false }] }, want: 'tmpfs mount on /x has no source (got "/tmp")' },
    { name: 'tmpfs negative size', over: { mounts: [{ type: 'tmpfs', source: '', target: '/x', readOnly: false, tmpfs: { sizeBytes: -1 } }] }, want: 'tmpfs mount on /x: size must be a whole number of bytes ≥ 0' },
    { name: 'tmpfs mode too big', over: { mounts: [{ type: 'tmpfs', source: '', target: '/x', readOnly: false, tmpfs: { mode: 0o10000 } }] }, want: 'tmpfs mount on /x: mode must be between 0 and 0o7777' },
    { name: 'tmpfs options on a volume', over: { mounts: [{ type: 'volume', source: 'v', target: '/x', readOnly: false, tmpfs: { mode: 1 } }] }, want: 'mount on /x: tmpfs options only apply to type tmpfs' },
    { name: 'unknown mount type', over: { mounts: [{ type: 'npipe' as never, source: '', target: '/x', readOnly: false }] }, want: 'mount on /x type "npipe" must be bind, volume or tmpfs' },
    {
      name: 'two mounts on one target',
      over: { mounts: [{ type: 'tmpfs', source: '', target: '/x', readOnly: false }, { type: 'volume', source: 'v', target: '/x', readOnly: false }] },
      want: 'mount target /x used twice',
    },
    { name: 'bare argv test', over: { healthcheck: health(['curl', '-f', 'localhost']) }, want: 'healthcheck test must start with CMD, CMD-SHELL or NONE, e.g. ["CMD-SHELL", "wget -q -O- localhost"]' },
    { name: 'NONE with arguments', over: { healthcheck: health(['NONE', 'x']) }, want: 'healthcheck test ["NONE"] takes no arguments' },
    { name: 'CMD without a command', over: { healthcheck: health(['CMD']) }, want: 'healthcheck test ["CMD", …] needs a command' },
    { name: 'CMD-SHELL with two words', over: { healthcheck: health(['CMD-SHELL', 'a', 'b']) }, want: 'healthcheck test ["CMD-SHELL", "…"] needs exactly one command line' },
    { name: 'negative interval', over: { healthcheck: health(['NONE'], { intervalMs: -1 }) }, want: 'healthcheck interval must be ≥ 0' },
    { name: 'negative start period', over: { healthcheck: health(['NONE'], { startPeriodMs: -5 }) }, want: 'healthcheck start period must be ≥ 0' },
    { name: 'fractional retries', over: { healthcheck: health(['NONE'], { retries: 1.5 }) }, want: 'healthcheck retries must be a whole number ≥ 0' },
    { name: 'entrypoint starting with an empty word', over: { entrypoint: [''] }, want: 'entrypoint must not start with an empty word' },
  ]
  for (const c of cases) t.same(validateServiceSpec(spec(c.over)), [c.want], c.name)
})

t.test('the thrown error names the service', async (t) => {
  t.throws(() => assertServiceSpec(spec({ workdir: 'app' })), { message: 'service "web": workdir "app" must be an absolute path' })
})
