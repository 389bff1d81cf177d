import type { Test } from 'tap'
import { randomInt, seededRandom } from '../../../src/base/clock.ts'
import type { RandomBytes } from '../../../src/pki/index.ts'

/** A fixed wall-clock instant for tests that do not hand certificates to Node's tls or openssl. */
export const NOW = Date.UTC(2026, 11, 6, 12, 0, 0)
export const DAY = 24 * 60 * 60 * 1000

/** Reproducible "random" bytes for serial numbers and secrets. */
export function seededBytes(seed: number): RandomBytes {
  const random = seededRandom(seed)
  return (size) => Uint8Array.from({ length: size }, () => randomInt(random, 256))
}

/** Asserts an async call fails with a MeshError of `code` (and, when given, a `problem` and a message match). */
export async function rejectsWith(
  t: Test,
  fn: () => Promise<unknown>,
  want: { code: string; problem?: string; message?: RegExp },
  name: string,
): Promise<void> {
  try {
    await fn()
    t.fail(`${name}: did not throw`)
  } catch (err) {
    const e = err as { code?: string; problem?: string; message: string }
    t.equal(e.code, want.code, `${name}: code`)
    if (want.problem !== undefined) t.equal(e.problem, want.problem, `${name}: problem`)
    if (want.message !== undefined) t.match(e.message, want.message, `${name}: message`)
    t.notMatch(e.message, /\n/, `${name}: one line`)
  }
}
