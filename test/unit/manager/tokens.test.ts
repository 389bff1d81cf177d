/**
 * Join tokens as the manager's ClusterAuthority hands them out and checks them (src/manager/cluster-ca.ts):
 * `MESHTKN-2-<sha256 of the current root CA>-<role secret>`, one secret per role, each rotated on its own; a token
 * pinning another CA, a rotated secret, a MESHTKN-1 or Swarm token or garbage grants no role (null, never a throw).
 */
import t from 'tap'
import { createHash, X509Certificate } from 'node:crypto'
import { Manager, openSqliteStore } from '../../../src/manager/index.ts'

async function cluster(): Promise<Manager> {
  const store = openSqliteStore(':memory:')
  t.teardown(() => store.close())
  const m = new Manager({ store })
  await m.init()
  return m
}

const sha256OfRoot = (m: Manager): string => createHash('sha256').update(new X509Certificate(m.ca.trust().current).raw).digest('hex')

t.test('tokens are MESHTKN-2-<sha256 of the current root>-<secret>, one secret per role', async (t) => {
  const m = await cluster()
  const { worker, manager } = m.ca.tokens()
  const digest = sha256OfRoot(m)
  t.match(worker, new RegExp(`^MESHTKN-2-${digest}-[0-9a-f]{32}$`), 'the worker token pins the root\'s sha256')
  t.match(manager, new RegExp(`^MESHTKN-2-${digest}-[0-9a-f]{32}$`), 'so does the manager token')
  t.not(worker, manager, 'different secrets')
  t.same(m.tokens(), { worker, manager }, 'Manager.tokens() is the authority\'s')
  t.equal(m.clusterInfo().digest, digest, 'the digest the join reply and GET /v1/ca carry')
  const cases = [
    { desc: 'worker token', token: worker, want: 'worker' },
    { desc: 'manager token', token: manager, want: 'manager' },
    { desc: 'surrounding whitespace', token: ` ${worker}\n`, want: 'worker' },
    { desc: 'right digest, unknown secret', token: `MESHTKN-2-${digest}-${'0'.repeat(32)}`, want: null },
    { desc: 'MESHTKN-1', token: `MESHTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`, want: null },
    { desc: 'a Swarm token', token: 'SWMTKN-1-abc-def', want: null },
    { desc: 'empty', token: '', want: null },
  ]
  for (const c of cases) t.equal(m.joinRole(c.token), c.want, c.desc)
})

t.test('rotating one role\'s secret refuses its old token and leaves the other role\'s token valid', async (t) => {
  const m = await cluster()
  const before = m.tokens()
  const worker = await m.rotateToken('worker')
  t.not(worker, before.worker, 'a new worker token')
  t.equal(worker.slice(0, 75), before.worker.slice(0, 75), 'pinning the same root')
  t.equal(m.joinRole(before.worker), null, 'the old worker token grants nothing')
  t.equal(m.joinRole(worker), 'worker', 'the new one joins as a worker')
  t.equal(m.tokens().manager, before.manager, 'the manager token is unchanged')
  t.equal(m.joinRole(before.manager), 'manager', 'and still valid')
  const manager = await m.rotateToken('manager')
  t.equal(m.joinRole(before.manager), null, 'the old manager token grants nothing after its own rotation')
  t.equal(m.joinRole(manager), 'manager')
  t.equal(m.joinRole(worker), 'worker', 'and the worker token is still valid')
})

t.test('a token of another cluster CA grants no role, even carrying this cluster\'s secret', async (t) => {
  const a = await cluster()
  const b = await cluster()
  t.not(a.clusterInfo().digest, b.clusterInfo().digest, 'two clusters, two roots')
  t.equal(a.joinRole(b.tokens().worker), null, 'b\'s worker token at a')
  t.equal(a.joinRole(b.tokens().manager), null, 'b\'s manager token at a')
  const secret = a.tokens().worker.slice(-32)
  t.equal(a.joinRole(`MESHTKN-2-${b.clusterInfo().digest}-${secret}`), null, 'a\'s own worker secret behind b\'s digest')
})
