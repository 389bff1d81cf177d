import type { Backend, Balancer } from './balancer.ts'

/**
 * Active health checks, as a role: the controller asks a `HealthChecker` whether a backend answers and applies the
 * answer to the port's balancer; how the question is asked (a TCP connect today, see tcp-health-checker.ts) is the
 * checker's business. Tests inject a fake checker and a fake clock, so the policy below runs without sockets.
 */

/** Where a probe goes: a backend's address and target port. */
export interface HealthTarget {
  readonly ip: string
  readonly port: number
}

export interface HealthChecker {
  /** Resolves true when `target` answered within `timeoutMs`, false otherwise (never rejects for a dead target). */
  probe(target: HealthTarget, timeoutMs: number): Promise<boolean>
}

/** Probe every TCP backend every `intervalMs`; a probe not answered within `timeoutMs` fails. */
export interface ActiveCheckOptions {
  intervalMs: number
  timeoutMs: number
}

export type ProbeOutcome = 'passed' | 'ejected' | 'unchanged'

/**
 * Apply one probe result (pure policy): a passing probe puts the backend back in rotation and forgets its failures
 * (it ends an ejection early); a failing one ejects it with the balancer's backoff, unless it is already ejected
 * (a probe must not lengthen an ejection a connect failure started).
 */
export function applyProbe(balancer: Balancer, b: Backend, ok: boolean, now: number): ProbeOutcome {
  if (ok) {
    balancer.succeeded(b)
    return 'passed'
  }
  if (b.ejectedUntil > now) return 'unchanged'
  balancer.failed(b)
  return 'ejected'
}
