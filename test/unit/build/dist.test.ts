/**
 * The compiled CLI: `npm run build` makes dist/ with every module and every file the code loads at run time,
 * bin/mesh.js runs it (and refuses a missing or stale dist/ in a checkout), nothing prints a warning, and
 * `npm pack` ships what runs and no test.
 */
import t from 'tap'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { REPO_ROOT, run, runMesh } from '../../support/procs.ts'

const build = await run(process.execPath, ['scripts/build.mjs'], { timeoutMs: 300_000 })
t.equal(build.code, 0, `npm run build: ${build.stdout}${build.stderr}`)

const filesUnder = (dir: string): string[] => readdirSync(join(REPO_ROOT, dir), { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile()).map((e) => relative(REPO_ROOT, join(e.parentPath, e.name)))

t.test('dist/ holds a .js for every module and a copy of every asset (dashboard, compose schema)', async (t) => {
  const missing = ['src', 'agent', 'mesh'].flatMap(filesUnder)
    .map((f) => join('dist', f.replace(/\.ts$/, '.js')))
    .filter((f) => !existsSync(join(REPO_ROOT, f)))
  t.same(missing, [], 'nothing missing')
  for (const f of ['src/manager/ui/index.html', 'src/manager/ui/app.js', 'src/stack/schema/config_schema_v3.13.json']) {
    t.ok(existsSync(join(REPO_ROOT, 'dist', f)), `dist/${f}`)
  }
})

t.test('the DNS worker threads start from dist/ (their entry is dist/src/dns/dns-worker.js)', async (t) => {
  const script = `import { DnsServer } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/dns/index.js'))}
const snap = { revision: 1, nodes: [], services: [] }
const s = new DnsServer({ catalog: { current: () => snap, onChange: () => () => {} }, listen: [{ host: '127.0.0.89', port: 0 }], upstreams: [], workers: 3 })
await s.start()
console.log(s.status().workers.filter((w) => w.running).length)
await s.stop()`
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 60_000 })
  t.same([r.code, r.stdout.trim(), r.stderr], [0, '3', ''], 'three responders, no warning')
})

t.test('bin/mesh.js runs the compiled CLI, with no warning on stderr', async (t) => {
  const v = await runMesh(['--version'])
  t.same([v.code, v.stdout.trim(), v.stderr], [0, '0.1.0', ''], 'mesh --version')
  const full = await run(process.execPath, ['--input-type=module', '-e', `const { main } = await import(
    ${JSON.stringify(join(REPO_ROOT, 'dist/mesh/main.js'))}); process.exitCode = await main(['--version'])`])
  t.equal(full.stdout, '0.1.0\n', 'the CLI\'s own --version')
  t.equal(v.stdout, full.stdout, 'bin/mesh.js answers --version with the same line, without loading the commands')
  t.equal((await runMesh(['-v'])).stdout, full.stdout, '-v too')
  t.match((await runMesh(['version'])).stdout, /^ Version:\s+0\.1\.0$/m, 'and mesh version agrees')
  const c = await runMesh(['stack', 'config', '-c', 'examples/getstartedlab.yml'])
  t.equal(c.code, 0, c.stderr)
  t.equal(c.stderr, '', 'no warning (the compose schema validated through ajv from dist/)')
  t.match(JSON.parse(c.stdout), { services: [{ name: 'stack_redis' }] }, 'the stack as JSON')
  const bad = await runMesh(['stack', 'config', '-c', 'test/fixtures/does-not-exist.yml'])
  t.equal(bad.code, 1, 'a bad file: exit 1')
  t.equal(bad.stderr.trim().split('\n').length, 1, `one line: ${bad.stderr}`)
})

t.test('the store on node:sqlite opens without an ExperimentalWarning', async (t) => {
  const store = join(REPO_ROOT, 'dist/src/manager/sqlite-store.js')
  const r = await run(process.execPath, ['--input-type=module', '-e',
    `const { openSqliteStore } = await import(${JSON.stringify(store)}); openSqliteStore(':memory:').close(); console.log('ok')`])
  t.same([r.code, r.stdout.trim(), r.stderr], [0, 'ok', ''])
})

