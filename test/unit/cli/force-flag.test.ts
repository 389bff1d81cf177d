/** `--force` is an update flag only, as docker's; with it the request carries forceUpdate = current + 1. */
import t from 'tap'
import { Command } from 'commander'
import { applySpecFlags, specOptions, type SpecFlags } from '../../../mesh/service-flags.ts'
import { defaultServiceSpec } from '../../../src/api/index.ts'

function parse(forUpdate: boolean, argv: string[]): SpecFlags & Record<string, unknown> {
  const c = specOptions(new Command(forUpdate ? 'update' : 'create').argument('<service>'), forUpdate).exitOverride()
    .configureOutput({ writeErr: () => undefined })
  c.parse(argv, { from: 'user' })
  return c.opts()
}

t.test('update --force bumps forceUpdate; create has no --force', async (t) => {
  const cur = defaultServiceSpec('web', 'nginx')
  t.same(applySpecFlags(cur, parse(true, ['--force', 'web']), true), { ...cur, forceUpdate: 1 })
  t.same(applySpecFlags({ ...cur, forceUpdate: 4 }, parse(true, ['--force', '--env-add', 'A=1', 'web']), true), { ...cur, env: ['A=1'], forceUpdate: 5 })
  t.same(applySpecFlags({ ...cur, forceUpdate: 4 }, parse(true, ['web']), true).forceUpdate, 4, 'without --force the counter stays')
  t.throws(() => parse(false, ['--force', 'web']), { code: 'commander.unknownOption' })
})
