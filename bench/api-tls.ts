/**
 * Manager API benchmark: join time and request latency with mutual TLS 1.3 (this checkout) against the same API
 * before TLS (plain HTTP with bearer tokens, commit 622ea49 by default), in one run, on 127.0.0.1.
 *
 *   npx tsx bench/api-tls.ts [--rounds 3] [--joins 40] [--requests 400] [--before 622ea49]
 *
 * The "before" code is checked out once into a temporary git worktree (removed at the end). Each round runs both
 * versions in turn (order alternating), each in its own child process with an in-memory store:
 *   join      — a node's whole join as its agent does it, on a new connection each: before = POST /v1/agent/join
 *               with the token; TLS = GET /v1/ca, pin its digest, make a P-256 key and CSR, POST the join.
 *   keepalive — GET /v1/nodes as an admin on one kept-alive connection (before: manager token; TLS: admin cert).
 *   connect   — the same GET on a new connection each time (TLS: a full handshake with client certificates).
 * Prints p50/p99 per round, the medians of the rounds, the TLS/before ratios, and the load average.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, symlinkSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? String(process.argv[i + 1]) : def
}

interface Result { join: number[]; keepalive: number[]; connect: number[] }

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

function request(mod: typeof http | typeof https, o: https.RequestOptions, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const req = mod.request({ ...o, headers: { ...o.headers, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }))
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** One version's measurements, in this (child) process. */
async function child(root: string, joins: number, requests: number): Promise<Result> {
  const mgr = await import(join(root, 'src/manager/index.ts')) as Record<string, any>
  const spec = await import(join(root, 'src/api/spec.ts')) as Record<string, any>
  const store = mgr.openSqliteStore(':memory:')
  const m = new mgr.Manager({ store })
  await m.init()
  const app = mgr.createApp({ manager: m, local: false }, spec.defaultServiceSpec)
  const res = { nanoCpus: 1e9, memoryBytes: 2 ** 30 }
  const out: Result = { join: [], keepalive: [], connect: [] }
  const tls = m.ca !== undefined
  let server: http.Server
  let admin: https.RequestOptions
  if (tls) {
    const pki = await import(join(root, 'src/pki/index.ts')) as Record<string, any>
    const k = await pki.createNodeKeyAndCsr()
    const clusterId = m.clusterInfo().clusterId
    const cert = await m.ca.issue(k.csrPem, { nodeId: 'api-bench', role: 'manager', clusterId, ipSans: ['127.0.0.1'] })
    server = await mgr.listen(app, { host: '127.0.0.1', port: 0, tls: { key: k.keyPem, cert, ca: m.ca.trust().roots } })
    const a = await pki.createNodeKeyAndCsr()
    const ac = await m.ca.issue(a.csrPem, { nodeId: 'bench-admin', role: 'admin', clusterId })
    const info = pki.certificateInfo(ac)
    await m.ca.recordAdminClient({ name: 'bench-admin', serial: info.serial, notAfter: info.notAfter })
    admin = { ca: m.ca.trust().roots, cert: ac, key: a.keyPem }
    const port = (server.address() as { port: number }).port
    const token = m.tokens().worker
    const digest = token.split('-')[2]
    for (let i = 0; i < joins; i++) {
      out.join.push(await timed(async () => {
        const ca = JSON.parse((await request(https, { host: '127.0.0.1', port, path: '/v1/ca', rejectUnauthorized: false, agent: false })).text) as { certificate: string }
        const pinned = await pki.fetchAndPinCa(ca.certificate, digest)
        const key = await pki.createNodeKeyAndCsr()
        const r = await request(https, { host: '127.0.0.1', port, path: '/v1/agent/join', method: 'POST', ca: [pinned], agent: false,
          headers: { authorization: `Bearer ${token}` } }, { hostname: `n${i}`, addr: '10.0.0.9', resources: res, csr: key.csrPem })
        if (r.status !== 200) throw new Error(`join ${r.status} ${r.text}`)
      }))
    }
  } else {
    server = await mgr.listen(app, { host: '127.0.0.1', port: 0 })
    admin = { headers: { authorization: `Bearer ${m.tokens().manager}` } }
    const port = (server.address() as { port: number }).port
    for (let i = 0; i < joins; i++) {
      out.join.push(await timed(async () => {
        const r = await request(http, { host: '127.0.0.1', port, path: '/v1/agent/join', method: 'POST', agent: false,
          headers: { authorization: `Bearer ${m.tokens().worker}` } }, { hostname: `n${i}`, addr: '10.0.0.9', resources: res })
        if (r.status !== 200) throw new Error(`join ${r.status} ${r.text}`)
      }))
    }
  }
  const port = (server.address() as { port: number }).port
  const mod = tls ? https : http
  const keep = new mod.Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; i < requests; i++) {
    out.keepalive.push(await timed(async () => {
      const r = await request(mod, { ...admin, host: '127.0.0.1', port, path: '/v1/nodes', agent: keep })
      if (r.status !== 200) throw new Error(`GET ${r.status} ${r.text}`)
    }))
  }
  keep.destroy()
  for (let i = 0; i < requests / 4; i++) {
    out.connect.push(await timed(async () => {
      const r = await request(mod, { ...admin, host: '127.0.0.1', port, path: '/v1/nodes', agent: false })
      if (r.status !== 200) throw new Error(`GET ${r.status} ${r.text}`)
    }))
  }
  server.closeAllConnections()
  server.close()
  store.close()
  return out
}

