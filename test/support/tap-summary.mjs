// Counts leaf test points in a TAP stream (a test point that closes a subtest is not a leaf) and prints
// "N passed, N failed". Exit 1 if anything failed or nothing ran. Before that line it lists each failure with its
// file and subtests and the first lines of its diagnostic, so the end of a long CI log says what failed.
import { readFileSync } from 'node:fs'

const lines = readFileSync(process.argv[2], 'utf8').split('\n')
let passed = 0
let failed = 0
let skipped = 0
let prev = ''
const indent = (s) => s.length - s.trimStart().length
const names = [] // names[depth]: the open subtest at that depth (4 spaces of indent per level)
const failures = []
const record = (i, m) => {
  const depth = Math.floor(m[1].length / 4)
  const where = [...names.slice(0, depth), m[3].replace(/^\s*-\s*/, '').trim()].join(' > ')
  const diag = []
  for (let j = i + 1; j < lines.length && diag.length < 12; j++) {
    const l = lines[j]
    if (j === i + 1 && l.trim() !== '---') break
    if (l.trim() === '...') break
    if (l.trim() !== '---' && !/^\s*(stack|at|fileName|lineNumber|columnNumber|typeName|isToplevel|source|stdio|cwd|command|args):/.test(l)) diag.push(l.trim())
  }
  failures.push({ where, diag })
}
for (let i = 0; i < lines.length; i++) {
  const line = lines[i]
  const sub = /^(\s*)# Subtest: (.*)$/.exec(line)
  if (sub) {
    const depth = Math.floor(sub[1].length / 4)
    names.length = depth
    names[depth] = sub[2].trim()
  }
  const m = /^(\s*)(not ok|ok)\b\s*\d*(.*)$/.exec(line)
  if (m) {
    const closesSubtest = /^\s*1\.\.\d+/.test(prev) && indent(prev) > m[1].length
    if (!closesSubtest) {
      if (/#\s*(SKIP|TODO)/i.test(m[3])) skipped++
      else if (m[2] === 'ok') passed++
      else {
        failed++
        record(i, m)
      }
    } else if (m[2] === 'not ok' && /#\s*(SKIP|TODO)/i.test(m[3]) === false) {
      // A subtest that failed without a failing child (timeout, crash, plan mismatch) still counts once.
      const bail = /timeout|exit|signal|plan/i.test(m[3])
      if (bail) {
        failed++
        record(i, m)
      }
    }
  }
  if (line.trim() !== '' && !line.trim().startsWith('#')) prev = line
}
const total = passed + failed
for (const f of failures.slice(0, 20)) {
  process.stdout.write(`# FAILED: ${f.where}\n`)
  for (const d of f.diag) process.stdout.write(`#     ${d.slice(0, 200)}\n`)
}
if (failures.length > 20) process.stdout.write(`# ... and ${failures.length - 20} more failures\n`)
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`)
process.exit(failed > 0 || total === 0 ? 1 : 0)
