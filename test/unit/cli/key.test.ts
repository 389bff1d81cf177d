/**
 * `mesh key rotate`'s progress (followRotation) and `mesh key ls`'s table (formatKeys), on scripted manager answers.
 */
import t from 'tap'
import { followRotation, formatKeys } from '../../../mesh/key.ts'
import type { GossipKeysView } from '../../../src/api/index.ts'

const OLD = 'sha256:1111111111111111'
const NEW = 'sha256:2222222222222222'

function view(phase: 'install' | 'use' | 'remove' | null, o: { waitingFor?: string[]; stalled?: boolean; keys?: string[] } = {}): GossipKeysView {
  const keys = o.keys ?? (phase === 'install' ? [OLD, NEW] : phase === 'use' ? [NEW, OLD] : [NEW])
  return {
    encrypted: true, version: 5, keys: keys.map((fingerprint, i) => ({ fingerprint, primary: i === 0 })), rotatedAt: 0, rotationIntervalMs: 12 * 3600_000,
    rotation: phase ? { phase, version: 5, newKey: NEW, waitingFor: o.waitingFor ?? [], stalled: o.stalled ?? false } : null,
  }
}

async function run(answers: GossipKeysView[]): Promise<{ lines: string[]; error: unknown }> {
  const lines: string[] = []
  const [first, ...rest] = answers
  let error: unknown = null
  await followRotation({
    start: async () => first as GossipKeysView,
    poll: async () => rest.shift() as GossipKeysView,
    sleep: async () => undefined,
    write: (l) => lines.push(l),
  }).catch((err: unknown) => { error = err })
  return { lines, error }
}

t.test('one line per step, waiting nodes named once, the new primary at the end', async (t) => {
  const r = await run([view('install', { waitingFor: ['node2', 'node3'] }), view('install', { waitingFor: ['node2', 'node3'] }), view('install', { waitingFor: ['node3'] }),
    view('use'), view('remove'), view(null)])
  t.equal(r.error, null)
  t.same(r.lines, [
    '  waiting for: node2, node3',
    '  waiting for: node3',
    `step 1/3: new key ${NEW} installed on every node`,
    `step 2/3: ${NEW} made primary on every node`,
    'step 3/3: old key removed from every node',
    `Gossip key rotated: the primary key is now ${NEW}.`,
  ])
})

t.test('steps the manager went through between two polls are all printed', async (t) => {
  const r = await run([view('install'), view(null)])
  t.same(r.lines.slice(0, 3).map((l) => l.slice(0, 8)), ['step 1/3', 'step 2/3', 'step 3/3'])
})

t.test('a stalled rotation: one error naming the nodes and the way out', async (t) => {
  const r = await run([view('install'), view('use', { waitingFor: ['node4'], stalled: true })])
  t.match(r.error, { code: 'MESH_ERR_KEY_ROTATION', message: /stalled at step "use": node4 did not acknowledge keyring version 5.*both keys.*mesh key rotate/ })
  t.same(r.lines, [`step 1/3: new key ${NEW} installed on every node`], 'the steps done before it are printed')
})

t.test('mesh key ls shows fingerprints, the primary and the rotation settings', async (t) => {
  const out = formatKeys(view('use'))
  t.match(out, /FINGERPRINT\s+PRIMARY/)
  t.match(out, new RegExp(`${NEW}\\s+yes`))
  t.match(out, /automatic rotation every 12h/)
  t.match(out, /rotation under way: use/)
  t.match(formatKeys({ ...view(null), encrypted: false, keys: [] }), /not encrypted/)
})
