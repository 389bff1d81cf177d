/** `mesh version` (client part always, server part when a manager answers) and `mesh info`, on fake answers. */
import t from 'tap'
import { renderVersion, versionView } from '../../../mesh/version.ts'
import { renderInfo } from '../../../mesh/info.ts'
import type { ClusterInfo } from '../../../src/api/info.ts'
import { ControlError } from '../../../src/base/errors.ts'

const info: ClusterInfo = {
  clusterId: 'c1', digest: 'abcd', nodes: 3, services: 2, managers: [{ id: 'n1', hostname: 'manager1', addr: '10.0.0.1', state: 'ready' }],
  nodesByState: { ready: 2, down: 1 }, tasks: 4, tasksByState: { running: 3, failed: 1 }, overlayRange: '10.77.0.0/16', vipRange: '10.78.0.0/16',
  publishedPorts: [{ service: 'web', published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }, { service: 'db', published: 5432, target: 5432, protocol: 'tcp', mode: 'host' }],
  caExpiresAt: '2046-01-01T00:00:00.000Z', caRotating: false, gossipEncrypted: true, self: { id: 'n1', hostname: 'manager1' }, version: '0.1.0', apiVersion: '1',
}
const env = { node: 'v20.0.0', os: 'linux', arch: 'x64' }

t.test('version with a manager', async (t) => {
  const v = await versionView({ request: async <T>() => info as T }, env)
  t.same(v.Server, { Version: '0.1.0', ApiVersion: '1', ClusterId: 'c1' })
  const text = renderVersion(v)
  t.match(text, /^Client:\n Version:\s+0\.1\.0\n API version:\s+1\n Node version:\s+v20\.0\.0\n OS\/Arch:\s+linux\/x64\n\nServer:\n Version:\s+0\.1\.0\n API version:\s+1\n Cluster:\s+c1\n$/)
  t.equal(renderVersion(v, '{{.Client.Version}} {{.Server.ApiVersion}} {{.Client.Os}}/{{.Client.Arch}}'), '0.1.0 1 linux/x64\n')
  t.same(JSON.parse(renderVersion(v, 'json')), v)
})

t.test('version without a manager: the client part and why', async (t) => {
  const v = await versionView({ request: async () => { throw new ControlError('cannot reach the manager') } }, env)
  t.equal(v.Server, null)
  t.match(renderVersion(v), /Server:\n no manager reachable: cannot reach the manager\n$/)
  t.equal(renderVersion(v, '{{.Client.NodeVersion}}'), 'v20.0.0\n')
})

t.test('info', async (t) => {
  const text = renderInfo(info)
  for (const line of [
    / Cluster ID:\s+c1\n/, / Managers:\s+1 \(manager1 10\.0\.0\.1 ready\)\n/, / Nodes:\s+3 \(1 down, 2 ready\)\n/, / Services:\s+2\n/,
    / Tasks:\s+4 \(1 failed, 3 running\)\n/, / Overlay range:\s+10\.77\.0\.0\/16\n/, / VIP range:\s+10\.78\.0\.0\/16\n/,
    / Published ports: 8080\/tcp → web:80, 5432\/tcp → db:5432 \(host\)\n/, / CA:\s+sha256:abcd, expires 2046-01-01T00:00:00\.000Z\n/,
    / Gossip:\s+encrypted\n/, / Version:\s+mesh 0\.1\.0, API 1\n/,
  ]) t.match(text, line)
  t.equal(renderInfo(info, '{{.ClusterId}} {{json .TasksByState}} {{.Self.Hostname}}'), 'c1 {"running":3,"failed":1} manager1\n')
  t.throws(() => renderInfo(info, '{{.Colour}}'), { message: /no field \.Colour/ })
})
