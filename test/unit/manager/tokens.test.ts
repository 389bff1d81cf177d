import t from 'tap'
import { clusterDigest, newClusterId, newToken, parseToken, roleForToken } from '../../../src/manager/tokens.ts'

t.test('tokens are shaped like Swarm\'s and map to roles', async (t) => {
  const id = newClusterId()
  const worker = newToken(id)
  const manager = newToken(id)
  t.match(worker, /^MESHTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/)
  t.equal(parseToken(worker)?.digest, clusterDigest(id), 'the digest identifies the cluster')
  t.equal(parseToken(manager)?.digest, parseToken(worker)?.digest, 'both tokens share it')
  t.not(worker, manager, 'different secrets')
  const tokens = { worker, manager }
  const cases = [
    { token: worker, want: 'worker' },
    { token: manager, want: 'manager' },
    { token: ` ${worker}\n`, want: 'worker' },
    { token: newToken(id), want: null },
    { token: newToken(newClusterId()), want: null },
    { token: 'SWMTKN-1-abc-def', want: null },
    { token: '', want: null },
  ]
  for (const c of cases) t.equal(roleForToken(c.token, tokens), c.want, JSON.stringify(c.token.slice(0, 20)))
})
