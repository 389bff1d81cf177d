/**
 * CLI start time: `mesh --version` and `mesh service ls`, before (the TypeScript sources compiled at run time by
 * tsx: bin/mesh.js as of commit 43fe3a8) and after (`npm run build`'s dist/, through today's bin/mesh.js), with
 * `node -e 0` as the floor, in repeated runs by hyperfine (Debian package; `-N`, no shell).
 *
 *   npx tsx bench/cli-start.ts [--runs 20] [--warmup 3] [--before 43fe3a8]
 *
 * `mesh service ls` talks to a real manager: the manager API (Manager, its SQLite store in a temporary data dir, the
 * unix socket `manager.sock`) served by a child process with three services, killed by PID at the end. Not a whole
 * `mesh agent --init --overlay off`: that stops at start ("running tasks needs the overlay network") on a host
 * without dockerd. The "before" bin is written into tmp/ of this checkout (so `tsx` and ../mesh/main.ts resolve)
 * and removed at the end. Prints the load average before and after, and a table in docs/benchmarks.md's shape.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? String(process.argv[i + 1]) : def
}
const runs = Number(arg('runs', '20'))
const warmup = Number(arg('warmup', '3'))
const before = arg('before', '43fe3a8')
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')

/** The manager API on `<dir>/manager.sock`, with three services; prints "ready" once it listens. */
const MANAGER = `
const [dist, dir] = process.argv.slice(1)
const { Manager, createApp, listen, openSqliteStore } = await import(dist + '/src/manager/index.js')
const { defaultServiceSpec } = await import(dist + '/src/api/index.js')
const manager = new Manager({ store: openSqliteStore(dir + '/manager.db') })
for (const name of ['web', 'api', 'db']) {
  await manager.createService({ ...defaultServiceSpec(name, 'nginx:1'), mode: { replicated: { replicas: 0 } } })
}
await listen(createApp({ manager, local: true }, defaultServiceSpec), { socketPath: dir + '/manager.sock' })
process.stdout.write('ready\\n')
`

interface HyperfineResult { command: string; mean: number; stddev: number; median: number; min: number; user: number; system: number }

const build = execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { encoding: 'utf8' })
process.stdout.write(build)
const hadTmp = existsSync(join(ROOT, 'tmp'))
const tmp = join(ROOT, 'tmp', `cli-start-${process.pid}`)
const dataDir = mkdtempSync(join(tmpdir(), 'mesh-cli-start-'))
mkdirSync(tmp, { recursive: true })
const oldBin = join(tmp, 'mesh-tsx.js')
writeFileSync(oldBin, execFileSync('git', ['-C', ROOT, 'show', `${before}:bin/mesh.js`], { encoding: 'utf8' })
  .replace(`'../mesh/main.ts'`, `'${pathToFileURL(join(ROOT, 'mesh/main.ts')).href}'`))
const manager = spawn(process.execPath, ['--input-type=module', '-e', MANAGER, join(ROOT, 'dist'), dataDir],
  { stdio: ['ignore', 'pipe', 'inherit'] })
try {
  await new Promise<void>((resolve, reject) => {
    manager.stdout.on('data', (b: Buffer) => { if (b.toString().includes('ready')) resolve() })
    manager.on('exit', (code) => reject(new Error(`the manager exited (${code})`)))
    setTimeout(() => reject(new Error('the manager did not start in 60 s')), 60_000).unref()
  })
  const node = process.execPath
  const cmds: Array<[string, string]> = [
    ['node -e 0 (floor)', `${node} -e 0`],
    ['mesh --version, before (tsx)', `${node} ${oldBin} --version`],
    ['mesh --version, after (dist)', `${node} ${join(ROOT, 'bin/mesh.js')} --version`],
    ['mesh service ls, before (tsx)', `${node} ${oldBin} service ls`],
    ['mesh service ls, after (dist)', `${node} ${join(ROOT, 'bin/mesh.js')} service ls`],
  ]
  for (const [, cmd] of cmds.slice(1)) {
    const [file, ...args] = cmd.split(' ')
    const out = execFileSync(file!, args, { env: { ...process.env, MESH_DATA_DIR: dataDir }, encoding: 'utf8' })
    if (!/0\.1\.0|web/.test(out)) throw new Error(`${cmd}: unexpected output ${out}`)
  }
  const startLoad = load()
  const json = join(tmp, 'hyperfine.json')
  execFileSync('hyperfine', ['-N', '--style', 'basic', '--warmup', String(warmup), '--runs', String(runs),
    '--export-json', json, ...cmds.flatMap(([name, cmd]) => ['-n', name, cmd])],
  { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, MESH_DATA_DIR: dataDir } })
  const results = (JSON.parse(readFileSync(json, 'utf8')) as { results: HyperfineResult[] }).results
  const ms = (s: number): string => (s * 1000).toFixed(0)
  console.log(`\n${new Date().toISOString()} node ${process.version}, ${runs} runs (+${warmup} warm-up) each; ` +
    `load average ${startLoad} at the start, ${load()} at the end`)
  console.log('| command | mean ± σ (ms) | median | min | user | sys |\n|---|---|---|---|---|---|')
  for (const r of results) {
    console.log(`| ${r.command} | ${ms(r.mean)} ± ${ms(r.stddev)} | ${ms(r.median)} | ${ms(r.min)} | ${ms(r.user)} | ${ms(r.system)} |`)
  }
} finally {
  if (manager.pid !== undefined && manager.exitCode === null) process.kill(manager.pid, 'SIGKILL')
  rmSync(hadTmp ? tmp : join(ROOT, 'tmp'), { recursive: true, force: true })
  rmSync(dataDir, { recursive: true, force: true })
}
