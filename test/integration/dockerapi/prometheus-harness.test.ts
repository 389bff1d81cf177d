/**
 * test/support/prometheus.ts against a static_configs target: Debian's Prometheus starts in its own dir, is ready,
 * scrapes a loopback /metrics (health up), lists a relabel-dropped target under dropped, and stop() leaves no
 * process and no dir behind. The Docker API test (prometheus.test.ts) relies on exactly these pieces.
 */
import t from 'tap'
import http from 'node:http'
import { existsSync } from 'node:fs'
import { havePrometheus, jobTargets, startPrometheus } from '../../support/prometheus.ts'
import { waitFor } from '../../support/procs.ts'

if (!havePrometheus()) {
  t.plan(0, 'no /usr/bin/prometheus (test/setup.sh installs it)')
  process.exit(0)
}

let scrapes = 0
const app = http.createServer((req, res) => {
  if (req.url === '/metrics') scrapes++
  res.setHeader('content-type', 'text/plain; version=0.0.4')
  res.end('# TYPE harness_up gauge\nharness_up 1\n')
})
await new Promise<void>((r) => app.listen(0, '127.0.0.1', r))
t.teardown(() => { app.closeAllConnections(); app.close() })
const target = `127.0.0.1:${(app.address() as { port: number }).port}`

const prom = await startPrometheus({
  config: {
    global: { scrape_interval: '1s', evaluation_interval: '1m' },
    scrape_configs: [
      { job_name: 'static', static_configs: [{ targets: [target], labels: { team: 'mesh' } }] },
      {
        job_name: 'dropped',
        static_configs: [{ targets: ['127.0.0.1:1'] }],
        relabel_configs: [{ source_labels: ['__address__'], regex: '127\\.0\\.0\\.1:1', action: 'drop' }],
      },
    ],
  },
})
t.teardown(() => prom.stop())

t.test('ready, scraping the static target, the dropped one listed as dropped', async (t) => {
  const up = await waitFor(async () => {
    const got = jobTargets(await prom.targets(), 'static')
    return got.length === 1 && got[0]?.health === 'up' ? got[0] : null
  }, 20_000, { intervalMs: 500, what: 'static target up' })
  t.match(up.labels, { instance: target, job: 'static', team: 'mesh' })
  t.equal(up.discoveredLabels.__address__, target)
  t.ok(scrapes > 0, `scraped ${scrapes} times`)
  const all = await prom.targets()
  t.same(jobTargets(all, 'dropped'), [], 'the dropped job has no active target')
  t.ok(all.dropped.some((d) => d.discoveredLabels.__address__ === '127.0.0.1:1'), 'and lists it as dropped')
})

t.test('stop: the process is reaped and its dir removed', async (t) => {
  t.ok(existsSync(prom.dir))
  await prom.stop()
  t.notOk(prom.proc.running(), 'reaped')
  t.notOk(existsSync(prom.dir), 'dir removed')
  await prom.stop()
  t.pass('a second stop is a no-op')
})

t.test('a bad config: start rejects with its log, and cleans up', async (t) => {
  await t.rejects(startPrometheus({ config: { scrape_configs: [{ job_name: 'x', dockerswarm_sd_configs: [{ role: 'tasks' }] }] }, readyTimeoutMs: 15_000 }),
    /prometheus exited:.*host missing/s)
})
