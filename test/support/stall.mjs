// A loaded machine in one process, for finding timing-fragile tests: every STALL_EVERY_MS (default 100) the event
// loop is blocked for a random 0..STALL_MS ms (default 300), as when the process is descheduled on a busy CI host.
// Timers and I/O then become ready together, and timers run first: a test that fails only under this waits on a
// timer racing its own I/O, or asserts milliseconds. Load it into every node process of a run:
//   NODE_OPTIONS=--import=./test/support/stall.mjs STALL_MS=400 npx tap test/unit/ingress/tcp.test.ts
const max = Number(process.env.STALL_MS ?? 300)
const every = Number(process.env.STALL_EVERY_MS ?? 100)
const timer = setInterval(() => {
  const end = Date.now() + Math.random() * max
  while (Date.now() < end) { /* stalled */ }
}, every)
timer.unref()
