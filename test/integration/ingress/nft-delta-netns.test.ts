/**
 * Deltas in a real kernel (issue 21, item 1): in a throwaway network namespace (`unshare -n`; nft-delta-child.ts),
 * endpoints and services added and removed, a VIP left with no endpoint and back, then 10 changes of a churned catalog
 * as the agent makes them (frozen snapshots, kept plan entries), each applied as a delta: after each,
 * the kernel's table is the one the whole table gives. Needs root, nft and unshare; skipped (with the reason) otherwise.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tools = spawnSync('sh', ['-c', 'command -v nft && command -v unshare']).status === 0
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, nft and unshare' : false

t.test('each delta leaves the kernel with the same table a whole apply writes', { skip, timeout: 120_000 }, async (t) => {
  const child = fileURLToPath(new URL('./nft-delta-child.ts', import.meta.url))
  const r = spawnSync('unshare', ['-n', process.execPath, child], { env: { ...process.env, NFT_DELTA_CHILD: '1' }, encoding: 'utf8', timeout: 100_000 })
  t.equal(r.status, 0, `child ran: ${r.stderr}`)
  const steps = JSON.parse(r.stdout) as Array<{ deltaBytes: number; same: boolean }>
  t.equal(steps.length, 14, '4 steps by hand, 10 of churn through a Catalog (kept plan entries, tables built against the one in place)')
  for (const [i, s] of steps.entries()) t.ok(s.same, `step ${i + 1}: the kernel's table after the delta (${s.deltaBytes} bytes) is the whole table's`)
})
