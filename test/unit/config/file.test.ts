/**
 * The config file: the default location (read when it exists and neither --config nor MESH_CONFIG is given; an
 * injected path here, never /etc), secrets by file (paths relative to the file), one warning line for an inline
 * secret in a file the group or others can read (as ssh warns of an open private key), one line for an unknown key.
 */
import t from 'tap'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configFilePath, loadConfig } from '../../../src/config/index.ts'
import { ConfigError } from '../../../src/base/errors.ts'

const d = mkdtempSync(join(tmpdir(), 'mesh-file-'))
t.teardown(() => rmSync(d, { recursive: true, force: true }))
const TOKEN = `MESHTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`
const KEY1 = Buffer.alloc(32, 1).toString('base64')
const KEY2 = Buffer.alloc(16, 2).toString('base64')
const BASE = 'gossip:\n  name: n1\n  bindAddr: 127.0.0.5\n'
const write = (name: string, text: string, mode = 0o600): string => {
  const p = join(d, name)
  writeFileSync(p, text)
  chmodSync(p, mode)
  return p
}

t.test('the default file is read when it exists and nothing else names one', async (t) => {
  const dflt = write('agent.yaml', `${BASE}logLevel: debug\n`)
  const other = write('other.yaml', `${BASE}logLevel: warn\n`)
  const missing = join(d, 'no-such.yaml')
  const cases = [
    { desc: 'default file exists', o: { env: {}, defaultFile: dflt }, want: dflt, level: 'debug' },
    { desc: 'default file missing: defaults', o: { env: {}, defaultFile: missing }, want: undefined, level: 'info' },
    { desc: '--config wins', o: { env: { MESH_CONFIG: dflt }, file: other, defaultFile: dflt }, want: other, level: 'warn' },
    { desc: 'MESH_CONFIG wins over the default', o: { env: { MESH_CONFIG: other }, defaultFile: dflt }, want: other, level: 'warn' },
    { desc: 'MESH_CONFIG empty: no file at all', o: { env: { MESH_CONFIG: '' }, defaultFile: dflt }, want: undefined, level: 'info' },
  ]
  for (const c of cases) {
    t.equal(configFilePath(c.o), c.want, c.desc)
    t.equal(loadConfig({ ...c.o, flags: { gossip: { name: 'n1', bindAddr: '127.0.0.5' } } }).logLevel, c.level, `${c.desc}: log level`)
  }
})

t.test('secrets by file: tokenFile and encryptFile, relative to the config file', async (t) => {
  mkdirSync(join(d, 'secrets'))
  write('secrets/token', `${TOKEN}\n`)
  write('secrets/gossip.key', `${KEY1}\n${KEY2}\n`)
  const warnings: string[] = []
  const file = write('with-files.yaml', `${BASE}  encryptFile: secrets/gossip.key\ncluster:\n  tokenFile: ${join(d, 'secrets/token')}\n`, 0o644)
  const c = loadConfig({ file, env: {}, warn: (w) => warnings.push(w) })
  t.equal(c.cluster.token, TOKEN)
  t.same(c.gossip.encryptKeys, [KEY1, KEY2], 'one key per line, first is primary')
  t.same(warnings, [], 'secrets by file: a readable config file is fine')
})

t.test('an inline secret in a file others can read: one warning line', async (t) => {
  const cases = [
    { desc: 'token, 0644', text: `${BASE}cluster:\n  token: ${TOKEN}\n`, mode: 0o644,
      want: ['permissions 0644 are too open for the inline secret cluster.token (readable by group or others): chmod 600 FILE, or use cluster.tokenFile'] },
    { desc: 'both, 0640', text: `${BASE}  encryptKeys: [${KEY1}]\ncluster:\n  token: ${TOKEN}\n`, mode: 0o640,
      want: ['permissions 0640 are too open for the inline secret cluster.token and gossip.encryptKeys (readable by group or others): chmod 600 FILE, or use cluster.tokenFile / gossip.encryptFile'] },
    { desc: 'token, 0600', text: `${BASE}cluster:\n  token: ${TOKEN}\n`, mode: 0o600, want: [] },
    { desc: 'no secret, 0644', text: BASE, mode: 0o644, want: [] },
  ]
  for (const [i, c] of cases.entries()) {
    const file = write(`inline-${i}.yaml`, c.text, c.mode)
    const warnings: string[] = []
    loadConfig({ file, env: {}, warn: (w) => warnings.push(w) })
    t.same(warnings, c.want.map((w) => `config file ${file}: ${w.replace('FILE', file)}`), c.desc)
  }
})

t.test('bad files are one line naming the key and the file', async (t) => {
  const cases = [
    { desc: 'unknown top-level key', text: `${BASE}datadir: /x\n`, want: 'unknown key "datadir" (docs/configuration.md lists the keys)' },
    { desc: 'unknown nested key', text: `${BASE}cluster:\n  tokenfile: /x\n`, want: 'unknown key "cluster.tokenfile" (docs/configuration.md lists the keys)' },
    { desc: 'file key in the wrong section', text: `${BASE}  tokenFile: /x\n`, want: 'unknown key "gossip.tokenFile" (docs/configuration.md lists the keys)' },
    { desc: 'inline and file', text: `${BASE}cluster:\n  token: ${TOKEN}\n  tokenFile: /x\n`, want: 'give cluster.token or cluster.tokenFile, not both' },
    { desc: 'missing secret file', text: `${BASE}cluster:\n  tokenFile: nope\n`, want: `cluster.tokenFile ${join(d, 'nope')}: cannot read it (ENOENT)` },
    { desc: 'secret file not a path', text: `${BASE}cluster:\n  tokenFile: 5\n`, want: '"cluster.tokenFile" must be a file path' },
    { desc: 'section not a mapping', text: 'cluster: 5\n', want: '"cluster" must be a mapping' },
  ]
  for (const [i, c] of cases.entries()) {
    const file = write(`bad-${i}.yaml`, c.text)
    let err: unknown = null
    try { loadConfig({ file, env: {} }) } catch (e) { err = e }
    t.ok(err instanceof ConfigError, `${c.desc}: a ConfigError`)
    t.equal((err as Error | null)?.message, `config file ${file}: ${c.want}`, c.desc)
  }
})
