import { Command } from 'commander'
import { KeyRotationError, type GossipKeysView } from '../src/api/index.ts'
import { managerClient } from './client.ts'
import { table } from './table.ts'
import { listOptions, renderList, type ListFlags } from './format/list.ts'

/**
 * `mesh key ls` and `mesh key rotate` (on a manager): the cluster's gossip keyring, by fingerprint only. A rotation
 * installs a new key on every node, makes it primary everywhere, then removes the old one, waiting each time for
 * every ready node to acknowledge (docs/security.md); this command prints each step as the manager reaches it.
 */
export function keyCommand(): Command {
  const cmd = new Command('key').description('the cluster\'s gossip encryption keys (on a manager)')
  listOptions(cmd.command('ls').alias('list').description('list the gossip keys by fingerprint (never the keys) and which one is primary'), ['primary'], { quietWhat: 'fingerprints' })
    .action(async (f: ListFlags) => {
      const v = await managerClient().request<GossipKeysView>('GET', '/v1/gossip/keys')
      process.stdout.write(renderKeys(v, f))
    })
  cmd.command('rotate').description('replace the primary gossip key on every node, with no member ever suspected')
    .action(async () => {
      const client = managerClient()
      await followRotation({
        start: () => client.request<GossipKeysView>('POST', '/v1/gossip/keys/rotate'),
        poll: () => client.request<GossipKeysView>('GET', '/v1/gossip/keys'),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        write: (line) => process.stdout.write(`${line}\n`),
      })
    })
  return cmd
}

const STEPS = {
  install: 'step 1/3: new key %k installed on every node',
  use: 'step 2/3: %k made primary on every node',
  remove: 'step 3/3: old key removed from every node',
} as const

/**
 * `mesh key ls`: the default table with the rotation settings below it (formatKeys); `--json` the whole view, as
 * before; `-q`, `--filter primary=true|false` and `--format` over the keys (fields .Fingerprint .Primary).
 */
export function renderKeys(v: GossipKeysView, f: ListFlags): string {
  if (f.json) return `${JSON.stringify(v, null, 2)}\n`
  if (!f.quiet && f.format === undefined && (f.filter ?? []).length === 0) return formatKeys(v)
  return renderList({
    items: v.keys, columns: ['Fingerprint', 'Primary'], quietField: 'Fingerprint',
    fields: (k) => ({ Fingerprint: k.fingerprint, Primary: k.primary ? 'yes' : '' }),
    filterValues: { primary: ['true', 'false'] },
    matchers: { primary: (k, want) => k.primary === (want.toLowerCase() === 'true') },
  }, f)
}

/** `mesh key ls` as a table, and the rotation settings below it. */
export function formatKeys(v: GossipKeysView): string {
  if (!v.encrypted) return 'Gossip is not encrypted in this cluster (no keyring): see docs/security.md to give it one.\n'
  const rows = v.keys.map((k) => [k.fingerprint, k.primary ? 'yes' : ''])
  const every = v.rotationIntervalMs > 0 ? `every ${duration(v.rotationIntervalMs)}` : 'off'
  const r = v.rotation ? `\nrotation under way: ${v.rotation.phase} (keyring version ${v.rotation.version})${v.rotation.stalled ? ', stalled' : ''}` : ''
  return `${table(['FINGERPRINT', 'PRIMARY'], rows)}\nkeyring version ${v.version}; automatic rotation ${every}; last rotated ${new Date(v.rotatedAt).toISOString()}${r}\n`
}

/**
 * Start (or resume) a rotation and print one line per step until it finishes; KeyRotationError when it stalls.
 * Pure of I/O: the requests, the sleep and the output are given.
 */
export async function followRotation(o: {
  start(): Promise<GossipKeysView>
  poll(): Promise<GossipKeysView>
  sleep(ms: number): Promise<void>
  write(line: string): void
  pollMs?: number
}): Promise<void> {
  let v = await o.start()
  const newKey = v.rotation?.newKey ?? ''
  const order = ['install', 'use', 'remove'] as const
  let printed = 0
  let waited = ''
  for (;;) {
    const r = v.rotation
    // Steps before the current one are done (all of them once the rotation is over): print each once.
    const finished = r ? order.indexOf(r.phase) : order.length
    for (; printed < finished; printed++) o.write(STEPS[order[printed] as keyof typeof STEPS].replace('%k', newKey))
    if (!r) {
      o.write(`Gossip key rotated: the primary key is now ${v.keys.find((k) => k.primary)?.fingerprint ?? newKey}.`)
      return
    }
    if (r.stalled) {
      throw new KeyRotationError(`gossip key rotation stalled at step "${r.phase}": ${r.waitingFor.join(', ')} did not acknowledge keyring version ${r.version} in time; ` +
        'every node still holds both keys, so gossip keeps working; run `mesh key rotate` again to resume (a node that is gone: `mesh node rm` it)')
    }
    const waiting = r.waitingFor.join(', ')
    if (waiting && waiting !== waited) o.write(`  waiting for: ${waiting}`)
    waited = waiting
    await o.sleep(o.pollMs ?? 250)
    v = await o.poll()
  }
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${ms / 1000}s`
}
