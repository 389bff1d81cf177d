/**
 * Which endpoint a command uses (mesh/endpoint.ts), docker's precedence: --context > --host / MESH_HOST >
 * MESH_CONTEXT > the current context > default (the local sockets); both flags at once is docker's error.
 */
import t from 'tap'
import { globalOptionsEnv, resolveEndpoint, type ContextReader } from '../../../mesh/endpoint.ts'
import type { StoredContext } from '../../../mesh/context-store.ts'

const ctx = (name: string, host: string, tlsDir?: string): StoredContext => ({ Name: name, Metadata: {}, Endpoints: { mesh: { Host: host } }, ...(tlsDir ? { tlsDir } : {}) })
const store = (current = 'default'): ContextReader => {
  const all = new Map([['prod', ctx('prod', 'ssh://root@10.0.0.1')], ['lab', ctx('lab', 'tcp://10.0.0.2:7947', '/cfg/tls/lab')]])
  return { get: (n) => all.get(n), current: () => current }
}

t.test('precedence', async (t) => {
  const cases = [
    { name: 'nothing: the local sockets', flags: {}, env: {}, current: 'default', want: { context: 'default', host: undefined } },
    { name: 'the current context', flags: {}, env: {}, current: 'prod', want: { context: 'prod', host: 'ssh://root@10.0.0.1' } },
    { name: 'MESH_CONTEXT over the current one', flags: {}, env: { MESH_CONTEXT: 'lab' }, current: 'prod', want: { context: 'lab', host: 'tcp://10.0.0.2:7947', certPath: '/cfg/tls/lab' } },
    { name: 'MESH_HOST over MESH_CONTEXT', flags: {}, env: { MESH_HOST: 'ssh://h', MESH_CONTEXT: 'lab' }, current: 'prod', want: { context: 'default', host: 'ssh://h' } },
    { name: 'MESH_HOST + MESH_CERT_PATH', flags: {}, env: { MESH_HOST: 'tcp://h:7947', MESH_CERT_PATH: '/ops' }, current: 'default', want: { context: 'default', host: 'tcp://h:7947', certPath: '/ops' } },
    { name: '--host over MESH_HOST and MESH_CONTEXT', flags: { host: 'ssh://flag' }, env: { MESH_HOST: 'ssh://env', MESH_CONTEXT: 'lab' }, current: 'prod', want: { context: 'default', host: 'ssh://flag' } },
    { name: '--context over MESH_HOST', flags: { context: 'prod' }, env: { MESH_HOST: 'ssh://env' }, current: 'lab', want: { context: 'prod', host: 'ssh://root@10.0.0.1' } },
    { name: '--context over MESH_CONTEXT', flags: { context: 'lab' }, env: { MESH_CONTEXT: 'prod' }, current: 'default', want: { context: 'lab', host: 'tcp://10.0.0.2:7947', certPath: '/cfg/tls/lab' } },
    { name: '--context default keeps MESH_HOST (the default context is MESH_HOST)', flags: { context: 'default' }, env: { MESH_HOST: 'ssh://env' }, current: 'prod', want: { context: 'default', host: 'ssh://env' } },
    { name: '--context default without MESH_HOST: local', flags: { context: 'default' }, env: {}, current: 'prod', want: { context: 'default', host: undefined } },
  ]
  for (const c of cases) {
    const e = resolveEndpoint(globalOptionsEnv(c.flags, c.env), store(c.current))
    t.same({ context: e.context, host: e.host?.url, ...(e.certPath ? { certPath: e.certPath } : {}) }, c.want, c.name)
  }
})

t.test('refusals: both flags, unknown contexts, bad names and URLs', async (t) => {
  t.throws(() => globalOptionsEnv({ host: 'ssh://h', context: 'prod' }, {}), { code: 'MESH_ERR_CONFIG', message: 'conflicting options: either specify --host or --context, not both' })
  t.throws(() => globalOptionsEnv({ host: 'ftp://h' }, {}), { message: /^--host "ftp:\/\/h": want tcp:/ })
  t.throws(() => globalOptionsEnv({ context: '../x' }, {}), { code: 'MESH_ERR_CONTEXT' })
  t.throws(() => resolveEndpoint({ MESH_CONTEXT: 'nope' }, store()), { code: 'MESH_ERR_CONTEXT', message: 'context "nope": no such context' })
  t.throws(() => resolveEndpoint({}, store('gone')), { message: 'context "gone": no such context (it is the current context: `mesh context use default` or create it)' })
  t.throws(() => resolveEndpoint({ MESH_HOST: 'tcp://h' }, store()), { message: /^MESH_HOST "tcp:\/\/h": want / })
})

t.test('globalOptionsEnv leaves the given environment alone', async (t) => {
  const env = { MESH_HOST: 'ssh://a', OTHER: '1' }
  const out = globalOptionsEnv({ context: 'prod' }, env)
  t.same(env, { MESH_HOST: 'ssh://a', OTHER: '1' })
  t.same(out, { MESH_CONTEXT: 'prod', OTHER: '1' })
})
