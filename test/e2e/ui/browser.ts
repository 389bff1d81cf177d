/**
 * Headless Chromium (playwright-core, Debian's /usr/bin/chromium) inside the lab's underlay namespace: no way out,
 * it reaches the manager's API like any outside client. Closed and its wrapper removed when `t` ends.
 */
import type { Test } from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import type { Lab } from '../../lab/index.ts'

export async function labBrowser(t: Test, lab: Lab): Promise<Browser> {
  const bin = mkdtempSync(join(tmpdir(), 'mesh-ui-'))
  t.teardown(() => rmSync(bin, { recursive: true, force: true }))
  const wrapper = join(bin, 'chromium')
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.labnet} /usr/bin/chromium "$@"\n`)
  chmodSync(wrapper, 0o755)
  const browser = await chromium.launch({ executablePath: wrapper, args: ['--no-sandbox'], timeout: 120_000 })
  t.teardown(() => browser.close())
  return browser
}
