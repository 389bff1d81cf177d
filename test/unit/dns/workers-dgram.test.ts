// workers.test.ts again with every responder on node:dgram (reusePort sockets): same tests, same answers.
process.env.MESH_TEST_DNS_UDP = 'dgram'
await import('./workers.test.ts')
