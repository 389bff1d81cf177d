/**
 * mesh/format: the Go-template subset `--format` takes, docker's `--filter` parsing, and renderList's modes
 * (table, table TEMPLATE, json, TEMPLATE, -q, --json) — tables of cases on plain objects.
 */
import t from 'tap'
import { headerOf, parseTemplate } from '../../../mesh/format/template.ts'
import { applyFilters, labelMatches, parseFilters } from '../../../mesh/format/filter.ts'
import { renderInspect, renderList, type ListView } from '../../../mesh/format/list.ts'

const obj = { id: 'abc123', spec: { name: 'web', labels: { tier: 'front' }, ports: [80] }, Replicas: '2/3', n: 5, on: true, none: null }

t.test('templates', async (t) => {
  const cases: { name: string; format: string; want: string }[] = [
    { name: 'a field', format: '{{.id}}', want: 'abc123' },
    { name: 'case-insensitive, as docker names it', format: '{{.ID}}', want: 'abc123' },
    { name: 'nested, docker-style .Spec.Name', format: '{{.Spec.Name}}', want: 'web' },
    { name: 'tab escape and literal text', format: 'id={{.ID}}\\t{{.Spec.Name}}!', want: 'id=abc123\tweb!' },
    { name: 'newline escape', format: '{{.ID}}\\n{{.Replicas}}', want: 'abc123\n2/3' },
    { name: 'json of an object', format: '{{json .Spec.Labels}}', want: '{"tier":"front"}' },
    { name: 'json of a string', format: '{{json .Spec.Name}}', want: '"web"' },
    { name: 'json of the whole object', format: '{{json .}}', want: JSON.stringify(obj) },
    { name: 'upper', format: '{{upper .Spec.Name}}', want: 'WEB' },
    { name: 'lower', format: '{{lower .Replicas}}', want: '2/3' },
    { name: 'title', format: '{{title .Spec.Name}}', want: 'Web' },
    { name: 'numbers and booleans as text', format: '{{.N}} {{.On}}', want: '5 true' },
    { name: 'null as empty', format: '[{{.none}}]', want: '[]' },
    { name: 'an array as JSON', format: '{{.Spec.Ports}}', want: '[80]' },
    { name: 'spaces and trim markers inside the braces', format: '{{ .ID }}|{{- .Replicas -}}', want: 'abc123|2/3' },
    { name: 'text only', format: 'plain', want: 'plain' },
  ]
  for (const c of cases) t.equal(parseTemplate(c.format).render(obj), c.want, c.name)
})

