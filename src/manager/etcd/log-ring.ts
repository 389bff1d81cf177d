/**
 * The last lines a child process wrote, bounded in lines and in line length (etcd logs one JSON object per line;
 * a crash loop must not grow the agent's memory). etcd never logs key material, and nothing here adds any.
 */
export class LogRing {
  readonly #max: number
  readonly #maxLineBytes: number
  readonly #lines: string[] = []
  #partial = ''

  constructor(o: { maxLines?: number; maxLineBytes?: number } = {}) {
    this.#max = o.maxLines ?? 200
    this.#maxLineBytes = o.maxLineBytes ?? 2048
  }

  push(chunk: Buffer | string): void {
    const parts = (this.#partial + chunk.toString()).split('\n')
    this.#partial = (parts.pop() ?? '').slice(0, this.#maxLineBytes)
    for (const line of parts) if (line !== '') this.#add(line)
  }

  #add(line: string): void {
    this.#lines.push(line.length > this.#maxLineBytes ? `${line.slice(0, this.#maxLineBytes)}…` : line)
    if (this.#lines.length > this.#max) this.#lines.splice(0, this.#lines.length - this.#max)
  }

  /** The kept lines, oldest first (a line still being written is included). */
  lines(): string[] {
    return this.#partial ? [...this.#lines, this.#partial] : [...this.#lines]
  }
}
