#!/usr/bin/env node
// The `mesh` command: runs the compiled CLI in dist/ (`npm run build` makes it; the npm package ships it).
import { existsSync, readdirSync, statSync } from 'node:fs'
import { enableCompileCache } from 'node:module'

const root = new URL('..', import.meta.url)
const main = new URL('dist/mesh/main.js', root)
const stale = checkoutStale()
if (stale) {
  process.stderr.write(`mesh: ${stale}: run \`npm run build\` in ${root.pathname}\n`)
  process.exit(1)
}
// V8's compiled code for dist/ kept next to it: a third of the start time. Only where the running user may write
// (root, or the developer's checkout); never in a shared directory such as /tmp that another user could fill.
enableCompileCache(new URL('dist/.compile-cache', root).pathname)
// `mesh status | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err })
}
const args = process.argv.slice(2)
if (args[0] === 'agent') await relaunchAgent()
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  // What the CLI's own --version prints (the same constant), without loading every command: scripts and
  // installers call it to check an install.
  const { MESH_VERSION } = await import(new URL('dist/src/api/version.js', root).href)
  process.stdout.write(`${MESH_VERSION}\n`)
} else {
  const { main: run } = await import(main.href)
  process.exitCode = await run(args)
}

/**
 * `mesh agent`: the agent's Node flags and environment (dist/mesh/agent-launch.js: why, and MESH_AGENT_NODE_OPTIONS)
 * by replacing this process with one started with them (same PID). Loaded for the agent only: other commands start
 * as before. Where process.execve is missing (not Linux/macOS), the agent runs here without them.
 */
async function relaunchAgent() {
  const { agentRelaunch, RELAUNCHED_ENV } = await import(new URL('dist/mesh/agent-launch.js', root).href)
  let next
  try {
    next = agentRelaunch({ args, execPath: process.execPath, execArgv: process.execArgv, script: process.argv[1], env: process.env })
  } catch (err) {
    process.stderr.write(`mesh: ${err.message}\n`)
    process.exit(1)
  }
  delete process.env[RELAUNCHED_ENV]
  if (next !== null && typeof process.execve === 'function') process.execve(process.execPath, next.argv, next.env)
}

/**
 * In a git checkout, why dist/ cannot run (missing, or older than a source file: a developer would run yesterday's
 * code without knowing), or '' when it is current. The installed package has no .git and is never checked (~2 ms).
 */
function checkoutStale() {
  if (!existsSync(new URL('.git', root))) return existsSync(main) ? '' : 'dist/ is missing'
  const stamp = new URL('dist/.build-stamp', root)
  if (!existsSync(main) || !existsSync(stamp)) return 'dist/ is missing'
  const built = statSync(stamp).mtimeMs
  for (const dir of ['src', 'agent', 'mesh']) {
    for (const e of readdirSync(new URL(dir, root), { recursive: true, withFileTypes: true })) {
      if (e.isFile() && statSync(`${e.parentPath}/${e.name}`).mtimeMs > built) {
        return `dist/ is older than ${dir}${e.parentPath.slice(new URL(dir, root).pathname.length)}/${e.name}`
      }
    }
  }
  return ''
}
