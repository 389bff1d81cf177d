/**
 * The store epoch on the agent's side (src/catalog/order.ts, Catalog.apply/restore, check.ts): a lower revision of
 * the same epoch is ignored, a snapshot of another epoch is taken whatever its revision (logged once), a snapshot
 * without an epoch (an older manager) is ordered by revision as before, a hostile epoch refuses the whole snapshot,
 * and the cached snapshot keeps its epoch across an agent restart.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Catalog, FileCatalogStore, succession, type CatalogSnapshot } from '../../../src/catalog/index.ts'
import { checkSnapshot } from '../../../src/catalog/check.ts'

const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'

/** A snapshot with one node whose hostname tells which snapshot is being served. */
function snap(revision: number, epoch: string | undefined, tag: string): CatalogSnapshot {
  return {
    revision, ...(epoch !== undefined ? { epoch } : {}), services: [],
    nodes: [{ id: `n-${tag}`, hostname: tag, addr: '192.168.0.1', state: 'ready' }],
  }
}

type Logged = { level: string; msg: string; fields?: Record<string, unknown> }

function catalog(): { c: Catalog; logs: Logged[] } {
  const logs: Logged[] = []
  const c = new Catalog({ log: (level, msg, fields) => void logs.push({ level, msg, ...(fields ? { fields } : {}) }) })
  return { c, logs }
}

const EPOCH_LINE = 'catalog epoch changed: following the restored store'

t.test('which snapshot wins', async (t) => {
  const cases: { name: string; held: CatalogSnapshot; next: CatalogSnapshot; taken: boolean; logged: boolean }[] = [
    { name: 'same epoch, higher revision: taken', held: snap(50, A, 'old'), next: snap(51, A, 'new'), taken: true, logged: false },
    { name: 'same epoch, lower revision: ignored', held: snap(50, A, 'old'), next: snap(49, A, 'new'), taken: false, logged: false },
    { name: 'new epoch, lower revision: taken (a restore)', held: snap(5000, A, 'old'), next: snap(3, B, 'new'), taken: true, logged: true },
    { name: 'new epoch, higher revision: taken', held: snap(50, A, 'old'), next: snap(60, B, 'new'), taken: true, logged: true },
    { name: 'epoch after none (a cache from before epochs), lower revision: taken', held: snap(5000, undefined, 'old'), next: snap(3, B, 'new'), taken: true, logged: true },
    { name: 'no epoch, lower revision: ignored (an older manager, old rule)', held: snap(50, undefined, 'old'), next: snap(49, undefined, 'new'), taken: false, logged: false },
    { name: 'no epoch, higher revision: taken (old rule)', held: snap(50, undefined, 'old'), next: snap(51, undefined, 'new'), taken: true, logged: false },
    { name: 'no epoch after an epoch, lower revision: ignored (revisions decide)', held: snap(50, A, 'old'), next: snap(49, undefined, 'new'), taken: false, logged: false },
  ]
  for (const k of cases) {
    t.test(k.name, async (t) => {
      const { c, logs } = catalog()
      t.equal(c.apply(k.held), true, 'the first snapshot is taken')
      t.equal(c.apply(k.next), k.taken)
      t.equal(c.current().nodes[0]?.hostname, k.taken ? 'new' : 'old')
      t.equal(c.current().epoch, k.taken ? k.next.epoch : k.held.epoch, 'the epoch served is the snapshot\'s')
      const lines = logs.filter((l) => l.msg === EPOCH_LINE)
      t.equal(lines.length, k.logged ? 1 : 0, 'one line when the epoch changed')
      if (k.logged) t.match(lines[0], { level: 'info', fields: { epoch: k.next.epoch, revision: k.next.revision, fromRevision: k.held.revision } })
    })
  }
  t.test('after following a new epoch, its own lower revisions are ignored again', async (t) => {
    const { c } = catalog()
    c.apply(snap(5000, A, 'old'))
    c.apply(snap(10, B, 'restored'))
    t.equal(c.apply(snap(9, B, 'stale')), false)
    t.equal(c.apply(snap(4999, A, 'before-restore')), true, 'the old epoch is another epoch too: the manager decides which store is live')
    t.equal(c.current().nodes[0]?.hostname, 'before-restore')
  })
  t.test('the empty start is taken over without the epoch line', async (t) => {
    const { c, logs } = catalog()
    t.equal(c.apply(snap(1, A, 'first')), true)
    t.equal(logs.filter((l) => l.msg === EPOCH_LINE).length, 0)
  })
  t.test('succession (pure)', async (t) => {
    t.equal(succession({ revision: 1, epoch: B }, { revision: 9, epoch: A }), 'epoch')
    t.equal(succession({ revision: 1, epoch: A }, { revision: 9, epoch: A }), 'stale')
    t.equal(succession({ revision: 9, epoch: A }, { revision: 9, epoch: A }), 'newer')
    t.equal(succession({ revision: 1 }, { revision: 9, epoch: A }), 'stale')
  })
})

