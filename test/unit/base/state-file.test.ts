/**
 * State files in the data dir (src/base/state-file.ts and its users): written atomically with their final mode from
 * the first byte — even over a leftover `.tmp` of a crashed run and under umask 0 — and a broken file is one clear
 * line naming it, never a raw SyntaxError and never silently ignored.
 */
import t, { type Test } from 'tap'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MeshError } from '../../../src/base/errors.ts'
import { parseCidr } from '../../../src/base/cidr.ts'
import { StateFileError, readJsonState, writeFileAtomic } from '../../../src/base/state-file.ts'
import { readIdentity, writeIdentity, identityPath } from '../../../src/worker/index.ts'
import { PEERS_FILE, keepPeersSnapshot, loadPeers, type GossipEvent, type PeersSource } from '../../../src/gossip/index.ts'
import { LEASE_FILE, readLease, writeLease } from '../../../src/overlay/lease.ts'
import { SubnetPool } from '../../../src/overlay/index.ts'
import { KEY_FILE, loadOrCreateKey } from '../../../src/overlay/wg-keys.ts'
import { CATALOG_FILE, FileCatalogStore } from '../../../src/catalog/file-store.ts'
import { FakeClock } from '../../support/fake-clock.ts'

function dir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'mesh-state-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}
const mode = (p: string): number => statSync(p).mode & 0o777
const RANGE = '10.77.0.0/16'
const pool = new SubnetPool(parseCidr(RANGE), 24)

t.test('writeFileAtomic: final mode from the first byte, content replaced whole, no temporary left', async (t) => {
  const d = dir(t)
  const p = join(d, 'state.json')
  const umask = process.umask(0)
  t.teardown(() => process.umask(umask))
  writeFileSync(p, 'old', { mode: 0o644 })
  writeFileSync(`${p}.tmp`, 'half', { mode: 0o666 }) // a crashed run's leftover
  writeFileAtomic(p, '{"new":true}\n', 0o600)
  t.equal(readFileSync(p, 'utf8'), '{"new":true}\n')
  t.equal(mode(p), 0o600)
  t.notOk(existsSync(`${p}.tmp`))
  writeFileAtomic(p, Buffer.from('x'), 0o640)
  t.equal(mode(p), 0o640)
})

t.test('every state file is 0600 right after it is written, even over a leftover .tmp under umask 0', async (t) => {
  const umask = process.umask(0)
  t.teardown(() => process.umask(umask))
  const writers = [
    { file: 'node.json', write: (d: string) => writeIdentity(d, { nodeId: 'n1', role: 'worker', manager: '10.0.0.1:7947' }) },
    { file: PEERS_FILE, write: async (d: string) => {
      const clock = new FakeClock()
      let fn: ((e: GossipEvent) => void) | null = null
      const g: PeersSource = { members: () => [{ name: 'b', address: '10.0.0.2:7946', state: 'alive' }], on: (f) => { fn = f as (e: GossipEvent) => void; return () => {} } }
      const stop = keepPeersSnapshot(g, d, 'a', { clock, debounceMs: 10 })
      fn!({ type: 'join', name: 'b' } as unknown as GossipEvent)
      await clock.advance(10)
      stop()
    } },
    { file: LEASE_FILE, write: (d: string) => writeLease(d, RANGE, '10.77.3.0/24') },
    { file: KEY_FILE, write: (d: string) => { loadOrCreateKey(d) } },
    { file: CATALOG_FILE, write: (d: string) => new FileCatalogStore(d).save({ revision: 1, services: [], nodes: [] } as never) },
  ]
  for (const w of writers) {
    const d = dir(t)
    writeFileSync(join(d, `${w.file}.tmp`), 'leftover', { mode: 0o666 })
    await w.write(d)
    t.ok(existsSync(join(d, w.file)), `${w.file} written`)
    t.equal(mode(join(d, w.file)), 0o600, `${w.file} is 0600`)
  }
})

t.test('a broken state file is one line naming it and the fix', async (t) => {
  const cases = [
    { desc: 'peers.json not JSON', file: PEERS_FILE, content: '["10.0.0.2:79', read: (d: string) => loadPeers(d), want: (d: string) => `${d}/peers.json is not valid JSON: remove it or restore a backup` },
    { desc: 'peers.json not a list', file: PEERS_FILE, content: '{"a":1}', read: (d: string) => loadPeers(d), want: (d: string) => `${d}/peers.json is not a list of addresses: remove it or restore a backup` },
    { desc: 'overlay.json not JSON', file: LEASE_FILE, content: '{"range":', read: (d: string) => readLease(d, RANGE, pool), want: (d: string) => `${d}/overlay.json is not valid JSON: remove it or restore a backup` },
    { desc: 'overlay.json not a lease', file: LEASE_FILE, content: '[]', read: (d: string) => readLease(d, RANGE, pool), want: (d: string) => `${d}/overlay.json is not an overlay lease (want range and subnet): remove it or restore a backup` },
    { desc: 'node.json not JSON', file: 'node.json', content: '{"nodeId": "n1", "cred', read: (d: string) => readIdentity(d), want: (d: string) => `${identityPath(d)}: cannot read this node's identity (not valid JSON): remove the file and join again with --token TOKEN` },
  ]
  for (const c of cases) {
    const d = dir(t)
    writeFileSync(join(d, c.file), c.content)
    let err: unknown = null
    try { c.read(d) } catch (e) { err = e }
    t.ok(err instanceof MeshError, `${c.desc}: a MeshError`)
    t.equal((err as Error).message, c.want(d), c.desc)
  }
})

t.test('missing and good state files read normally', async (t) => {
  const d = dir(t)
  t.equal(readJsonState(join(d, 'none.json')), undefined)
  t.same(loadPeers(d), [])
  t.equal(readLease(d, RANGE, pool), null)
  writeLease(d, RANGE, '10.77.3.0/24')
  t.equal(readLease(d, RANGE, pool), '10.77.3.0/24')
  t.equal(readLease(d, '10.99.0.0/16', new SubnetPool(parseCidr('10.99.0.0/16'), 24)), null, 'a lease of another range is no lease')
  writeFileSync(join(d, PEERS_FILE), '["10.0.0.2:7946", 5]')
  t.same(loadPeers(d), ['10.0.0.2:7946'])
  t.ok(new StateFileError('/x', 'is odd') instanceof MeshError)
})
