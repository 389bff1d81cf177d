import type { Clock, TimerHandle } from '../../base/clock.ts'

/** Calls `fn` every `ms` on `clock` (heartbeats, refreshes) until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let handle: TimerHandle | null = null
  const arm = (): void => {
    handle = clock.setTimeout(() => {
      fn()
      arm()
    }, ms)
  }
  arm()
  return () => clock.clearTimeout(handle)
}