t.test('a hostile epoch refuses the whole snapshot', async (t) => {
  const hostile: [string, unknown][] = [
    ['a number', 42], ['an object', { $gt: '' }], ['empty', ''], ['a newline', 'abc\ndef'], ['a path', '../../etc/passwd'],
    ['too long', 'a'.repeat(65)], ['null', null], ['a space', 'a b'], ['non-ASCII', 'épque'],
  ]
  for (const [name, epoch] of hostile) {
    t.test(name, async (t) => {
      const { c, logs } = catalog()
      c.apply(snap(5000, A, 'old'))
      const bad = { ...snap(3, undefined, 'evil'), epoch } as unknown as CatalogSnapshot
      t.equal(checkSnapshot(bad), null, 'check.ts refuses it')
      t.equal(c.apply(bad), false, 'not applied')
      t.equal(c.current().nodes[0]?.hostname, 'old', 'the current snapshot stays')
      t.equal(c.current().epoch, A)
      t.ok(logs.some((l) => l.level === 'warn' && l.msg.startsWith('catalog snapshot refused')), 'logged')
      t.notOk(logs.some((l) => l.msg === EPOCH_LINE))
    })
  }
  t.test('the longest valid epoch and its alphabet are accepted', async (t) => {
    const { c } = catalog()
    const ok = `${'Az09_-'.repeat(10)}abcd`
    t.equal(ok.length, 64)
    t.equal(c.apply(snap(1, ok, 'fine')), true)
    t.equal(c.current().epoch, ok)
  })
})

t.test('the cached catalog keeps its epoch across an agent restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-catalog-epoch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const first = new Catalog({ store: new FileCatalogStore(dir) })
  first.apply(snap(5000, A, 'cached'))
  const logs: Logged[] = []
  const again = new Catalog({ store: new FileCatalogStore(dir), log: (level, msg, fields) => void logs.push({ level, msg, ...(fields ? { fields } : {}) }) })
  t.equal(again.restore(), true)
  t.equal(again.current().epoch, A, 'the epoch came back from catalog.json')
  t.equal(again.apply(snap(4000, A, 'stale')), false, 'same epoch, lower revision: still ignored after the restart')
  t.equal(again.apply(snap(2, B, 'restored')), true, 'a restored store\'s catalog is followed after the restart')
  t.equal(new FileCatalogStore(dir).load()?.epoch, B, 'and the new epoch is what is cached now')
  t.equal(logs.filter((l) => l.msg === EPOCH_LINE).length, 1)
})

t.test('a cache with a hostile epoch is not served', async (t) => {
  const bad = new Catalog({ store: { load: () => ({ ...snap(5, undefined, 'x'), epoch: 'a\u0000b' }), save: () => undefined } })
  t.equal(bad.restore(), false)
  t.equal(bad.current().revision, 0)
})
