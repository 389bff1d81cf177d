/**
 * src/base — the few pieces every folder uses and none owns: the clock and random source cores take injected,
 * `MeshError` and its codes, CIDR/IPv4 arithmetic, the NDJSON line splitter, atomic state files (`writeFileAtomic`),
 * constant-time secret comparison (`sameSecret`) and unix sockets bound with their final mode. Depends on nothing but Node.
 */
export * from './cidr.ts'
export * from './errors.ts'
export * from './clock.ts'
export * from './latest-wins.ts'
export * from './ndjson.ts'
export * from './nft.ts'
export * from './metrics.ts'
export * from './secret.ts'
export * from './state-file.ts'
export * from './unix-socket.ts'
