/**
 * Secrets for `mesh agent` outside argv: the join token from --token-file or MESH_JOIN_TOKEN, the gossip key from
 * --encrypt-file or MESH_GOSSIP_KEY. --token / --encrypt in argv still work, with one warning line each; a secret
 * file that cannot be read is one line naming the flag and the file.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { argvSecretWarnings, flagsToConfig } from '../../../mesh/agent.ts'
import { loadConfig } from '../../../src/config/index.ts'
import { ConfigError } from '../../../src/base/errors.ts'

const d = mkdtempSync(join(tmpdir(), 'mesh-secrets-'))
t.teardown(() => rmSync(d, { recursive: true, force: true }))
const TOKEN = `MESHTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`
const KEY1 = Buffer.alloc(32, 1).toString('base64')
const KEY2 = Buffer.alloc(16, 2).toString('base64')
writeFileSync(join(d, 'token'), `${TOKEN}\n`, { mode: 0o600 })
writeFileSync(join(d, 'gossip.key'), `${KEY1}\n${KEY2}\n`, { mode: 0o600 })
writeFileSync(join(d, 'empty'), '\n')

t.test('--token-file and --encrypt-file', async (t) => {
  const c = loadConfig({ flags: flagsToConfig({ tokenFile: join(d, 'token'), encryptFile: join(d, 'gossip.key') }), env: {} })
  t.equal(c.cluster.token, TOKEN)
  t.same(c.gossip.encryptKeys, [KEY1, KEY2], 'one key per line, first is primary')
})

t.test('MESH_JOIN_TOKEN and MESH_GOSSIP_KEY', async (t) => {
  const c = loadConfig({ flags: flagsToConfig({}), env: { MESH_JOIN_TOKEN: TOKEN, MESH_GOSSIP_KEY: KEY1 } })
  t.equal(c.cluster.token, TOKEN)
  t.same(c.gossip.encryptKeys, [KEY1])
})

t.test('argv still works, with one warning line per secret', async (t) => {
  const opts = { token: TOKEN, encrypt: [KEY1] }
  const c = loadConfig({ flags: flagsToConfig(opts), env: {} })
  t.equal(c.cluster.token, TOKEN)
  t.same(argvSecretWarnings(opts), [
    '--token on the command line is visible to other local users (ps, /proc); prefer --token-file or MESH_JOIN_TOKEN',
    '--encrypt on the command line is visible to other local users (ps, /proc); prefer --encrypt-file or MESH_GOSSIP_KEY',
  ])
  t.same(argvSecretWarnings({ tokenFile: join(d, 'token') }), [], 'no warning for the file forms')
})

t.test('bad secret files and flags are one clear line', async (t) => {
  const cases = [
    { desc: 'missing token file', opts: { tokenFile: join(d, 'nope') }, want: `--token-file ${join(d, 'nope')}: cannot read it (ENOENT)` },
    { desc: 'empty key file', opts: { encryptFile: join(d, 'empty') }, want: `--encrypt-file ${join(d, 'empty')}: the file is empty` },
    { desc: 'both token forms', opts: { token: TOKEN, tokenFile: join(d, 'token') }, want: 'give the join token with --token or --token-file, not both' },
    { desc: 'both key forms', opts: { encrypt: [KEY1], encryptFile: join(d, 'gossip.key') }, want: 'give the gossip key with --encrypt or --encrypt-file, not both' },
  ]
  for (const c of cases) {
    let err: unknown = null
    try { flagsToConfig(c.opts) } catch (e) { err = e }
    t.ok(err instanceof ConfigError, `${c.desc}: a ConfigError`)
    t.equal((err as Error | null)?.message, c.want, c.desc)
  }
})