t.test('template errors are one clear line', async (t) => {
  const cases: { name: string; format: string; message: RegExp }[] = [
    { name: 'unknown field names it and the fields there are', format: '{{.Nope}}', message: /format "\{\{\.Nope\}\}": no field \.Nope \(fields here: id, spec, Replicas, n, on, none\)/ },
    { name: 'unknown nested field', format: '{{.Spec.Colour}}', message: /no field \.Spec\.Colour \(fields here: name, labels, ports\)/ },
    { name: 'a field of a string', format: '{{.Spec.Name.X}}', message: /\.Spec\.Name\.X: \.Spec\.Name has no fields/ },
    { name: 'unclosed braces', format: '{{.ID', message: /unclosed \{\{/ },
    { name: 'unknown function', format: '{{index .Spec "x"}}', message: /cannot read \{\{index \.Spec "x"\}\}/ },
    { name: 'not a field reference', format: '{{.a..b}}', message: /"\.a\.\.b" is not a field reference/ },
  ]
  for (const c of cases) t.throws(() => parseTemplate(c.format).render(obj), { code: 'MESH_ERR_CONFIG', message: c.message }, c.name)
})

t.test('headers from field names, as docker', async (t) => {
  t.same(['ID', 'Name', 'DesiredState', 'CurrentState', 'ManagerStatus', 'Spec.Name', 'Hostname'].map(headerOf),
    ['ID', 'NAME', 'DESIRED STATE', 'CURRENT STATE', 'MANAGER STATUS', 'NAME', 'HOSTNAME'])
})

t.test('filters: parsing', async (t) => {
  t.same([...parseFilters(['name=a', 'id=1', 'name=b', 'label=x=y'], ['name', 'id', 'label'])], [['name', ['a', 'b']], ['id', ['1']], ['label', ['x=y']]])
  t.throws(() => parseFilters(['foo=1'], ['name']), { code: 'MESH_ERR_CONFIG', message: "invalid filter 'foo' (filters: name)" })
  t.throws(() => parseFilters(['name'], ['name']), { message: "bad format of filter 'name' (expected name=value)" })
  t.throws(() => parseFilters(['x=1'], []), { message: "invalid filter 'x': this command takes no filter" })
  t.throws(() => parseFilters(['role=boss'], ['role'], { role: ['manager', 'worker'] }), { message: "invalid filter 'role=boss': want manager, worker" }, 'a closed set of values is checked up front')
  t.same([...parseFilters(['role=Manager'], ['role'], { role: ['manager', 'worker'] })], [['role', ['Manager']]], 'case-insensitively')
})

t.test('filters: same key is OR, different keys AND', async (t) => {
  const items = [{ n: 'a', k: 1 }, { n: 'b', k: 1 }, { n: 'c', k: 2 }]
  const m = { name: (i: { n: string }, v: string) => i.n === v, kind: (i: { k: number }, v: string) => String(i.k) === v }
  const run = (f: string[]) => applyFilters(items, parseFilters(f, ['name', 'kind']), m).map((i) => i.n)
  t.same(run([]), ['a', 'b', 'c'])
  t.same(run(['name=a', 'name=c']), ['a', 'c'])
  t.same(run(['name=a', 'name=c', 'kind=2']), ['c'])
  t.same(run(['kind=3']), [])
})

t.test('label filter: KEY or KEY=VALUE', async (t) => {
  const l = { tier: 'front', empty: '' }
  t.ok(labelMatches(l, 'tier'))
  t.ok(labelMatches(l, 'tier=front'))
  t.notOk(labelMatches(l, 'tier=back'))
  t.ok(labelMatches(l, 'empty='))
  t.notOk(labelMatches(l, 'zone'))
  t.notOk(labelMatches(undefined, 'zone'))
})

interface Row { id: string; name: string; state: string; extra: { deep: string } }
const view: ListView<Row> = {
  items: [{ id: 'aaaa1111', name: 'web', state: 'up', extra: { deep: 'x' } }, { id: 'bbbb2222', name: 'db', state: 'down', extra: { deep: 'y' } }],
  columns: ['ID', 'Name', 'DesiredState'],
  fields: (r) => ({ ID: r.id.slice(0, 4), Name: r.name, DesiredState: r.state }),
  matchers: { name: (r, v) => r.name.startsWith(v) },
}

t.test('renderList: every mode', async (t) => {
  const cases: { name: string; flags: Parameters<typeof renderList>[1]; want: string }[] = [
    { name: 'default table', flags: {}, want: 'ID     NAME   DESIRED STATE\naaaa   web    up\nbbbb   db     down\n' },
    { name: '--format table', flags: { format: 'table' }, want: 'ID     NAME   DESIRED STATE\naaaa   web    up\nbbbb   db     down\n' },
    { name: '-q: the ID field', flags: { quiet: true }, want: 'aaaa\nbbbb\n' },
    { name: '-q after --filter', flags: { quiet: true, filter: ['name=d'] }, want: 'bbbb\n' },
    { name: '--format json: one object of fields per line', flags: { format: 'json' }, want: '{"ID":"aaaa","Name":"web","DesiredState":"up"}\n{"ID":"bbbb","Name":"db","DesiredState":"down"}\n' },
    { name: '--format TEMPLATE', flags: { format: '{{.ID}}\\t{{.Name}}' }, want: 'aaaa\tweb\nbbbb\tdb\n' },
    { name: 'a template reaches the record behind the fields', flags: { format: '{{.Extra.Deep}}' }, want: 'x\ny\n' },
    { name: '--format table TEMPLATE: headers from the fields', flags: { format: 'table {{.Name}}\\t{{.DesiredState}}' }, want: 'NAME   DESIRED STATE\nweb    up\ndb     down\n' },
    { name: '--json: the records, filtered', flags: { json: true, filter: ['name=w'] }, want: `${JSON.stringify([view.items[0]], null, 2)}\n` },
    { name: 'empty after a filter: the header only', flags: { filter: ['name=zzz'] }, want: 'ID   NAME   DESIRED STATE\n' },
  ]
  for (const c of cases) t.equal(renderList(view, c.flags), c.want, c.name)
  t.throws(() => renderList(view, { json: true, format: 'json' }), { message: '--json and --format: give one of them' })
  t.throws(() => renderList(view, { filter: ['state=up'] }), { message: "invalid filter 'state' (filters: name)" })
  t.throws(() => renderList(view, { format: '{{.Colour}}' }), { message: /no field \.Colour/ })
})

t.test('renderInspect: a JSON array, json lines, or a template per object', async (t) => {
  const items = [{ spec: { name: 'web' } }, { spec: { name: 'db' } }]
  t.same(JSON.parse(renderInspect(items)), items)
  t.equal(renderInspect([]), '[]\n')
  t.equal(renderInspect(items, 'json'), '{"spec":{"name":"web"}}\n{"spec":{"name":"db"}}\n')
  t.equal(renderInspect(items, '{{.Spec.Name}}'), 'web\ndb\n')
})
