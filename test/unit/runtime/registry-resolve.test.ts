/**
 * The registry client against a real registry: Debian's `docker-registry` (docker/distribution 2.8, installed by
 * test/setup.sh) on 127.0.0.1:<free port> with filesystem storage in a temp dir. Images are pushed with the
 * Registry HTTP API v2 (blob uploads + manifest PUT) — no Docker engine. Asserted: a tag resolves to the digest of
 * the manifest pushed under it; a re-push under the same tag resolves to the new digest; a registry with htpasswd
 * auth answers with the right credentials and refuses wrong or missing ones as an error, not a crash.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { resolveImageDigest } from '../../../src/runtime/index.ts'

const REGISTRY = '/usr/bin/docker-registry'
/** bcrypt of "secret" (glibc crypt: `crypt('secret', '$2b$05$abcdefghijklmnopqrstuu')`): a test-only credential. */
const HTPASSWD = 'alice:$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a\n'

if (!existsSync(REGISTRY)) {
  t.fail(`${REGISTRY} is missing: apt-get install docker-registry (test/setup.sh)`)
  process.exit(1)
}

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

interface Registry {
  host: string
  proc: ChildProcess
}

/** Start a registry (htpasswd auth when `auth`), wait until /v2/ answers; killed by PID in teardown. */
async function startRegistry(tt: Test, auth: boolean): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-registry-'))
  const port = await freePort()
  const authYaml = auth ? `auth:\n  htpasswd:\n    realm: mesh-test\n    path: ${join(dir, 'htpasswd')}\n` : ''
  if (auth) writeFileSync(join(dir, 'htpasswd'), HTPASSWD)
  writeFileSync(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n`
    + `http:\n  addr: 127.0.0.1:${port}\n${authYaml}`)
  const proc = spawn(REGISTRY, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  tt.teardown(() => {
    if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  const host = `127.0.0.1:${port}`
  // Bounded generously (60 s): the registry starts in well under a second, slower on a loaded CI machine.
  for (const end = Date.now() + 60_000; Date.now() < end;) {
    try {
      const r = await fetch(`http://${host}/v2/`)
      if (r.status === 200 || r.status === 401) return { host, proc }
    } catch { /* not listening yet */ }
    if (proc.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`docker-registry did not start: ${stderr}`)
}

/** Push a one-layer image under `name:tag` with the v2 API; returns the manifest digest the registry records. */
async function push(host: string, name: string, tag: string, content: string, authorization?: string): Promise<string> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {}
  const base = `http://${host}`
  const upload = async (blob: Buffer): Promise<string> => {
    const digest = sha(blob)
    const start = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST', headers })
    if (start.status !== 202) throw new Error(`upload start: HTTP ${start.status}`)
    const loc = new URL(start.headers.get('location') as string, base)
    loc.searchParams.set('digest', digest)
    const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(blob) })
    if (put.status !== 201) throw new Error(`upload: HTTP ${put.status} ${await put.text()}`)
    return digest
  }
  const layer = gzipSync(Buffer.from(content))
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(content)] }, config: {} }))
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: await upload(config) },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: await upload(layer) }],
  }))
  const put = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
    method: 'PUT', headers: { ...headers, 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' }, body: new Uint8Array(manifest),
  })
  if (put.status !== 201) throw new Error(`manifest: HTTP ${put.status} ${await put.text()}`)
  const recorded = put.headers.get('docker-content-digest')
  if (recorded !== sha(manifest)) throw new Error(`the registry recorded ${recorded}, not the manifest bytes' digest`)
  return recorded
}

const insecure = () => true

t.test('a tag resolves to its manifest digest; a re-push under the same tag resolves to the new one', async (t) => {
  const reg = await startRegistry(t, false)
  const first = await push(reg.host, 'team/app', 'latest', 'v1')
  t.same(await resolveImageDigest(`${reg.host}/team/app:latest`, undefined, { insecure }), { digest: first })
  t.same(await resolveImageDigest(`${reg.host}/team/app`, undefined, { insecure }), { digest: first }, 'no tag is :latest')
  const second = await push(reg.host, 'team/app', 'latest', 'v2')
  t.not(second, first)
  t.same(await resolveImageDigest(`${reg.host}/team/app:latest`, undefined, { insecure }), { digest: second })
  const missing = await resolveImageDigest(`${reg.host}/team/app:nosuch`, undefined, { insecure })
  t.same(missing, { error: `${reg.host}/team/app:nosuch: no such manifest on ${reg.host}` })
  const https = await resolveImageDigest(`${reg.host}/team/app:latest`, undefined, { timeoutMs: 3000 })
  t.ok('error' in https, 'a registry not listed as insecure is asked over https only (this one speaks http)')
})

t.test('htpasswd registry: the right credentials resolve; wrong or none are an error', async (t) => {
  const reg = await startRegistry(t, true)
  const digest = await push(reg.host, 'app', 'v1', 'secret app', `Basic ${Buffer.from('alice:secret').toString('base64')}`)
  const auth = (password: string, serveraddress = reg.host) => ({ username: 'alice', password, serveraddress })
  t.same(await resolveImageDigest(`${reg.host}/app:v1`, auth('secret'), { insecure }), { digest })
  t.same(await resolveImageDigest(`${reg.host}/app:v1`, auth('wrong'), { insecure }), { error: `${reg.host}/app:v1: the registry refused the credentials (HTTP 401)` })
  t.same(await resolveImageDigest(`${reg.host}/app:v1`, undefined, { insecure }), { error: `${reg.host}/app:v1: the registry refused access without credentials (HTTP 401)` })
  t.same(await resolveImageDigest(`${reg.host}/app:v1`, auth('secret', 'other:5000'), { insecure }),
    { error: `${reg.host}/app:v1: the registry refused access without credentials (HTTP 401)` }, 'credentials for another registry are not sent')
})

t.test('nothing listening, a bad reference: errors, never a rejection', async (t) => {
  const port = await freePort()
  const r = await resolveImageDigest(`127.0.0.1:${port}/app:1`, undefined, { insecure, timeoutMs: 2000 })
  t.same(r, { error: `127.0.0.1:${port}/app:1: fetch failed (ECONNREFUSED)` })
  t.same(await resolveImageDigest('UPPER/app', undefined), { error: 'invalid reference format: "UPPER/app"' })
})
