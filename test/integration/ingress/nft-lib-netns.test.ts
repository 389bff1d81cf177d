/**
 * libnftables in-process (native/nftables.c through src/base/nft.ts) in a real kernel, in a throwaway network
 * namespace (`unshare -n`; nft-lib-child.ts): the ingress table applied whole then as 10 deltas of a churned catalog
 * through NftApplier leaves the table `nft -f` of the whole table writes; a listing is byte for byte the `nft`
 * process's; a refused ruleset fails with the same nft error; hostile buffers (garbage, 1 MiB of junk, NUL bytes,
 * 100,000 open braces, a 1 MiB name) are error values and the context works after them; 40 concurrent calls on one
 * runner are serialised and all applied; the raw addon answers a second call in flight on one handle with an error
 * value; with over 1,024 descriptors open a runner opened early still works and a new context is refused, never an
 * abort (libnftables select()s on its socket). Needs root, nft, unshare and the built addon (`npm run build`); skipped (with the reason) otherwise.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const tools = spawnSync('sh', ['-c', 'command -v nft && command -v unshare']).status === 0
const skip = process.getuid?.() !== 0 || !tools ? 'needs root, nft and unshare' : false

for (const keep of ['0', '1']) t.test(`libnftables in-process against the real kernel (${keep === '1' ? 'one kept context' : 'a context per call'})`, { skip, timeout: 180_000 }, async (t) => {
  const child = fileURLToPath(new URL('./nft-lib-child.ts', import.meta.url))
  const r = spawnSync('unshare', ['-n', process.execPath, child], { env: { ...process.env, NFT_LIB_CHILD: '1', NFT_LIB_KEEP: keep }, encoding: 'utf8', timeout: 150_000 })
  t.equal(r.status, 0, `child ran: ${r.stderr}`)
  const out = JSON.parse(r.stdout) as Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any
  if (out.skipped) { t.comment(`skipped: the addon is not usable (${out.skipped}): npm run build`); return }
  t.equal(out.steps.length, 11)
  t.equal(out.steps[0].applied, 'full')
  for (const [i, s] of out.steps.entries()) {
    if (i > 0) t.equal(s.applied, 'delta', `change ${i}: applied as a delta`)
    t.ok(s.same, `step ${i}: the kernel's table is the one nft -f of the whole table writes`)
  }
  t.ok(out.listingSame, '`list table` through the library is the nft process\'s listing')
  t.same(out.refusal.lib, [false, 'Error: No such file or directory'], 'a refused delta through the library: an error value')
  t.equal(out.refusal.process[0], false)
  t.match(out.refusal.process[1], /: Error: No such file or directory$/, 'the same nft error as the process (which adds /dev/stdin:line:col)')
  for (const [name, a] of Object.entries(out.hostile as Record<string, { ok: boolean; errorLine: string }>)) {
    t.equal(a.ok, false, `${name}: refused`)
    t.match(a.errorLine, /^(Error: |nftables: )/, `${name}: one error line (${a.errorLine})`)
  }
  t.equal(out.hostile.nul.errorLine, 'nftables: a NUL byte in the ruleset refused')
  t.ok(out.afterHostile, 'the context still works after the hostile buffers')
  t.equal(out.evilTables, false, 'nothing after a NUL byte reached the kernel')
  t.same([out.concurrentOk, out.concurrentElements], [40, 40], '40 concurrent calls: all applied')
  t.same(out.rawBusy, [true, false, 'nftables: busy (one command at a time per handle)'])
  t.same(out.rawClosed, { ok: false, output: '', error: 'nftables: handle closed' })
  t.ok(out.manyFds.early, 'a kept context opened early still applies with 1,100 more descriptors open')
  t.ok(out.manyFds.fresh, 'a context per call too (the reserved low descriptors come back on close)')
  t.ok(out.manyFds.late.every((m: string) => m === 'ok' || m === 'nftables: no file descriptor below 1024 is free (libnftables needs one for its socket)'), `late contexts: ${out.manyFds.late.join('; ')}`)
  t.match(out.manyFds.late.at(-1), /no file descriptor below 1024/, 'past the reserve: refused, not an abort')
  t.ok(out.alive)
})
