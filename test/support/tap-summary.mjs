// Counts leaf test points in a TAP stream (a test point that closes a subtest is not a leaf) and prints
// "N passed, N failed". Exit 1 if anything failed or nothing ran.
import { readFileSync } from 'node:fs'

const lines = readFileSync(process.argv[2], 'utf8').split('\n')
let passed = 0
let failed = 0
let skipped = 0
let prev = ''
const indent = (s) => s.length - s.trimStart().length
for (const line of lines) {
  const m = /^(\s*)(not ok|ok)\b\s*\d*(.*)$/.exec(line)
  if (m) {
    const closesSubtest = /^\s*1\.\.\d+/.test(prev) && indent(prev) > m[1].length
    if (!closesSubtest) {
      if (/#\s*(SKIP|TODO)/i.test(m[3])) skipped++
      else if (m[2] === 'ok') passed++
      else failed++
    } else if (m[2] === 'not ok' && /#\s*(SKIP|TODO)/i.test(m[3]) === false) {
      // A subtest that failed without a failing child (timeout, crash, plan mismatch) still counts once.
      const bail = /timeout|exit|signal|plan/i.test(m[3])
      if (bail) failed++
    }
  }
  if (line.trim() !== '' && !line.trim().startsWith('#')) prev = line
}
const total = passed + failed
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
process.exit(failed > 0 || total === 0 ? 1 : 0)