function runChild(root: string, joins: number, requests: number): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn('npx', ['tsx', fileURLToPath(import.meta.url), '--child', root, '--joins', String(joins), '--requests', String(requests)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    p.stdout.on('data', (c: Buffer) => { text += c.toString() })
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(text.trim().split('\n').pop() as string) as Result) : reject(new Error(`child ${root} exited ${code}`))))
  })
}

async function main(): Promise<void> {
  const joins = Number(arg('joins', '40'))
  const requests = Number(arg('requests', '400'))
  if (process.argv.includes('--child')) {
    process.stdout.write(`${JSON.stringify(await child(arg('child', ROOT), joins, requests))}\n`)
    return
  }
  const rounds = Number(arg('rounds', '3'))
  const before = arg('before', '622ea49')
  const dir = join(tmpdir(), `mesh-before-${before}`)
  if (!existsSync(dir)) {
    execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', dir, before], { stdio: 'ignore' })
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  }
  const rows: { version: string; round: number; r: Result }[] = []
  try {
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? [['before', dir], ['tls', ROOT]] : [['tls', ROOT], ['before', dir]]
      for (const [version, root] of order as [string, string][]) {
        const r = await runChild(root, joins, requests)
        rows.push({ version, round, r })
        process.stdout.write(`round ${round} ${version.padEnd(6)} join p50 ${pct(r.join, 50).toFixed(2)} p99 ${pct(r.join, 99).toFixed(2)} ms | ` +
          `keepalive p50 ${pct(r.keepalive, 50).toFixed(3)} p99 ${pct(r.keepalive, 99).toFixed(3)} ms | connect p50 ${pct(r.connect, 50).toFixed(2)} p99 ${pct(r.connect, 99).toFixed(2)} ms\n`)
      }
    }
  } finally {
    execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', dir], { stdio: 'ignore' })
  }
  const med = (v: string, k: keyof Result, p: number) => pct(rows.filter((x) => x.version === v).map((x) => pct(x.r[k], p)), 50)
  const summary: Record<string, unknown> = { loadavg: loadavg().map((x) => Number(x.toFixed(2))), rounds, joins, requests }
  for (const k of ['join', 'keepalive', 'connect'] as const) {
    summary[k] = { beforeP50: med('before', k, 50), tlsP50: med('tls', k, 50), ratioP50: med('tls', k, 50) / med('before', k, 50),
      beforeP99: med('before', k, 99), tlsP99: med('tls', k, 99) }
  }
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
}

await main()
