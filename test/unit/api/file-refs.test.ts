/**
 * A service's secrets and configs as users write them (`--secret db`, `--secret source=db,target=pw,mode=0400`),
 * docker's defaults, and the one validation every path runs (src/api/file-refs.ts).
 */
import t from 'tap'
import { defaultServiceSpec, fileRefPath, parseFileReference, serviceSpecFromRequest, validateServiceSpec, type FileReference } from '../../../src/api/index.ts'

const ref = (o: Partial<FileReference>): FileReference => ({ id: '', name: 'db', target: 'db', uid: '0', gid: '0', mode: 0o444, ...o })

t.test('parse: short and long forms, docker defaults', async (t) => {
  const cases: { name: string; input: string; kind?: 'secret' | 'config'; want: FileReference }[] = [
    { name: 'a name alone', input: 'db', want: ref({}) },
    { name: 'source only: target = name', input: 'source=db', want: ref({}) },
    { name: 'src alias, target, uid, gid', input: 'src=db,target=pw,uid=33,gid=34', want: ref({ target: 'pw', uid: '33', gid: '34' }) },
    { name: 'mode with a leading 0 is octal', input: 'source=db,mode=0400', want: ref({ mode: 0o400 }) },
    { name: 'mode 0o600', input: 'source=db,mode=0o600', want: ref({ mode: 0o600 }) },
    { name: 'mode without 0 is decimal, as Go ParseUint base 0', input: 'source=db,mode=292', want: ref({ mode: 0o444 }) },
    { name: 'absolute target', input: 'source=db,target=/etc/app/pw', want: ref({ target: '/etc/app/pw' }) },
    { name: 'keys in any case', input: 'Source=db,TARGET=x', want: ref({ target: 'x' }) },
    { name: 'a config', input: 'source=app.conf,target=/etc/app.conf', kind: 'config', want: ref({ name: 'app.conf', target: '/etc/app.conf' }) },
  ]
  for (const c of cases) t.same(parseFileReference(c.input, c.kind ?? 'secret'), c.want, c.name)
})

t.test('parse: refusals name the flag and the input', async (t) => {
  const cases: { input: string; kind?: 'secret' | 'config'; message: string }[] = [
    { input: '', message: '--secret "": want NAME or source=NAME[,target=PATH][,uid=N][,gid=N][,mode=0444]' },
    { input: 'target=x', message: '--secret "target=x": source is required' },
    { input: 'source=db,mode=rw', message: '--secret "source=db,mode=rw": invalid mode "rw" (want e.g. 0444 or 0o400)' },
    { input: 'source=db,owner=me', kind: 'config', message: '--config "source=db,owner=me": unknown field "owner" (use source, target, uid, gid, mode)' },
    { input: 'source=db,ro', message: '--secret "source=db,ro": invalid field "ro": must be a key=value pair' },
  ]
  for (const c of cases) t.throws(() => parseFileReference(c.input, c.kind ?? 'secret'), { code: 'MESH_ERR_CONFIG', message: c.message }, c.input)
})

t.test('paths: a secret under /run/secrets, a config under /, absolute as given', async (t) => {
  t.equal(fileRefPath('secret', 'db'), '/run/secrets/db')
  t.equal(fileRefPath('secret', '/etc/pw'), '/etc/pw')
  t.equal(fileRefPath('config', 'app.conf'), '/app.conf')
  t.equal(fileRefPath('config', '/etc/app.conf'), '/etc/app.conf')
})

t.test('validation: one message per problem, conflicting targets refused', async (t) => {
  const base = defaultServiceSpec('web', 'nginx')
  const problems = (o: Record<string, unknown>) => validateServiceSpec({ ...base, ...o })
  t.same(problems({ secrets: [ref({})], configs: [ref({ name: 'app', target: '/app' })] }), [], 'a secret and a config')
  const cases: { name: string; spec: Record<string, unknown>; want: string[] }[] = [
    { name: 'not a list', spec: { secrets: 'db' }, want: ['secrets must be a list of {name, target, uid, gid, mode}'] },
    { name: 'mode out of range', spec: { secrets: [ref({ mode: 0o1777 })] }, want: ['secret "db": mode 1023 must be a file mode between 0 and 0777'] },
    { name: 'uid not a number', spec: { configs: [ref({ uid: 'root' })] }, want: ['config "db": uid "root" must be a number'] },
    { name: 'target escaping', spec: { secrets: [ref({ target: '../etc/shadow' })] }, want: ['secret "db": target "../etc/shadow" must not contain ".."'] },
    { name: 'target a directory', spec: { secrets: [ref({ target: '/etc/' })] }, want: ['secret "db": target "/etc/" must name a file'] },
    {
      name: 'two secrets, one file', spec: { secrets: [ref({}), ref({ name: 'db2', target: 'db' })] },
      want: ['secret "db" and secret "db2" have a conflicting target: /run/secrets/db'],
    },
    {
      name: 'a config on a secret file', spec: { secrets: [ref({})], configs: [ref({ name: 'c', target: '/run/secrets/db' })] },
      want: ['secret "db" and config "c" have a conflicting target: /run/secrets/db'],
    },
  ]
  for (const c of cases) t.same(problems(c.spec), c.want, c.name)
})

t.test('a request may send {name} only: docker defaults filled; null clears', async (t) => {
  const base = defaultServiceSpec('web', 'nginx')
  const spec = serviceSpecFromRequest({ secrets: [{ name: 'db' }], configs: [{ name: 'app', target: '/etc/app' }] }, base)
  t.same(spec.secrets, [ref({})])
  t.same(spec.configs, [ref({ name: 'app', target: '/etc/app' })])
  t.notOk('secrets' in serviceSpecFromRequest({ secrets: null }, { ...base, secrets: [ref({})] }), 'null clears the list')
})
