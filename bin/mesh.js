#!/usr/bin/env node
// The `mesh` command: loads the TypeScript sources through tsx (no build step), then runs the CLI.
import { register } from 'tsx/esm/api'

register()
// `mesh status | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err })
}
const { main } = await import('../mesh/main.ts')
process.exitCode = await main(process.argv.slice(2))
