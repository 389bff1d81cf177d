// server.test.ts again with the DNS server on node:dgram (server.test.ts runs the batched UDP path): same tests, same answers.
process.env.MESH_TEST_DNS_UDP = 'dgram'
await import('./server.test.ts')
