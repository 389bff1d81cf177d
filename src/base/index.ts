/**
 * src/base — the few pieces every folder uses and none owns: the clock and random source cores take injected,
 * `MeshError` and its codes, CIDR/IPv4 arithmetic, the NDJSON line splitter, atomic state files (`writeFileAtomic`),
 * constant-time secret comparison (`sameSecret`), unix sockets bound with their final mode, and the one runner of
 * nftables rulesets (`createNftRunner`: libnftables in-process through native/nftables.c, or `nft -f -`), shared by
 * src/ingress and src/overlay. Depends on nothing but Node (and, when built, that addon).
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
