/**
 * A Jepsen-style history of writes against several managers and its check against the final state (pure: no lab).
 * Every op is recorded with its outcome: acknowledged (the CLI exited 0) or not. An op that failed may still have
 * been applied (its answer was lost, or the store committed it after the deadline): it is indeterminate, so the
 * final state may or may not show it; an acknowledged op must show, exactly once.
 *
 *   const h = new History(); h.record({ kind: 'create', service: 'ha0', replicas: 1 }, via, ok, out)
 *   checkHistory(h.ops, services, tasks, containers)   // → the problems, [] when the state is consistent
 *
 * Creates and updates pass --no-resolve-image: the lab has no uplink, and a registry lookup that times out is not
 * what is measured.
 * Shared by test/e2e/ha.test.ts and bench/ha-failover.ts (the soak).
 */

export type OpKind = 'create' | 'scale' | 'update' | 'rm'

export interface OpSpec {
  readonly kind: OpKind
  readonly service: string
  /** create, scale: the replicas asked for. */
  readonly replicas?: number
  /** update: the env var added (`--env-add KEY=1`); each update adds its own key. */
  readonly envKey?: string
}

export interface Op extends OpSpec {
  readonly i: number
  /** The manager the client tried first. */
  readonly via: string
  readonly ok: boolean
  /** The CLI's error line when it failed. */
  readonly err: string
  readonly startMs: number
  readonly endMs: number
}

/** A service as `mesh service inspect` shows it (the fields checked). */
export interface ServiceState { readonly name: string; readonly replicas: number; readonly env: readonly string[] }

/** A task as `mesh service ps --json` shows it. */
export interface TaskState { readonly serviceName: string; readonly slot: number; readonly desiredState: string; readonly state: string }

/** A running container seen with `docker ps` on a node: its name is `<service>.<slot>.<task id>`. */
export interface ContainerState { readonly node: string; readonly name: string }

export class History {
  readonly ops: Op[] = []

  record(spec: OpSpec, via: string, ok: boolean, err: string, startMs: number, endMs: number): Op {
    const op = { ...spec, i: this.ops.length, via, ok, err, startMs, endMs }
    this.ops.push(op)
    return op
  }

  get acknowledged(): number { return this.ops.filter((o) => o.ok).length }
  get failed(): number { return this.ops.filter((o) => !o.ok).length }
}

/** The mesh CLI arguments of an op (`-d`: the write is acknowledged once committed, without waiting for tasks). */
export function opArgs(o: OpSpec, image: string, command: readonly string[]): string[] {
  switch (o.kind) {
    case 'create': return ['service', 'create', '-d', '--no-resolve-image', '--name', o.service, '--replicas', String(o.replicas ?? 1), '--update-monitor', '1s', image, ...command]
    case 'scale': return ['service', 'scale', '-d', `${o.service}=${o.replicas ?? 1}`]
    case 'update': return ['service', 'update', '-d', '--no-resolve-image', '--update-monitor', '1s', '--env-add', `${o.envKey ?? 'K'}=1`, o.service]
    case 'rm': return ['service', 'rm', o.service]
  }
}

/**
 * A workload of `n` ops over `services` names: each service is created, then scaled, updated, scaled again, and
 * every third one removed, interleaved so that consecutive ops touch different services.
 */
export function workload(prefix: string, services: number, n: number): OpSpec[] {
  const ops: OpSpec[] = []
  const names = Array.from({ length: services }, (_, k) => `${prefix}${k}`)
  for (const s of names) ops.push({ kind: 'create', service: s, replicas: 1 })
  let round = 0
  while (ops.length < n) {
    for (const [k, s] of names.entries()) {
      if (ops.length >= n) break
      const step = round % 3
      if (step === 0) ops.push({ kind: 'scale', service: s, replicas: 1 + ((k + round) % 3) })
      else if (step === 1) ops.push({ kind: 'update', service: s, envKey: `U${ops.length}` })
      else ops.push({ kind: 'scale', service: s, replicas: 1 + ((k + round + 1) % 3) })
    }
    round++
  }
  // Remove every third service last (their tasks must all go), and recreate none.
  const removed = names.filter((_, k) => k % 3 === 1)
  return [...ops.slice(0, Math.max(0, n - removed.length)), ...removed.map((s): OpSpec => ({ kind: 'rm', service: s }))]
}

