#!/usr/bin/env node
// `npm run build`: compiles src/, agent/ and mesh/ to dist/ (tsconfig.build.json: .ts import specifiers become .js),
// copies the files the code loads at run time (every non-.ts file in those folders: the dashboard in
// src/manager/ui/, the compose schema) and deletes from dist/ what no longer has a source, so dist/ never runs
// stale code. It first builds the native addons (scripts/build-native.sh: dist/native/udpmmsg.node and nftables.node with gcc, a no-op
// when up to date, a one-line notice when there is no compiler). When no source, asset or build setting is newer than the last build it does nothing (~50 ms): test/run.sh
// and demo.sh call it every time. `--force` rebuilds anyway.
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = join(root, 'dist')
const STAMP = join(DIST, '.build-stamp')
const SOURCE_DIRS = ['src', 'agent', 'mesh']
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/build.mjs']

/** Every file under the source folders, relative to the repository root. */
function sources() {
  return SOURCE_DIRS.flatMap((d) => readdirSync(join(root, d), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name))))
}

/** What dist/ holds for a source file: the .js, or the asset copied as is. */
function outputsOf(file) {
  return [file.replace(/\.ts$/, '.js')]
}

execFileSync('bash', [join(root, 'scripts/build-native.sh'), ...(process.argv.includes('--force') ? ['--force'] : [])], { stdio: 'inherit' })

const files = sources()
const newest = Math.max(...[...files, ...SETTINGS].map((f) => statSync(join(root, f)).mtimeMs))
const upToDate = existsSync(STAMP) && statSync(STAMP).mtimeMs >= newest &&
  files.every((f) => existsSync(join(DIST, outputsOf(f)[0])))
if (upToDate && !process.argv.includes('--force')) {
  console.log('build: dist/ is up to date')
  process.exit(0)
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
} catch {
  console.error('build: tsc failed (see above)')
  process.exit(1)
}
const assets = files.filter((f) => !f.endsWith('.ts'))
for (const f of assets) {
  mkdirSync(dirname(join(DIST, f)), { recursive: true })
  copyFileSync(join(root, f), join(DIST, f))
}
const wanted = new Set(files.flatMap(outputsOf))
let pruned = 0
for (const d of SOURCE_DIRS) {
  if (!existsSync(join(DIST, d))) continue
  for (const e of readdirSync(join(DIST, d), { recursive: true, withFileTypes: true })) {
    const rel = relative(DIST, join(e.parentPath, e.name))
    if (e.isFile() && !wanted.has(rel)) { rmSync(join(DIST, rel)); pruned++ }
  }
}
writeFileSync(STAMP, `${new Date().toISOString()}\n`)
console.log(`build: dist/ from ${files.length - assets.length} modules and ${assets.length} assets` +
  (pruned ? `, ${pruned} stale files removed` : ''))
