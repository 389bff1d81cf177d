/**
 * `mesh ARGV` in-process (mesh/main.ts), for tests that drive the CLI against a real manager API: its exit code and
 * what it wrote (through main's out/err, and anything written to process.stdout directly, such as `-q` lists).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../mesh/main.ts'
import { createApp, listen } from '../../src/manager/http/api.ts'
import type { Manager } from '../../src/manager/manager.ts'
import { defaultServiceSpec } from '../../src/api/spec.ts'

export async function runMesh(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const write = process.stdout.write
  process.stdout.write = ((s: string) => { out += s; return true }) as typeof process.stdout.write
  try {
    const code = await main(argv, { out: (s) => void (out += s), err: (s) => void (err += s) })
    return { code, out, err }
  } finally {
    process.stdout.write = write
  }
}

/**
 * Serve `manager`'s API (local: the root CLI's view) on `<dir>/manager.sock` and point the CLI at it (MESH_DATA_DIR)
 * until the test ends; then the variable is restored, the server closed and the dir removed when this made it.
 * `dir`: a data dir the test already uses (default: a new temp dir). Returns the dir.
 */
export async function serveManagerSocket(
  t: { teardown(fn: () => unknown): void },
  manager: Manager,
  o: { dir?: string; apiPort?: number } = {},
): Promise<string> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'mesh-cli-'))
  const server = await listen(createApp({ manager, local: true, ...(o.apiPort ? { apiPort: o.apiPort } : {}) }, defaultServiceSpec), { socketPath: join(dir, 'manager.sock') })
  const saved = process.env.MESH_DATA_DIR
  process.env.MESH_DATA_DIR = dir
  t.teardown(async () => {
    if (saved === undefined) delete process.env.MESH_DATA_DIR
    else process.env.MESH_DATA_DIR = saved
    server.closeAllConnections()
    await new Promise<void>((r) => server.close(() => r()))
    if (o.dir === undefined) rmSync(dir, { recursive: true, force: true })
  })
  return dir
}
