/**
 * `mesh service create|update` container flags (healthcheck, hostname, user, workdir, entrypoint, mounts) → the
 * request body, as docker's flags: parsed through the real commander options, then applied.
 */
import t from 'tap'
import { Command } from 'commander'
import { applySpecFlags, specOptions } from '../../../mesh/service-flags.ts'
import { defaultServiceSpec, type ServiceSpec, type ServiceSpecRequest } from '../../../src/api/index.ts'

function flags(argv: string[], forUpdate: boolean): Record<string, unknown> {
  let got: Record<string, unknown> = {}
  const c = specOptions(new Command('x').exitOverride().argument('[rest...]'), forUpdate).action((_r: string[], f: Record<string, unknown>) => { got = f })
  c.parse(argv, { from: 'user' })
  return got
}
const create = (argv: string[]): ServiceSpecRequest => applySpecFlags<ServiceSpecRequest>({ name: 'web', image: 'nginx' }, flags(argv, false), false)
const update = (cur: ServiceSpec, argv: string[]): Record<string, unknown> => applySpecFlags(cur, flags(argv, true), true) as unknown as Record<string, unknown>
const none = { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 }

t.test('create', async (t) => {
  const base = { name: 'web', image: 'nginx' }
  const cases: { name: string; argv: string[]; want: Record<string, unknown> }[] = [
    {
      name: 'health flags', argv: ['--health-cmd', 'wget -q -O- localhost || exit 1', '--health-interval', '5s', '--health-timeout', '2s', '--health-retries', '3', '--health-start-period', '1m'],
      want: { ...base, healthcheck: { test: ['CMD-SHELL', 'wget -q -O- localhost || exit 1'], intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 60_000 } },
    },
    { name: 'timings only keep the image\'s test', argv: ['--health-retries', '5'], want: { ...base, healthcheck: { test: [], intervalMs: 0, timeoutMs: 0, retries: 5, startPeriodMs: 0 } } },
    { name: '--no-healthcheck', argv: ['--no-healthcheck'], want: { ...base, healthcheck: none } },
    { name: 'hostname, user, workdir', argv: ['--hostname', '{{.Node.Hostname}}-{{.Task.Slot}}', '-u', '1000:1000', '-w', '/srv'], want: { ...base, hostname: '{{.Node.Hostname}}-{{.Task.Slot}}', user: '1000:1000', workdir: '/srv' } },
    { name: 'long forms', argv: ['--user', 'nobody', '--workdir', '/tmp'], want: { ...base, user: 'nobody', workdir: '/tmp' } },
    { name: 'entrypoint split like a shell', argv: ['--entrypoint', 'sh -c "echo hi; sleep 1"'], want: { ...base, entrypoint: ['sh', '-c', 'echo hi; sleep 1'] } },
    { name: 'empty entrypoint = the image\'s', argv: ['--entrypoint', ''], want: base },
    { name: 'empty hostname = the default', argv: ['--hostname', ''], want: base },
    {
      name: 'tmpfs mount', argv: ['--mount', 'type=tmpfs,target=/cache,tmpfs-size=64M,tmpfs-mode=1777'],
      want: { ...base, mounts: [{ type: 'tmpfs', source: '', target: '/cache', readOnly: false, tmpfs: { sizeBytes: 64 * 2 ** 20, mode: 0o1777 } }] },
    },
  ]
  for (const c of cases) t.same(create(c.argv), c.want, c.name)
  t.throws(() => create(['--no-healthcheck', '--health-cmd', 'true']), { message: '--no-healthcheck conflicts with --health-* options' })
  t.throws(() => create(['--health-retries', 'x']), { message: '--health-retries "x": want a whole number ≥ 0' })
  t.throws(() => create(['--health-interval', '-5s']), { message: '--health-interval "-5s": want a duration like 5s, 1m30s or 200ms' })
  t.throws(() => create(['--entrypoint', 'sh -c "oops']), { message: /^--entrypoint: unclosed " quote/ })
})

t.test('update', async (t) => {
  const cur: ServiceSpec = {
    ...defaultServiceSpec('web', 'nginx'), hostname: 'web', user: 'nobody', workdir: '/srv', entrypoint: ['/init'],
    healthcheck: { test: ['CMD', 'true'], intervalMs: 1000, timeoutMs: 1000, retries: 1, startPeriodMs: 0 },
    mounts: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }, { type: 'tmpfs', source: '', target: '/run', readOnly: false }],
  }
  const cases: { name: string; argv: string[]; want: Partial<Record<keyof ServiceSpec, unknown>> }[] = [
    { name: 'empty values clear (null in the request)', argv: ['--hostname', '', '--user', '', '--workdir', '', '--entrypoint', ''], want: { hostname: null, user: null, workdir: null, entrypoint: null } },
    { name: 'new values', argv: ['--hostname', 'api', '-w', '/app', '--entrypoint', '/bin/tini --'], want: { hostname: 'api', workdir: '/app', entrypoint: ['/bin/tini', '--'] } },
    { name: 'one health flag changes one field', argv: ['--health-retries', '4'], want: { healthcheck: { ...cur.healthcheck, retries: 4 } } },
    { name: '--health-cmd replaces the test', argv: ['--health-cmd', 'curl -f localhost'], want: { healthcheck: { ...cur.healthcheck, test: ['CMD-SHELL', 'curl -f localhost'] } } },
    { name: '--no-healthcheck', argv: ['--no-healthcheck'], want: { healthcheck: none } },
    {
      name: 'back to the image\'s healthcheck: null', argv: ['--health-cmd', '', '--health-interval', '0', '--health-timeout', '0', '--health-retries', '0'],
      want: { healthcheck: null },
    },
    { name: '--mount-rm by target', argv: ['--mount-rm', '/run'], want: { mounts: [cur.mounts[0]] } },
    {
      name: '--mount-add replaces a mount on the same target', argv: ['--mount-add', 'type=tmpfs,target=/data,tmpfs-size=1M'],
      want: { mounts: [cur.mounts[1], { type: 'tmpfs', source: '', target: '/data', readOnly: false, tmpfs: { sizeBytes: 2 ** 20 } }] },
    },
  ]
  for (const c of cases) t.same(update(cur, c.argv), { ...cur, ...c.want }, c.name)
  const wasNone = { ...cur, healthcheck: none }
  t.same(update(wasNone, ['--health-interval', '2s']).healthcheck, { ...none, test: [], intervalMs: 2000 }, 'a health flag after NONE goes back to the image\'s test, as docker does')
  t.same(update(cur, []), cur, 'no flag, no change')
})
