import { execFile } from 'node:child_process'
import { IngressError } from './errors.ts'
import { MARK_DNAT, NFT_INGRESS_TABLE } from './nft-marks.ts'

/** Runs a system command; resolves with stdout. Injected so tests see the commands instead of running them. */
export type Exec = (cmd: string, args: readonly string[], input?: string) => Promise<string>

export const execCommand: Exec = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 10_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new IngressError(`${cmd} ${args.join(' ')}: ${(stderr.trim() || err.message).split('\n')[0]}`, { cause: err }))
      else resolve(stdout)
    })
    if (input !== undefined) child.stdin?.end(input)
  })

const MASK = `0x${MARK_DNAT.toString(16)}/0x${MARK_DNAT.toString(16)}`
/** Docker's FORWARD policy drops new flows into its bridges and out to the tunnel; accept what we DNATed. */
const DOCKER_USER_RULE = ['-m', 'connmark', '--mark', MASK, '-j', 'ACCEPT']

/**
 * Adapter: applies the ingress ruleset with one `nft -f -` transaction, only when the text changed, and keeps one
 * accept rule for mesh-ingress's DNATed connections in Docker's DOCKER-USER chain (when that chain exists).
 */
export class NftApplier {
  readonly #exec: Exec
  #applied: string | null = null
  #dockerUser = false

  constructor(exec: Exec = execCommand) {
    this.#exec = exec
  }

  /** Whether a ruleset is in place. */
  get applied(): boolean {
    return this.#applied !== null
  }

  /** True when the ruleset was (re)applied, false when it was already in place. */
  async apply(text: string): Promise<boolean> {
    if (text === this.#applied) return false
    await this.#exec('nft', ['-f', '-'], text)
    this.#applied = text
    if (!this.#dockerUser) {
      const present = await this.#exec('iptables', ['-C', 'DOCKER-USER', ...DOCKER_USER_RULE]).then(() => true, () => false)
      if (!present) this.#dockerUser = await this.#exec('iptables', ['-I', 'DOCKER-USER', '1', ...DOCKER_USER_RULE]).then(() => true, () => false)
      else this.#dockerUser = true
    }
    return true
  }

  /** Remove the table and the DOCKER-USER rule (idempotent). */
  async remove(): Promise<void> {
    this.#applied = null
    await this.#exec('nft', ['delete', 'table', 'ip', NFT_INGRESS_TABLE]).catch(() => undefined)
    for (let i = 0; i < 3; i++) {
      const ok = await this.#exec('iptables', ['-D', 'DOCKER-USER', ...DOCKER_USER_RULE]).then(() => true, () => false)
      if (!ok) break
    }
    this.#dockerUser = false
  }
}
