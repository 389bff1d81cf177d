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
  for (const forUpdate of [false, true]) {
    t.equal(resolveQuery(parse(['--no-resolve-image'], forUpdate)), '?resolveImage=never', `update=${forUpdate}`)
    t.equal(resolveQuery(parse([], forUpdate)), '', `update=${forUpdate}: resolved by default`)
  }
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
