/**
 * examples/getstartedlab.yml, the tutorial's stack as mesh ships it: its visualizer reads the manager's read-only
 * Docker API (`<data-dir>/docker-api.sock`) where the tutorial mounted dockerd's socket, and stays on a manager.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { load } from './fixtures.ts'

const EXAMPLE = readFileSync(new URL('../../../examples/getstartedlab.yml', import.meta.url), 'utf8')

const cases: { name: string; env: Record<string, string>; source: string }[] = [
  { name: 'default data dir', env: {}, source: '/var/lib/mesh/docker-api.sock' },
  { name: 'MESH_DATA_DIR as the mesh CLI sees it', env: { MESH_DATA_DIR: '/srv/mesh' }, source: '/srv/mesh/docker-api.sock' },
]
for (const c of cases) {
  t.test(`visualizer mounts mesh's docker-api.sock on /var/run/docker.sock: ${c.name}`, async (t) => {
    const r = load({ 'getstartedlab.yml': EXAMPLE }, { env: c.env })
    t.same(r.warnings, [])
    const vis = r.services.find((s) => s.name === 'getstartedlab_visualizer')
    t.same(vis?.mounts, [{ type: 'bind', source: c.source, target: '/var/run/docker.sock', readOnly: false }])
    t.same(vis?.constraints, ['node.role == manager'], 'on a manager: the socket is a manager\'s')
  })
}
