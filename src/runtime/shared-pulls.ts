import type { ContainerRuntime, PullOptions } from './runtime.ts'

/**
 * One pull per image at a time, shared by every task that needs it (the task runner's): a second task waiting for
 * the same reference listens to the pull in flight instead of starting another; each listener gets the progress.
 */
export class SharedPulls {
  readonly #rt: Pick<ContainerRuntime, 'ensureImage'>
  readonly #pulls = new Map<string, { done: Promise<unknown>; listeners: Set<(pct: number) => void> }>()

  constructor(rt: Pick<ContainerRuntime, 'ensureImage'>) {
    this.#rt = rt
  }

  /** Make `ref` present (the first caller's options pull it), calling `onPct` with progress until it is. */
  async pull(ref: string, onPct: (pct: number) => void, o: PullOptions): Promise<void> {
    let p = this.#pulls.get(ref)
    if (p) {
      p.listeners.add(onPct)
    } else {
      const listeners = new Set<(pct: number) => void>([onPct])
      const done = this.#rt.ensureImage(ref, (pct) => { for (const l of listeners) l(pct) }, o)
        .finally(() => this.#pulls.delete(ref))
      p = { done, listeners }
      this.#pulls.set(ref, p)
    }
    try {
      await p.done
    } finally {
      p.listeners.delete(onPct)
    }
  }
}
