/**
 * The nft runner (src/base/nft.ts) with fakes of its narrow parts (the addon, the process start): which adapter each
 * `--nft-exec` mode picks and the one fallback line, calls on one library context run one at a time and in order,
 * hostile input is an error value, and the ingress's Exec routes rulesets and single commands to the runner with the
 * same one-line refusal as `nft -f -`. The real library in a real kernel: test/integration/ingress/nft-lib-netns.test.ts.
 */
import t from 'tap'
import { ConfigError, LibNft, ProcessNft, createNftRunner, nftErrorLine, type NftAddon, type NftAnswer } from '../../../src/base/index.ts'
import { IngressError, nftExec } from '../../../src/ingress/index.ts'

const ok = (output = ''): NftAnswer => ({ ok: true, output, error: '' })

/** A fake addon: records the texts, answers after `delayMs`, and counts calls in flight at once. */
function fakeAddon(o: { delayMs?: number; open?: () => object; answer?: (text: string) => NftAnswer } = {}) {
  const seen: string[] = []
  let inFlight = 0
  let maxInFlight = 0
  let closed = 0
  const addon: NftAddon = {
    open: o.open ?? (() => ({})),
    run: async (_h, text) => {
      seen.push(text)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      await new Promise((r) => setTimeout(r, o.delayMs ?? 1))
      inFlight--
      return o.answer ? o.answer(text) : ok(`did ${text}`)
    },
    close: () => { closed++ },
  }
  return { addon, seen, get maxInFlight() { return maxInFlight }, get closed() { return closed } }
}

const spawnRecorder = () => {
  const calls: Array<{ input: string; timeoutMs: number }> = []
  return { calls, spawn: async (input: string, timeoutMs: number) => { calls.push({ input, timeoutMs }); return ok('from process') } }
}

t.test('mode selection and the fallback line', async (t) => {
  const fake = fakeAddon()
  const missing = () => ({ error: 'not built: dist/native/nftables.node' })
  const cases = [
    { name: 'auto with the addon: the library', mode: 'auto', load: () => ({ addon: fake.addon }), want: 'lib', fallbacks: [] },
    { name: 'auto without it: processes, and says why once', mode: 'auto', load: missing, want: 'process', fallbacks: ['not built: dist/native/nftables.node'] },
    { name: 'process: never the library', mode: 'process', load: () => ({ addon: fake.addon }), want: 'process', fallbacks: [] },
    { name: 'lib with the addon', mode: 'lib', load: () => ({ addon: fake.addon }), want: 'lib', fallbacks: [] },
  ] as const
  for (const c of cases) {
    t.test(c.name, async (t) => {
      const fallbacks: string[] = []
      const r = createNftRunner(c.mode, { load: c.load, onFallback: (why) => fallbacks.push(why) })
      t.equal(r.kind, c.want)
      t.same(fallbacks, c.fallbacks)
    })
  }
  t.test('lib without the addon refuses with one line naming the fix', async (t) => {
    t.throws(() => createNftRunner('lib', { load: missing }), { name: 'ConfigError', message: /^--nft-exec lib: libnftables unavailable \(not built: .*\); install nftables .*--nft-exec process$/ })
  })
  t.test('a context that cannot be opened counts as no library: auto falls back, lib refuses', async (t) => {
    const noFd = fakeAddon({ open: () => { throw new Error('nftables: no file descriptor below 1024 is free (libnftables needs one for its socket)') } })
    const fallbacks: string[] = []
    t.equal(createNftRunner('auto', { load: () => ({ addon: noFd.addon }), onFallback: (why) => fallbacks.push(why) }).kind, 'process')
    t.same(fallbacks, ['nftables: no file descriptor below 1024 is free (libnftables needs one for its socket)'])
    t.throws(() => createNftRunner('lib', { load: () => ({ addon: noFd.addon }) }), { name: 'ConfigError', message: /no file descriptor below 1024/ })
  })
  t.test('an unknown mode is a ConfigError', async (t) => {
    t.throws(() => createNftRunner('fast' as 'auto'), ConfigError)
  })
})

