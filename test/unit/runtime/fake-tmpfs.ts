import type { Tmpfs } from '../../../src/runtime/index.ts'

/** A Tmpfs that only records: the dirs stay plain directories (tests run without mount privileges). */
export class FakeTmpfs implements Tmpfs {
  readonly mounted = new Map<string, number>()
  readonly calls: string[] = []
  async mount(dir: string, sizeBytes: number): Promise<void> { this.calls.push(`mount ${dir}`); this.mounted.set(dir, sizeBytes) }
  async unmount(dir: string): Promise<void> { this.calls.push(`unmount ${dir}`); this.mounted.delete(dir) }
  async isMounted(dir: string): Promise<boolean> { return this.mounted.has(dir) }
}