t.test('bin/mesh.js in a checkout: one line when dist/ is missing or older than a source', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-bin-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const d of ['bin', 'src', 'agent', 'mesh', '.git']) mkdirSync(join(dir, d))
  copyFileSync(join(REPO_ROOT, 'bin/mesh.js'), join(dir, 'bin/mesh.js'))
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}')
  writeFileSync(join(dir, 'src/a.ts'), '')
  const mesh = () => run(process.execPath, [join(dir, 'bin/mesh.js'), 'status'], { cwd: dir })
  let r = await mesh()
  t.same([r.code, r.stdout], [1, ''], 'missing: exit 1')
  t.equal(r.stderr, `mesh: dist/ is missing: run \`npm run build\` in ${dir}/\n`)

  mkdirSync(join(dir, 'dist/mesh'), { recursive: true })
  writeFileSync(join(dir, 'dist/mesh/main.js'), 'export async function main(a) { console.log("ran", a.join(" ")); return 0 }')
  writeFileSync(join(dir, 'dist/.build-stamp'), '')
  const old = new Date(Date.now() - 60_000)
  utimesSync(join(dir, 'dist/.build-stamp'), old, old)
  r = await mesh()
  t.equal(r.code, 1, 'stale: exit 1')
  t.equal(r.stderr, `mesh: dist/ is older than src/a.ts: run \`npm run build\` in ${dir}/\n`)

  utimesSync(join(dir, 'src/a.ts'), old, old)
  r = await mesh()
  t.same([r.code, r.stdout, r.stderr], [0, 'ran status\n', ''], 'current: runs dist/mesh/main.js')

  rmSync(join(dir, '.git'), { recursive: true })
  writeFileSync(join(dir, 'src/a.ts'), '// newer, but an installed package has no sources to compare')
  r = await mesh()
  t.same([r.code, r.stdout], [0, 'ran status\n'], 'no .git (the npm package): no check')
})

t.test('npm pack ships dist/, bin/, docs and the bundled runtime dependencies, no test and no dev tool', async (t) => {
  const r = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { timeoutMs: 120_000 })
  t.equal(r.code, 0, r.stderr)
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }>; bundled: string[] }>
  const paths = pack!.files.map((f) => f.path)
  const own = paths.filter((p) => !p.startsWith('node_modules/'))
  t.same(own.filter((p) => !/^(dist\/(src|agent|mesh)\/|dist\/native\/(udpmmsg|nftables)\.node$|bin\/|docs\/|packaging\/|README\.md$|LICENSE$|package\.json$)/.test(p)),
    [], 'nothing outside what runs')
  t.same(own.filter((p) => /(^|\/)test\/|\.test\.|\.ts$/.test(p)), [], 'no test file, no TypeScript source')
  t.ok(!existsSync(join(REPO_ROOT, 'dist/native/udpmmsg.node')) || paths.includes('dist/native/udpmmsg.node'), 'the DNS UDP addon when built')
  t.ok(!existsSync(join(REPO_ROOT, 'dist/native/nftables.node')) || paths.includes('dist/native/nftables.node'), 'the libnftables addon when built')
  for (const p of ['bin/mesh.js', 'dist/mesh/main.js', 'dist/agent/agent.js', 'dist/src/manager/ui/index.html',
    'dist/src/stack/schema/config_schema_v3.13.json']) t.ok(paths.includes(p), p)
  const pkg = (await import('../../../package.json', { with: { type: 'json' } })).default as {
    dependencies: Record<string, string>; devDependencies: Record<string, string>
  }
  for (const dep of Object.keys(pkg.dependencies)) t.ok(pack!.bundled.includes(dep), `bundles ${dep}`)
  for (const dev of ['tsx', 'tap', 'typescript', 'playwright-core']) {
    t.ok(dev in pkg.devDependencies, `${dev} is a devDependency`)
    t.notOk(pack!.bundled.includes(dev), `${dev} is not shipped`)
  }
})
