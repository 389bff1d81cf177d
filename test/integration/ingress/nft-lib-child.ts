// Runs inside a throwaway network namespace (`unshare -n`), started by nft-lib-netns.test.ts with NFT_LIB_CHILD=1
// (started any other way it does nothing and says why). Drives libnftables in-process (src/base/nft.ts LibNft, the
// addon of native/nftables.c) against the real kernel and prints one JSON line of what it saw; `nft` (the process)
// is the reference for every listing.
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { LibNft, ProcessNft, loadNftAddon, nftErrorLine, type NftAnswer } from '../../../src/base/index.ts'
import { NftApplier, execCommand, nftExec, nftTable, planNft, renderFull, type NftTable } from '../../../src/ingress/index.ts'
import { Catalog } from '../../../src/catalog/index.ts'
import { ScaleCatalog } from '../../../bench/scale-catalog.ts'

if (process.env.NFT_LIB_CHILD !== '1') {
  process.stderr.write('nft-lib-child.ts: nft-lib-netns.test.ts starts it under `unshare -n`\n')
  process.exit(0)
}
const loaded = loadNftAddon()
if ('error' in loaded) {
  process.stdout.write(`${JSON.stringify({ skipped: loaded.error })}\n`)
  process.exit(0)
}
const lib = new LibNft(loaded.addon, { keep: process.env.NFT_LIB_KEEP === '1' })
const proc = new ProcessNft()
const list = () => execFileSync('nft', ['list', 'table', 'ip', 'mesh-ingress']).toString()
// Order-free and without counter values: the same rules, chains, sets and elements.
const norm = (s: string) => s.replace(/ counter packets \d+ bytes \d+/g, '').split(/[\n,{}]/).map((l) => l.trim()).filter(Boolean).sort().join('\n')
const out: Record<string, unknown> = {}

// 1. The agent's path: NftApplier through the library (whole table, then deltas of a churned 30-service catalog);
//    after each, the kernel's table is the one `nft -f` of the whole table writes.
const applier = new NftApplier(nftExec(lib, execCommand))
const catalog = new Catalog({})
const sc = new ScaleCatalog({ services: 30, perService: 3, portBase: 31_000 })
catalog.apply(sc.snapshot())
let kept: NftTable = nftTable(planNft(catalog.current()), { snatAddr: '10.77.1.1' })
const steps: Array<{ applied: string; same: boolean }> = []
steps.push({ applied: String(await applier.apply(kept)), same: true })
for (let i = 0; i < 10; i++) {
  catalog.apply(sc.churn(1 + (i % 3)).snap)
  const next = nftTable(planNft(catalog.current()), { snatAddr: '10.77.1.1' }, kept)
  const applied = String(await applier.apply(next))
  const afterLib = list()
  execFileSync('nft', ['-f', '-'], { input: `table ip mesh-ingress\ndelete table ip mesh-ingress\n` })
  const p = await proc.run(renderFull(next))
  steps.push({ applied, same: p.ok && norm(afterLib) === norm(list()) })
  // The table was replaced behind the kept context's back: its next delta must still apply (nft refreshes its cache).
  kept = next
}
out.steps = steps

// 2. Answers identical in form: a listing through the library is the process's listing, byte for byte.
const viaLib = await lib.run('list table ip mesh-ingress')
out.listingSame = viaLib.ok && viaLib.output === list()

// 3. A refused ruleset: both fail, and the one line each gives carries the same nft error.
const bad = 'add element ip mesh-ingress no-such-set { 10.0.0.1 }\n'
const [lb, pb] = [await lib.run(bad), await proc.run(bad)]
out.refusal = { lib: [lb.ok, nftErrorLine(lb)], process: [pb.ok, nftErrorLine(pb)] }

// 4. Hostile buffers: each an error value; the process lives and the context still works after them.
const hostile: Record<string, string> = {
  garbage: '}}}{{{ table table ;;; \xff\xfe',
  junk1MiB: Array.from({ length: 1 << 20 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join(''),
  nul: 'add table ip evil\0add table ip evil2\n',
  deepBraces: `table ip deep ${'{'.repeat(100_000)}`,
  longLine: `add table ip ${'a'.repeat(1 << 20)}\n`,
}
const answers: Record<string, { ok: boolean; errorLine: string }> = {}
for (const [name, text] of Object.entries(hostile)) {
  const a: NftAnswer = await lib.run(text)
  answers[name] = { ok: a.ok, errorLine: nftErrorLine(a).slice(0, 120) }
}
out.hostile = answers
out.afterHostile = (await lib.run('list table ip mesh-ingress')).ok
out.evilTables = execFileSync('nft', ['list', 'tables']).toString().includes('evil')

// 5. Concurrent calls on one runner: serialised, every one applied.
execFileSync('nft', ['-f', '-'], { input: 'add table ip conc\nadd set ip conc s { type ipv4_addr; }\n' })
const many = await Promise.all(Array.from({ length: 40 }, (_, i) => lib.run(`add element ip conc s { 10.9.0.${i + 1} }`)))
out.concurrentOk = many.filter((a) => a.ok).length
out.concurrentElements = (execFileSync('nft', ['list', 'set', 'ip', 'conc', 's']).toString().match(/10\.9\.0\.\d+/g) ?? []).length
// The raw addon on one handle: a second call while one is in flight is an error value, not a crash.
const h = loaded.addon.open()
const [r1, r2] = await Promise.all([loaded.addon.run(h, 'list ruleset'), loaded.addon.run(h, 'list ruleset')])
out.rawBusy = [r1.ok, r2.ok, r2.error]
loaded.addon.close(h)
out.rawClosed = await loaded.addon.run(h, 'list ruleset')
await lib.close()

// 6. Descriptors (libnftables select()s on its socket: a descriptor ≥ 1024 would abort the process): a runner opened
//    early works once the process holds over 1,024 descriptors; contexts asked for then get the addon's reserved low
//    descriptors and, past those, are refused with an error.
const early = new LibNft(loaded.addon, { keep: true }).open()
const fresh = new LibNft(loaded.addon)
const held = Array.from({ length: 1100 }, () => openSync('/dev/null', 'r'))
const freshOk = (await fresh.run('list table ip conc')).ok && (await fresh.run('list table ip conc')).ok
const late: string[] = []
for (let i = 0; i < 6; i++) {
  try {
    const lh = loaded.addon.open()
    late.push((await loaded.addon.run(lh, 'add table ip late')).ok ? 'ok' : 'failed')
  } catch (err) {
    late.push((err as Error).message)
  }
}
out.manyFds = { early: (await early.run('list table ip conc')).ok, fresh: freshOk, late }
for (const fd of held) closeSync(fd)
out.alive = spawnSync('true').status === 0
process.stdout.write(`${JSON.stringify(out)}\n`)
