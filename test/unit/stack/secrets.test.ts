/**
 * Compose `secrets:` / `configs:` → the stack's objects and the services' FileReferences (src/stack/secrets.ts),
 * docker/cli's defaults and refusals, the values read only at deploy (readStackValues), and the plan
 * (planStackObjects): what exists, what is missing, what to create.
 */
import t from 'tap'
import { MAX_SECRET_BYTES } from '../../../src/api/secrets.ts'
import { planStackObjects, readStackValues, sameSpec, updateBody, type StackObject } from '../../../src/stack/index.ts'
import { errorOf, load } from './fixtures.ts'

const APP = `
services:
  web:
    image: nginx
    secrets:
      - db_password
      - source: api_key
        target: /etc/app/key
        uid: "100"
        gid: "101"
        mode: 0400
    configs:
      - app_conf
      - source: nginx_conf
        target: nginx.conf
  worker:
    image: busybox
    secrets: [ext]
secrets:
  db_password:
    file: ./secrets/db.txt
  api_key:
    file: /abs/key.txt
    labels: [team=a]
  ext:
    external: true
    name: prod_ext
  unused_ext:
    external: true
configs:
  app_conf:
    file: app.conf
  nginx_conf:
    name: shared_nginx
    file: ../nginx.conf
`

t.test('short and long syntax with docker/cli defaults; names and files as docker stack deploy makes them', async (t) => {
  const r = load({ 'app/stack.yml': APP }, { stack: 's' })
  t.same(r.warnings, [], 'secrets and configs are no longer ignored')
  const web = r.services.find((s) => s.name === 's_web')
  t.same(web?.secrets, [
    { id: '', name: 's_db_password', target: 'db_password', uid: '0', gid: '0', mode: 0o444 },
    { id: '', name: 's_api_key', target: '/etc/app/key', uid: '100', gid: '101', mode: 0o400 },
  ], 'mode 0400 is octal, as docker reads it')
  t.same(web?.configs, [
    { id: '', name: 's_app_conf', target: '/app_conf', uid: '0', gid: '0', mode: 0o444 },
    { id: '', name: 'shared_nginx', target: '/nginx.conf', uid: '0', gid: '0', mode: 0o444 },
  ], "a config's target is absolute (/<key> by default)")
  t.same(r.services.find((s) => s.name === 's_worker')?.secrets, [{ id: '', name: 'prod_ext', target: 'ext', uid: '0', gid: '0', mode: 0o444 }])
  const ns = 'com.docker.stack.namespace'
  t.same(r.secrets, [
    { kind: 'secret', key: 'api_key', name: 's_api_key', external: false, file: '/abs/key.txt', labels: { team: 'a', [ns]: 's' }, at: { file: 'app/stack.yml', path: 'secrets.api_key' } },
    { kind: 'secret', key: 'db_password', name: 's_db_password', external: false, file: '/lab/app/secrets/db.txt', labels: { [ns]: 's' }, at: { file: 'app/stack.yml', path: 'secrets.db_password' } },
    { kind: 'secret', key: 'ext', name: 'prod_ext', external: true, labels: {}, at: { file: 'app/stack.yml', path: 'secrets.ext' } },
  ], "files relative to the compose file's directory; an unused external one is not checked")
  t.same(r.configs.map((c) => [c.name, c.file]), [['s_app_conf', '/lab/app/app.conf'], ['shared_nginx', '/lab/nginx.conf']])
})

t.test('a later file overrides: service uses merge by source, top-level declarations by name', async (t) => {
  const r = load({
    'stack.yml': 'services:\n  web:\n    image: nginx\n    secrets: [a]\nsecrets:\n  a: {file: a.txt}\n',
    'prod.yml': 'services:\n  web:\n    secrets: [{source: a, target: real}, b]\nsecrets:\n  a: {file: prod-a.txt}\n  b: {external: true}\n',
  }, { stack: 's' })
  t.same(r.services[0]?.secrets?.map((x) => [x.name, x.target]), [['s_a', 'real'], ['b', 'b']])
  t.same(r.secrets.map((x) => [x.name, x.file]), [['s_a', '/lab/prod-a.txt'], ['b', undefined]])
})

