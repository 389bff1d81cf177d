/** docker's `filters` query: both encodings, dockerd's 400 for an unknown key, label semantics (pure). */
import t from 'tap'
import { anyOf, checkValues, labelsMatch, parseFilters, NODE_FILTERS } from '../../../../src/manager/dockerapi/filters.ts'

t.test('parseFilters: {key: {value: true}} (docker CLI) and {key: [values]} (older clients) give the same map', async (t) => {
  const cases = [
    { name: 'absent', raw: undefined, want: {} },
    { name: 'empty string', raw: '', want: {} },
    { name: 'map form', raw: '{"name":{"web":true,"api":true}}', want: { name: ['web', 'api'] } },
    { name: 'list form', raw: '{"name":["web","api"]}', want: { name: ['web', 'api'] } },
    { name: 'false values dropped', raw: '{"role":{"manager":true,"worker":false}}', want: { role: ['manager'] } },
    { name: 'empty list: no filter', raw: '{"id":[]}', want: {} },
  ]
  for (const c of cases) t.same(Object.fromEntries(parseFilters(c.raw, NODE_FILTERS)), c.want, c.name)
})

t.test('parseFilters: an unknown key, bad JSON or a non-string value is a 400 with dockerd\'s words', async (t) => {
  const cases = [
    { raw: '{"x":["1"]}', message: "invalid filter 'x'" },
    { raw: '{"service":["web"]}', message: "invalid filter 'service'" },
    { raw: 'not json', message: /invalid filter: .* is not JSON/ },
    { raw: '["name"]', message: /want a JSON object/ },
    { raw: '{"name":[1]}', message: "invalid filter 'name': want a list of strings" },
  ]
  for (const c of cases) t.throws(() => parseFilters(c.raw, NODE_FILTERS), { status: 400, code: 'MESH_ERR_DOCKER_API', message: c.message }, c.raw)
})

t.test('labels: every `key` / `key=value` must hold; values of other keys: any of them', async (t) => {
  const f = parseFilters('{"label":["zone","env=prod"],"name":["a","b"]}', ['label', 'name'])
  t.ok(labelsMatch(f, 'label', { zone: 'x', env: 'prod' }))
  t.notOk(labelsMatch(f, 'label', { zone: 'x', env: 'dev' }), 'wrong value')
  t.notOk(labelsMatch(f, 'label', { env: 'prod' }), 'missing key')
  t.ok(labelsMatch(f, 'other', {}), 'no such filter: matches')
  t.ok(anyOf(f, 'name', (v) => v === 'b'))
  t.notOk(anyOf(f, 'name', (v) => v === 'c'))
  t.ok(anyOf(f, 'absent', () => false), 'an absent key matches')
  t.throws(() => checkValues(parseFilters('{"role":["boss"]}', NODE_FILTERS), 'role', ['manager', 'worker']), { status: 400, message: "invalid filter 'role=boss'" })
})
