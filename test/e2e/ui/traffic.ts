/**
 * Issue 20, traffic: the dashboard's live traffic in headless Chromium (inside the lab's labnet, as the dashboard
 * test runs it). A bounded request loop (15 s) through `hello`'s published port on the manager node, from the
 * lab's outside client: the service's rate (the sparkline's data-rate) rises above zero, the traffic view shows
 * both nodes, the service and the ingress edge; after the loop the rate returns to zero (bounded wait). Screenshot:
 * test/artifacts/ui-traffic.png.
 */
import type { Test } from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { labBrowser } from './browser.ts'
import { REPO_ROOT } from '../../support/procs.ts'
import type { UiLab } from './context.ts'

/** How long the request loop runs, s. */
const LOOP_S = 15

export async function run(t: Test, ctx: UiLab): Promise<void> {
  const { lab, mgr } = ctx
  const browser: Browser = await labBrowser(t, lab)
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, ignoreHTTPSErrors: true })
  const problems: string[] = []
  page.on('pageerror', (e) => problems.push(String(e)))
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused/i.test(m.text())) problems.push(m.text()) })

  const { code, url } = await ctx.loginCode()
  await page.goto(url)
  await page.fill('input[name=code]', code)
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')])
  const spark = 'svg.spark[data-service="hello"]'
  await page.waitForSelector(spark, { timeout: 30_000 })
  const rate = async (): Promise<number> => Number(await page.getAttribute(spark, 'data-rate'))
  t.equal((await page.$$eval(`${spark} polyline`, (els) => els.map((e) => e.getAttribute('points')?.split(' ').length)))[0], 120,
    'the sparkline holds the whole 10-minute window on load')

  // The request loop: bounded by `timeout`, from outside every node, through node1's published port.
  const started = Date.now()
  const loop = lab.client.exec(['timeout', String(LOOP_S), 'sh', '-c',
    `while :; do curl -s -o /dev/null --max-time 2 http://${mgr.ip}:8080/i.html; sleep 0.05; done`], { timeoutMs: (LOOP_S + 10) * 1000 })
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-rate')) > 0, spark, { timeout: (LOOP_S + 5) * 1000 })
  const busy = await rate()
  t.ok(busy > 0, `hello's rate rises above zero during the loop: ${busy} conn/s after ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const row = await page.textContent('tr[data-traffic-service="hello"]')
  t.match(row, /B\/s/, `the row shows bytes: ${row?.replace(/\s+/g, ' ')}`)

  // The traffic view: both nodes, the service, the ingress edge from node1 (where the requests arrive).
  await page.waitForSelector('#traffic-map .tv-edge[data-from="node1"][data-to="hello"]', { state: 'attached', timeout: 15_000 }) // a level edge has no height: 'visible' never holds
  const nodes = await page.$$eval('#traffic-map .tv-node', (els) => els.map((e) => e.getAttribute('data-node')).sort())
  t.same(nodes, ['node1', 'node2'], 'the traffic view draws both nodes')
  t.ok(await page.locator('#traffic-map .tv-service[data-service="hello"]').count(), 'and the service')
  t.ok(Number(await page.getAttribute('#traffic-map .tv-edge[data-from="node1"][data-to="hello"]', 'data-bps')) > 0, 'node1 → hello carries bytes')
  t.ok(await page.locator('#tunnels tr[data-link="node1|node2"]').count(), 'the node pair\'s tunnel row')

  const artifacts = join(REPO_ROOT, 'test', 'artifacts')
  mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: join(artifacts, 'ui-traffic.png'), fullPage: true })
  t.pass(`screenshot: ${join(artifacts, 'ui-traffic.png')}`)

  const done = await loop
  t.equal(done.code, 124, 'the loop ran its bounded time (timeout exit)')
  const stopped = Date.now()
  // Back to zero: the next closed 5 s bucket without requests, sent 2.5 s after it closes.
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.getAttribute('data-rate')) === 0, spark, { timeout: 20_000 })
  t.pass(`the rate returns to zero ${((Date.now() - stopped) / 1000).toFixed(1)} s after the loop`)
  const tunnel = await page.getAttribute('#tunnels tr[data-link="node1|node2"]', 'data-handshake-age')
  t.match(tunnel, /^\d+$/, `the tunnel's handshake age is shown (${tunnel} s)`)
  t.same(problems, [], 'no script error, no CSP refusal')
}
