/**
 * What a host installs from packaging/: the systemd unit passes `systemd-analyze verify` without one warning line
 * about it (verify checks that ExecStart is executable, so a copy of the unit runs this checkout's bin/mesh.js
 * with the same arguments), carries the settings install.md promises, and the example config file loads with
 * every key known.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_CONFIG_FILE, loadConfig, nodeFileAccess } from '../../../src/config/index.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const UNIT = readFileSync(join(ROOT, 'packaging/systemd/mesh.service'), 'utf8')
const EXEC = `ExecStart=/usr/local/bin/mesh agent --config ${DEFAULT_CONFIG_FILE}`

const run = (cmd: string, args: string[]): Promise<{ code: number; out: string }> => new Promise((resolve) => {
  execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
    const code = err ? (typeof err.code === 'number' ? err.code : 127) : 0
    resolve({ code, out: `${stdout}${stderr}` })
  })
})

t.test('mesh.service carries the settings a host needs', async (t) => {
  const lines = UNIT.split('\n').filter((l) => l !== '' && !l.startsWith('#'))
  for (const want of [
    EXEC, 'After=network-online.target docker.service', 'Wants=network-online.target docker.service',
    'Restart=on-failure', 'KillMode=process', 'LimitNOFILE=1048576', 'WantedBy=multi-user.target',
  ]) t.ok(lines.includes(want), want)
  t.ok(lines.some((l) => /^Description=\S/.test(l)), 'Description')
  t.ok(lines.some((l) => /^Documentation=\S/.test(l)), 'Documentation')
  t.ok(lines.some((l) => /^TimeoutStopSec=\d+s$/.test(l)), 'TimeoutStopSec')
  for (const bad of ['PrivateNetwork', 'PrivateDevices', 'ProtectKernelTunables', 'RestrictNamespaces', 'ProtectSystem']) {
    t.notOk(lines.some((l) => l.startsWith(`${bad}=`)), `no ${bad} (it would break netns, tun, sysctl or state)`)
  }
})

t.test('systemd-analyze verify: no warning about the unit', async (t) => {
  const probe = await run('systemd-analyze', ['--version'])
  if (probe.code === 127) {
    t.comment('systemd-analyze is not installed (apt-get install systemd): nothing to verify with')
    return
  }
  const d = mkdtempSync(join(tmpdir(), 'mesh-unit-'))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  t.ok(UNIT.includes(`\n${EXEC}\n`), 'the unit runs /usr/local/bin/mesh')
  const unit = join(d, 'mesh.service')
  writeFileSync(unit, UNIT.replace(EXEC, `ExecStart=${join(ROOT, 'bin/mesh.js')} agent --config ${DEFAULT_CONFIG_FILE}`))
  const r = await run('systemd-analyze', ['verify', unit])
  t.equal(r.code, 0, 'verify exits 0')
  t.same(r.out.split('\n').filter((l) => l.includes('mesh.service')), [], 'no line about mesh.service')

  // The check is real: a unit with an unknown key or a missing ExecStart is reported.
  writeFileSync(unit, UNIT.replace('KillMode=process', 'KillMode=process\nKilMode=process'))
  t.match((await run('systemd-analyze', ['verify', unit])).out, /Unknown key 'KilMode'/, 'a typo is a warning line')
  writeFileSync(unit, UNIT.replace(EXEC, `ExecStart=${join(d, 'no-such-mesh')} agent`))
  t.not((await run('systemd-analyze', ['verify', unit])).code, 0, 'a missing ExecStart fails')
})

t.test('packaging/agent.yaml loads: every key known', async (t) => {
  const secrets: Record<string, string> = { '/etc/mesh/join-token': 'MESHTKN-example' }
  const fs = { read: (p: string) => secrets[p] ?? nodeFileAccess.read(p), mode: nodeFileAccess.mode }
  const warnings: string[] = []
  const c = loadConfig({ file: join(ROOT, 'packaging/agent.yaml'), env: {}, fs, warn: (w) => warnings.push(w) })
  t.equal(c.gossip.name, 'node2')
  t.same(c.gossip.join, ['10.0.0.1'])
  t.equal(c.cluster.token, 'MESHTKN-example', 'the token comes from cluster.tokenFile')
  t.same(warnings, [], 'no inline secret')
})
