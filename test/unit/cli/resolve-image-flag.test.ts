/**
 * `--no-resolve-image` on `mesh service create|update` → `?resolveImage=never` on the request (a flag the manager
 * reads, not a spec field), and the manager's warnings printed as docker prints them.
 */
import t from 'tap'
import { Command } from 'commander'
import type { ServiceSpecRequest } from '../../../src/api/index.ts'
import { applySpecFlags, printWarnings, resolveQuery, specOptions, type SpecFlags } from '../../../mesh/service-flags.ts'

const parse = (args: string[], forUpdate: boolean): SpecFlags => {
  const c = specOptions(new Command('x').exitOverride(), forUpdate)
  c.parse(['node', 'x', ...args])
  return c.opts<SpecFlags>()
}

t.test('--no-resolve-image on create and update', async (t) => {
  t.equal(resolveQuery(parse(['--no-resolve-image'], false)), '?resolveImage=never')
  t.equal(resolveQuery(parse([], false)), '', 'create: resolved by default')
  // `--image` is the update command's own option (mesh/service.ts), next to the shared spec flags.
  const upd = (args: string[], image?: string) => resolveQuery({ ...parse(args, true), ...(image ? { image } : {}) }, true)
  t.equal(upd([], 'app:1'), '', 'update --image: resolved')
  t.equal(upd(['--no-resolve-image'], 'app:1'), '?resolveImage=never')
  t.equal(upd(['--env-add', 'A=1']), '?resolveImage=never', 'update without --image: not asked again, as docker')
  const spec = applySpecFlags<ServiceSpecRequest>({ name: 'web', image: 'nginx' }, parse(['--no-resolve-image'], false) as SpecFlags & Record<string, unknown>, false)
  t.same(spec, { name: 'web', image: 'nginx' }, 'not a spec field')
})

t.test('warnings go to stderr, each followed by a blank line as docker prints them', async (t) => {
  let err = ''
  printWarnings({ warnings: ['image a:1 could not be accessed…\n'] }, (s) => void (err += s))
  t.equal(err, 'image a:1 could not be accessed…\n\n')
  err = ''
  printWarnings({}, (s) => void (err += s))
  printWarnings({ warnings: 'not a list' }, (s) => void (err += s))
  t.equal(err, '')
})