/** What the final state must be, service by service, given the history; [] when consistent. */
export function checkHistory(ops: readonly Op[], services: readonly ServiceState[], tasks: readonly TaskState[], containers: readonly ContainerState[]): string[] {
  const problems: string[] = []
  const byName = new Map<string, ServiceState>()
  for (const s of services) {
    if (byName.has(s.name)) problems.push(`service ${s.name} exists twice`)
    byName.set(s.name, s)
  }
  const names = new Set([...ops.map((o) => o.service), ...services.map((s) => s.name)])
  for (const name of names) {
    const mine = ops.filter((o) => o.service === name)
    const s = byName.get(name)
    const lastAckLife = [...mine].reverse().find((o) => o.ok && (o.kind === 'create' || o.kind === 'rm'))
    const laterLife = mine.filter((o) => !o.ok && (o.kind === 'create' || o.kind === 'rm') && (!lastAckLife || o.i > lastAckLife.i))
    if (!mine.some((o) => o.kind === 'create') && s) problems.push(`service ${name} exists, but no op created it`)
    if (lastAckLife && laterLife.length === 0) {
      if (lastAckLife.kind === 'create' && !s) problems.push(`service ${name}: created (op ${lastAckLife.i}, acknowledged) but missing`)
      if (lastAckLife.kind === 'rm' && s) problems.push(`service ${name}: removed (op ${lastAckLife.i}, acknowledged) but present`)
    }
    if (!s) continue
    // Replicas: the last acknowledged value, or one of the indeterminate ones after it.
    const setters = mine.filter((o) => o.kind === 'create' || o.kind === 'scale')
    const lastAck = [...setters].reverse().find((o) => o.ok)
    const allowed = new Set(setters.filter((o) => !o.ok && (!lastAck || o.i > lastAck.i)).map((o) => o.replicas))
    if (lastAck) allowed.add(lastAck.replicas)
    if (!allowed.has(s.replicas)) problems.push(`service ${name}: ${s.replicas} replicas, expected ${[...allowed].join(' or ')} (last acknowledged: op ${lastAck?.i ?? '-'})`)
    for (const o of mine) {
      if (o.kind !== 'update' || !o.envKey) continue
      const has = s.env.some((e) => e.startsWith(`${o.envKey}=`))
      if (o.ok && !has) problems.push(`service ${name}: update op ${o.i} (acknowledged) lost: no ${o.envKey} in its env`)
    }
    for (const e of s.env) {
      const key = e.split('=')[0]
      if (!mine.some((o) => o.kind === 'update' && o.envKey === key)) problems.push(`service ${name}: env ${e} that no op set`)
    }
    // One running task per slot, slots 1..replicas.
    const running = tasks.filter((x) => x.serviceName === name && x.desiredState === 'running' && x.state === 'running')
    const slots = running.map((x) => x.slot).sort((a, b) => a - b)
    const want = Array.from({ length: s.replicas }, (_, k) => k + 1)
    if (slots.join(',') !== want.join(',')) problems.push(`service ${name}: running task slots [${slots.join(',')}], expected [${want.join(',')}]`)
    const live = containers.filter((c) => c.name.startsWith(`${name}.`))
    const perSlot = new Map<string, string[]>()
    for (const c of live) {
      const slot = c.name.split('.')[1] ?? '?'
      perSlot.set(slot, [...(perSlot.get(slot) ?? []), `${c.node}:${c.name}`])
    }
    for (const [slot, cs] of perSlot) if (cs.length > 1) problems.push(`service ${name} slot ${slot}: ${cs.length} running containers (${cs.join(' ')})`)
    if (live.length !== s.replicas) problems.push(`service ${name}: ${live.length} running containers, expected ${s.replicas}`)
  }
  const known = new Set(services.map((s) => s.name))
  for (const c of containers) {
    const svc = c.name.split('.')[0] ?? ''
    if (names.has(svc) && !known.has(svc)) problems.push(`container ${c.name} on ${c.node}: its service ${svc} is gone (orphan)`)
  }
  return problems
}
