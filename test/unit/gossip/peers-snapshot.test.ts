import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PEERS_FILE, keepPeersSnapshot, savedPeers, type GossipEvent, type PeersSource, type SerfMember } from '../../../src/gossip/index.ts'
import { FakeClock } from '../../support/fake-clock.ts'

type Member = ReturnType<PeersSource['members']>[number]

class FakeMembers implements PeersSource {
  list: Member[] = [{ name: 'self', address: '10.0.0.1:7946', state: 'alive' }]
  readonly fns = new Set<(e: GossipEvent) => void>()
  members(): Member[] { return this.list }
  on(fn: (e: GossipEvent) => void): () => void {
    this.fns.add(fn)
    return () => this.fns.delete(fn)
  }
  emit(type: 'join' | 'leave' | 'reap' | 'update', name: string): void {
    for (const fn of this.fns) fn({ type, member: { name } as SerfMember })
  }
}

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'mesh-peers-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

t.test('membership changes are written once per debounce window, self and dead members left out', async (t) => {
  const d = dir(t)
  const clock = new FakeClock()
  const g = new FakeMembers()
  const stop = keepPeersSnapshot(g, d, 'self', { clock })
  g.list.push({ name: 'c', address: '10.0.0.3:7946', state: 'suspect' }, { name: 'b', address: '10.0.0.2:7946', state: 'alive' },
    { name: 'x', address: '10.0.0.9:7946', state: 'dead' })
  g.emit('join', 'b')
  g.emit('join', 'c')
  await clock.advance(999)
  t.notOk(existsSync(join(d, PEERS_FILE)), 'nothing before the debounce delay')
  await clock.advance(1)
  t.same(JSON.parse(readFileSync(join(d, PEERS_FILE), 'utf8')), ['10.0.0.2:7946', '10.0.0.3:7946'])
  t.equal(statSync(join(d, PEERS_FILE)).mode & 0o777, 0o600)
  t.same(savedPeers(d), ['10.0.0.2:7946', '10.0.0.3:7946'])
  g.emit('update', 'b')
  t.equal(clock.pending, 0, 'a tag update is not a membership change')
  g.list = g.list.filter((m) => m.name === 'self')
  g.emit('leave', 'b')
  await clock.advance(1000)
  t.same(savedPeers(d), ['10.0.0.2:7946', '10.0.0.3:7946'], 'never forgets the cluster because everyone else is gone')
  g.emit('reap', 'c')
  stop()
  t.equal(g.fns.size, 0, 'unsubscribed')
  await clock.advance(5000)
  t.equal(clock.pending, 0, 'the pending write was cancelled')
})

t.test('savedPeers: missing, corrupt or odd files read as no peers', async (t) => {
  const cases = [
    { name: 'no file', content: null, want: [] },
    { name: 'not JSON', content: '[', want: [] },
    { name: 'not a list', content: '{"a":1}', want: [] },
    { name: 'non-strings dropped', content: '["10.0.0.2:7946", 5, null]', want: ['10.0.0.2:7946'] },
  ]
  for (const c of cases) {
    const d = dir(t)
    if (c.content !== null) writeFileSync(join(d, PEERS_FILE), c.content)
    t.same(savedPeers(d), c.want, c.name)
  }
})