t.test('refusals: one line naming the file and the key', async (t) => {
  const cases = [
    { name: 'undeclared secret (short)', file: 'services:\n  web:\n    image: x\n    secrets: [db]\n',
      want: 'stack.yml: services.web.secrets[0]: secret "db" is not declared under the top-level secrets key (add secrets: {db: {file: ./db.txt}})' },
    { name: 'undeclared config (long)', file: 'services:\n  web:\n    image: x\n    configs: [{source: c, target: /c}]\nconfigs: {d: {file: d}}\n',
      want: 'stack.yml: services.web.configs[0]: config "c" is not declared under the top-level configs key (add configs: {c: {file: ./c.txt}})' },
    { name: 'long syntax without source', file: 'services:\n  web:\n    image: x\n    secrets: [{target: t}]\n',
      want: 'stack.yml: services.web.secrets[0].source: is required: the top-level secret to use' },
    { name: 'mode out of range', file: 'services:\n  web:\n    image: x\n    secrets: [{source: a, mode: 01000}]\nsecrets: {a: {file: a}}\n',
      want: 'stack.yml: services.web.secrets[0].mode: must be a file mode from 0 to 0777 (octal, e.g. 0440), not 512' },
    { name: 'neither file nor external', file: 'services:\n  web:\n    image: x\nsecrets: {a: {labels: {k: v}}}\n',
      want: 'stack.yml: secrets.a: file is required: the file that holds the value (or external: true for a secret made with mesh secret create)' },
    { name: 'external and file', file: 'services:\n  web:\n    image: x\nconfigs: {a: {external: true, file: a}}\n',
      want: 'stack.yml: configs.a: external: true and file are both set: an external config exists already (remove file, or external to create it from the file)' },
    { name: 'a driver', file: 'services:\n  web:\n    image: x\nsecrets: {a: {driver: vault}}\n',
      want: 'stack.yml: secrets.a.driver: secret drivers are not supported: give the value with file:, or create it with mesh secret create and write external: true' },
    { name: 'schema: a key secrets do not have', file: 'services:\n  web:\n    image: x\nsecrets: {a: {file: a, content: x}}\n',
      want: /^stack\.yml: secrets\.a\.content: key not allowed here/ },
  ]
  for (const c of cases) {
    const got = errorOf(() => load({ 'stack.yml': c.file }))
    if (typeof c.want === 'string') t.equal(got, c.want, c.name)
    else t.match(got, c.want, c.name)
  }
})

const obj = (o: Partial<StackObject> & { name: string }): StackObject => ({
  kind: 'secret', key: o.name, external: false, file: `/f/${o.name}`, labels: { 'com.docker.stack.namespace': 's' }, at: { file: 'stack.yml', path: `secrets.${o.name}` }, ...o,
})

t.test('readStackValues: base64 of the file; unreadable, empty and > 500 KiB files refused naming the key', async (t) => {
  const files: Record<string, Uint8Array> = {
    '/f/ok': Buffer.from('hunter2\n'), '/f/empty': new Uint8Array(0),
    '/f/big': new Uint8Array(MAX_SECRET_BYTES + 1), '/f/max': new Uint8Array(MAX_SECRET_BYTES),
  }
  const read = (p: string) => {
    const b = files[p]
    if (!b) throw Object.assign(new Error('nope'), { code: 'ENOENT' })
    return b
  }
  const v = readStackValues([obj({ name: 'ok' }), obj({ name: 'max' }), obj({ name: 'ext', external: true })], read)
  t.same([...v.keys()], ['ok', 'max'], 'external ones are not read')
  t.equal(v.get('ok'), Buffer.from('hunter2\n').toString('base64'))
  t.equal(errorOf(() => readStackValues([obj({ name: 'big' })], read)), `stack.yml: secrets.big.file: /f/big holds ${MAX_SECRET_BYTES + 1} bytes: a secret is at most 512000 bytes (500 KiB)`)
  t.equal(errorOf(() => readStackValues([obj({ name: 'empty' })], read)), 'stack.yml: secrets.empty.file: /f/empty is empty: a secret needs a value')
  t.equal(errorOf(() => readStackValues([obj({ name: 'gone' })], read)), 'stack.yml: secrets.gone.file: cannot read /f/gone: no such file')
})

