import { execFile } from 'node:child_process'
import { nftErrorLine, type NftRunner } from '../base/nft.ts'
import { IngressError } from './errors.ts'
import { MARK_DNAT, NFT_INGRESS_TABLE } from './nft-marks.ts'
import { COUNTER_SETS, CounterTotals, endpointTraffic, type TrafficByEndpoint } from './nft-counters.ts'
import { renderDelta, renderFull, type NftTable } from './nft-table.ts'

/** Runs a system command; resolves with stdout. Injected so tests see the commands instead of running them. */
export type Exec = (cmd: string, args: readonly string[], input?: string) => Promise<string>

export const execCommand: Exec = (cmd, args, input) =>
  new Promise((resolve, reject) => {
    // A whole table at 10,000 endpoints takes seconds to load on a busy machine: a minute for input, 10 s otherwise.
    const timeout = input !== undefined && input.length > 64 * 1024 ? 60_000 : 10_000
    const child = execFile(cmd, args, { timeout, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new IngressError(`${cmd} ${args.join(' ')}: ${(stderr.trim() || err.message).split('\n')[0]}`, { cause: err }))
      else resolve(stdout)
    })
    // nft may exit before reading all of its input (a refused ruleset, the timeout): EPIPE then, not a crash.
    child.stdin?.on('error', () => undefined)
    if (input !== undefined) child.stdin?.end(input)
  })

/**
 * An Exec that sends nft rulesets (`nft -f -` with input) and single nft commands (`nft delete table …`) to `runner`
 * (src/base/nft.ts: libnftables in-process, or `nft -f -`); everything else (iptables, `nft -j list …`) to `exec`.
 * A refusal rejects with the same one line as `execCommand`: `nft <args>: <first line of nft's error>`.
 */
export function nftExec(runner: NftRunner, exec: Exec = execCommand): Exec {
  return async (cmd, args, input) => {
    let text: string
    if (cmd !== 'nft') return exec(cmd, args, input)
    if (args.length === 2 && args[0] === '-f' && args[1] === '-' && input !== undefined) text = input
    else if (input === undefined && args.length > 0 && args.every((a) => !a.startsWith('-'))) text = args.join(' ')
    else return exec(cmd, args, input)
    const a = await runner.run(text)
    if (!a.ok) throw new IngressError(`${cmd} ${args.join(' ')}: ${nftErrorLine(a)}`)
    return a.output
  }
}

const MASK = `0x${MARK_DNAT.toString(16)}/0x${MARK_DNAT.toString(16)}`
/** Docker's FORWARD policy drops new flows into its bridges and out to the tunnel; accept what we DNATed. */
const DOCKER_USER_RULE = ['-m', 'connmark', '--mark', MASK, '-j', 'ACCEPT']

/** How an apply went: the whole table, a delta, or nothing to do. */
export type NftApplied = 'full' | 'delta' | false

/**
 * Adapter: applies the ingress table with `nft -f -` (one transaction each): the whole table the first time, after
 * a frame change and after any failure; otherwise only the delta from the table in place (nft-table.ts). A delta
 * the kernel refuses is followed at once by a full apply. Keeps one accept rule for mesh-ingress's DNATed connections
 * in Docker's DOCKER-USER chain (when that chain exists), and reads the per-endpoint counters.
 */
export class NftApplier {
  readonly #exec: Exec
  #applied: NftTable | null = null
  #dockerUser = false
  readonly #totals = new CounterTotals()

  constructor(exec: Exec = execCommand) {
    this.#exec = exec
  }

  /** Whether a ruleset is in place. */
  get applied(): boolean {
    return this.#applied !== null
  }

  /** The table in place (the `prev` of the next nftTable), or null. */
  get current(): NftTable | null {
    return this.#applied
  }

  /** Apply `table`: 'full' or 'delta' when something was written, false when it was already in place. */
  async apply(table: NftTable): Promise<NftApplied> {
    const from = this.#applied
    if (from !== null) {
      const delta = renderDelta(from, table)
      if (delta === '') return false
      if (delta !== null) {
        const ok = await this.#exec('nft', ['-f', '-'], delta).then(() => true, () => false)
        if (ok) {
          this.#applied = table
          return 'delta'
        }
      }
    }
    // Not known to be in place from here on until the full apply succeeds.
    this.#applied = null
    await this.#exec('nft', ['-f', '-'], renderFull(table))
    this.#applied = table
    if (!this.#dockerUser) {
      const present = await this.#exec('iptables', ['-C', 'DOCKER-USER', ...DOCKER_USER_RULE]).then(() => true, () => false)
      if (!present) this.#dockerUser = await this.#exec('iptables', ['-I', 'DOCKER-USER', '1', ...DOCKER_USER_RULE]).then(() => true, () => false)
      else this.#dockerUser = true
    }
    return 'full'
  }

  /** Traffic per published-port endpoint from the table's counter sets (empty when nothing is in place). */
  async traffic(): Promise<TrafficByEndpoint> {
    if (this.#applied === null || (this.#applied.sets.get('ep-conns')?.elements.size ?? 0) === 0) return new Map()
    const answers = await Promise.all(COUNTER_SETS.map((s) =>
      this.#exec('nft', ['-j', 'list', 'set', 'ip', NFT_INGRESS_TABLE, s]).catch(() => '')))
    return endpointTraffic(answers, this.#totals)
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
