/**
 * A manager that lost its quorum marks reads `Mesh-Stale: true`: ManagerClient tells its `onStale` (the CLI warns
 * on stderr); an answer without the header, or an error answer, does not.
 */
import t from 'tap'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManagerClient, MANAGER_SOCKET } from '../../../src/api/index.ts'

t.test('onStale hears each answer marked Mesh-Stale, nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-stale-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const server = http.createServer((req, res) => {
    if (req.url === '/stale') res.setHeader('Mesh-Stale', 'true')
    if (req.url === '/refused') {
      res.setHeader('Mesh-Stale', 'true')
      res.statusCode = 503
      return res.end(JSON.stringify({ error: { code: 'MESH_ERR_NO_QUORUM', message: 'no quorum: 1 of 3 managers reachable' } }))
    }
    res.setHeader('content-type', 'application/json')
    res.end('[]')
  })
  await new Promise<void>((r) => server.listen(join(dir, MANAGER_SOCKET), r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  let stale = 0
  const c = new ManagerClient({ dataDir: dir, onStale: () => void stale++ })
  await c.request('GET', '/fresh')
  t.equal(stale, 0, 'a current answer')
  t.same(await c.request('GET', '/stale'), [], 'the stale answer is still the answer')
  t.equal(stale, 1)
  await t.rejects(c.request('POST', '/refused'), { code: 'MESH_ERR_NO_QUORUM', message: 'no quorum: 1 of 3 managers reachable' })
  t.equal(stale, 1, 'a refusal is an error, not a stale answer')
})
