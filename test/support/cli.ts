/**
 * `mesh ARGV` in-process (mesh/main.ts), for tests that drive the CLI against a real manager API: its exit code and
 * what it wrote (through main's out/err, and anything written to process.stdout directly, such as `-q` lists).
 */
import { main } from '../../mesh/main.ts'

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
