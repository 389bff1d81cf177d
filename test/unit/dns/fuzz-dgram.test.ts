// fuzz.test.ts again with the DNS server on node:dgram (fuzz.test.ts runs the batched UDP path): same tests, same answers.
process.env.MESH_TEST_DNS_UDP = 'dgram'
await import('./fuzz.test.ts')
