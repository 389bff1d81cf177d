/**
 * The nft fast path's health and counters in a real kernel (issue 21, items 2 and 3): in a throwaway network namespace
 * (`unshare -n`, gone with its process; nft-health-child.ts), an Ingress in nft mode with active TCP checks publishes
 * :8080 over two tasks. One task's server is killed: once the check noticed, the kernel rules drop it with a delta
 * (not the whole table), and 40 connections in a row to the published port all reach the other task; started again,
 * it serves again. The per-endpoint counters come from nft into status() and /metrics. How long the drop took is
 * printed, never asserted. Needs root, nft, ip and unshare; skipped (with the reason) otherwise.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tools = spawnSync('sh', ['-c', 'command -v nft && command -v ip && command -v unshare']).status === 0
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, nft, ip and unshare' : false

t.test('a dead task leaves the kernel rules (a delta) and comes back; counters from nft', { skip, timeout: 180_000 }, async (t) => {
  const child = fileURLToPath(new URL('./nft-health-child.ts', import.meta.url))
  const r = spawnSync('unshare', ['-n', process.execPath, child], { env: { ...process.env, NFT_HEALTH_CHILD: '1' }, encoding: 'utf8', timeout: 150_000 })
  t.equal(r.status, 0, `child ran: ${r.stderr}`)
  const got = JSON.parse(r.stdout) as {
    error?: string; before: string[]; droppedAfterMs: number; dropWasDelta: boolean; afterKill: string[]; afterKillOk: number; backAfterMs: number
    status: { connections: number; bytesIn: number; bytesOut: number }; metrics: string[]
  }
  t.equal(got.error, undefined, 'every bounded wait ended in time')
  t.same(got.before, ['10.99.0.2', '10.99.0.2', '10.99.0.3', '10.99.0.3'], 'round robin over both tasks through the kernel DNAT')
  t.ok(got.dropWasDelta, 'the dead task left the rules with a delta, not the whole table')
  t.same(got.afterKill, [], 'after the check noticed: no failed or misrouted connection')
  t.equal(got.afterKillOk, 40, '40 of 40 connections answered by the live task')
  t.ok(got.status.connections >= 40 && got.status.bytesIn > 0 && got.status.bytesOut > 0, `status() counts kernel traffic: ${JSON.stringify(got.status)}`)
  t.match(got.metrics.join('\n'), /mesh_ingress_connections_total\{service="web",port="tcp\/8080",endpoint="10\.99\.0\.2:80",task="web\.1"\} [1-9]/, '/metrics too')
  t.match(got.metrics.join('\n'), /mesh_ingress_sent_bytes_total\{[^}]*10\.99\.0\.2:80[^}]*\} [1-9]/)
  t.comment(`kill → kernel rules without the task: ${got.droppedAfterMs} ms (checks every 200 ms); back → serving again: ${got.backAfterMs} ms`)
})