for (const keep of [false, true]) {
  t.test(`library (${keep ? 'one kept context' : 'a context per call'}): concurrent calls run one at a time, in order`, async (t) => {
    const fake = fakeAddon({ delayMs: 5 })
    const r = new LibNft(fake.addon, { keep })
    const texts = Array.from({ length: 20 }, (_, i) => `add table ip t${i}`)
    const answers = await Promise.all(texts.map((x) => r.run(x)))
    t.same(answers.map((a) => a.output), texts.map((x) => `did ${x}`))
    t.same(fake.seen, texts, 'in order')
    t.equal(fake.maxInFlight, 1, 'never two at once')
    t.equal(fake.closed, keep ? 0 : 20, keep ? 'the context stays open' : 'each context closed after its call')
    await r.close()
    t.equal(fake.closed, keep ? 1 : 20, 'close() releases a kept context after the queued calls')
  })
}

t.test('a failing call does not stop the queue; an addon that throws is an error value', async (t) => {
  const fake = fakeAddon({ answer: (x) => (x === 'bad' ? { ok: false, output: '', error: 'Error: syntax error, unexpected newline\nbad\n^^^\n' } : ok()) })
  const r = new LibNft(fake.addon)
  const [a, b] = await Promise.all([r.run('bad'), r.run('list ruleset')])
  t.same([a?.ok, nftErrorLine(a as NftAnswer), b?.ok], [false, 'Error: syntax error, unexpected newline', true])
  const broken = new LibNft({ ...fake.addon, open: () => { throw new Error('libnftables.so.1: cannot open shared object file') } })
  t.same(await broken.run('list ruleset'), { ok: false, output: '', error: 'nftables: libnftables.so.1: cannot open shared object file' })
})

t.test('hostile input is refused as a value by both adapters, before nft sees it', async (t) => {
  const fake = fakeAddon()
  const rec = spawnRecorder()
  const huge = 'x'.repeat(64 * 1024 * 1024 + 1)
  for (const r of [new LibNft(fake.addon), new ProcessNft(rec.spawn)]) {
    const a = await r.run(huge)
    t.same([a.ok, a.error], [false, 'nftables: ruleset over 64 MiB refused'], `${r.kind}: over 64 MiB`)
    const n = await r.run(42 as unknown as string)
    t.same([n.ok, n.error], [false, 'nftables: the ruleset must be text'], `${r.kind}: not text`)
  }
  const p = await new ProcessNft(rec.spawn).run('add table ip a\0b')
  t.same([p.ok, p.error], [false, 'nftables: a NUL byte in the ruleset refused'], 'process: a NUL byte (the library refuses it in C)')
  t.same(fake.seen, [], 'the library was never called')
  t.same(rec.calls, [], 'no process was started')
})

t.test('process adapter: a minute for a whole table, 10 s for a delta', async (t) => {
  const rec = spawnRecorder()
  const r = new ProcessNft(rec.spawn)
  await r.run('add element ip t s { 1.2.3.4 }')
  await r.run(`table ip t {\n${'#'.repeat(70 * 1024)}\n}`)
  t.same(rec.calls.map((c) => c.timeoutMs), [10_000, 60_000])
})

t.test('ingress Exec: rulesets and single nft commands go to the runner, the rest to exec', async (t) => {
  const fake = fakeAddon({ answer: (x) => (x.startsWith('delete') ? { ok: false, output: '', error: 'Error: No such file or directory\ndelete table ip mesh-ingress\n' } : ok('listed')) })
  const others: string[] = []
  const exec = nftExec(new LibNft(fake.addon), async (cmd, args) => { others.push([cmd, ...args].join(' ')); return 'exec' })
  t.equal(await exec('nft', ['-f', '-'], 'add table ip mesh-ingress\n'), 'listed')
  await t.rejects(exec('nft', ['delete', 'table', 'ip', 'mesh-ingress']),
    new IngressError('nft delete table ip mesh-ingress: Error: No such file or directory'), 'a refusal: `nft <args>: <first line>`, as execCommand says it')
  t.equal(await exec('nft', ['-j', 'list', 'set', 'ip', 'mesh-ingress', 'ep-conns']), 'exec', 'JSON listings still through exec')
  t.equal(await exec('iptables', ['-C', 'DOCKER-USER']), 'exec')
  t.same(fake.seen, ['add table ip mesh-ingress\n', 'delete table ip mesh-ingress'])
  t.same(others, ['nft -j list set ip mesh-ingress ep-conns', 'iptables -C DOCKER-USER'])
})