t.test('planStackObjects: create the missing own ones, keep what exists, refuse a missing external one or a changed config', async (t) => {
  const ns = { 'com.docker.stack.namespace': 's' }
  const values = new Map([['s_db', 'ZGI='], ['s_conf', 'Y29uZg=='], ['s_new', 'bmV3']])
  const objects = [
    obj({ name: 's_db' }), obj({ name: 's_conf', kind: 'config' }), obj({ name: 's_new', kind: 'config' }),
    obj({ name: 'prod', external: true, labels: {} }),
  ]
  const current = {
    secrets: [{ id: 'sec1', spec: { name: 's_db', labels: ns } }, { id: 'sec2', spec: { name: 'prod', labels: {} } }],
    configs: [{ id: 'cfg1', spec: { name: 's_conf', labels: ns, data: 'Y29uZg==' } }],
  }
  const plan = planStackObjects('s', objects, values, current)
  t.same(plan.create, [{ kind: 'config', name: 's_new', labels: ns, data: 'bmV3' }])
  t.same(plan.keep, [{ kind: 'secret', name: 'prod', id: 'sec2' }, { kind: 'secret', name: 's_db', id: 'sec1' }, { kind: 'config', name: 's_conf', id: 'cfg1' }])
  t.same(plan.update, [
    { kind: 'secret', name: 's_db', id: 'sec1', labels: ns, data: 'ZGI=' },
    { kind: 'config', name: 's_conf', id: 'cfg1', labels: ns, data: 'Y29uZg==' },
  ], "the stack's own existing ones are sent to the manager, which compares a secret's value")

  const missing = [...objects, obj({ name: 'other', external: true, kind: 'config', labels: {} })]
  t.equal(errorOf(() => planStackObjects('s', missing, values, { secrets: [], configs: [] })),
    'external secret "prod" not found (stack.yml: secrets.prod); create it with mesh secret create prod FILE; ' +
    'external config "other" not found (stack.yml: secrets.other); create it with mesh config create other FILE; nothing was deployed',
    'every missing external one, in one line')
  const changed = { ...current, configs: [{ id: 'cfg1', spec: { name: 's_conf', labels: ns, data: 'b2xk' } }] }
  t.match(errorOf(() => planStackObjects('s', objects, values, changed)), /^config "s_conf" \(stack\.yml: secrets\.s_conf\): only updates to Labels are allowed/)
  const foreign = { ...current, secrets: [{ id: 'x', spec: { name: 's_db', labels: { 'com.docker.stack.namespace': 'other' } } }, current.secrets[1]!] }
  t.equal(errorOf(() => planStackObjects('s', objects, values, foreign)),
    'secret "s_db" (stack.yml: secrets.s_db) already exists and is not part of stack "s" (it belongs to stack "other"); use it with external: true, or remove it')
})

t.test('the service plan compares secrets and configs by what the files say (the manager fills the ids)', async (t) => {
  const r = load({ 'stack.yml': 'services:\n  web:\n    image: nginx\n    secrets: [a]\nsecrets: {a: {file: a}}\n' }, { stack: 's' })
  const desired = r.services[0]!
  const stored = { ...desired, secrets: desired.secrets!.map((x) => ({ ...x, id: 'abc123' })) }
  t.ok(sameSpec(stored, desired), 'same references, ids aside')
  t.notOk(sameSpec(stored, { ...desired, secrets: [{ ...desired.secrets![0]!, target: 'other' }] }), 'a new target is a change')
  const plain = { ...desired }
  delete plain.secrets
  t.notOk(sameSpec(stored, plain), 'dropping the secret is a change')
  t.ok(sameSpec({ ...plain, configs: [] }, plain), 'none and [] are the same')
  t.same(updateBody(stored, plain).secrets, [], 'an update clears the dropped references')
  t.equal(updateBody(stored, desired).configs, undefined, 'nothing to clear')
})
