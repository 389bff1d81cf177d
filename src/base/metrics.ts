/**
 * Small helpers for Prometheus gauges that every subsystem's metrics file shares. Structural types only, so this
 * folder stays free of prom-client (any `Gauge<'state'>` fits).
 */
export interface StateGauge {
  reset(): void
  set(labels: { state: string }, value: number): void
}

/** Set a `state`-labelled gauge to how many of `states` each known state has (0 for the absent ones). */
export function setStateCounts(gauge: StateGauge, known: readonly string[], states: readonly string[]): void {
  gauge.reset()
  const by = new Map<string, number>(known.map((s) => [s, 0]))
  for (const s of states) by.set(s, (by.get(s) ?? 0) + 1)
  for (const [state, n] of by) gauge.set({ state }, n)
}
