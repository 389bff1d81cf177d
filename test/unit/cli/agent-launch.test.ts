/**
 * How `mesh agent` starts (mesh/agent-launch.ts): the agent subcommand is relaunched with the agent's Node flags and
 * MALLOC_ARENA_MAX, every other command runs as it was started; MESH_AGENT_NODE_OPTIONS overrides the flags and a
 * bad value is one `mesh:` line. The last tests run bin/mesh.js (dist/ must be built).
 */
import t from 'tap'
import { AGENT_NODE_FLAGS, RELAUNCHED_ENV, agentNodeFlags, agentRelaunch } from '../../../mesh/agent-launch.ts'
import { MESH_BIN, runMesh } from '../../support/procs.ts'

const base = { execPath: '/usr/bin/node', execArgv: [] as string[], script: '/opt/mesh/bin/mesh.js', env: { PATH: '/bin' } as Record<string, string | undefined> }

t.test('the agent is relaunched with the flags and MALLOC_ARENA_MAX=2; other commands are not', async (t) => {
  const r = agentRelaunch({ ...base, args: ['agent', '--bind', '10.0.0.1'] })
  t.same(r?.argv, ['/usr/bin/node', '--optimize-for-size', '--max-semi-space-size=2', '/opt/mesh/bin/mesh.js', 'agent', '--bind', '10.0.0.1'])
  t.same(r?.env, { PATH: '/bin', MALLOC_ARENA_MAX: '2', [RELAUNCHED_ENV]: '1' })
  t.same(AGENT_NODE_FLAGS, ['--optimize-for-size', '--max-semi-space-size=2'])
  const cases = [['service', 'ls'], ['--version'], [], ['status'], ['leave'], ['service', 'create', 'agent'], ['--host', 'tcp://a:1', 'agent']]
  for (const args of cases) t.equal(agentRelaunch({ ...base, args }), null, `mesh ${args.join(' ')}: not relaunched`)
})

t.test('the relaunched process goes on; flags of the caller are kept; an operator\'s MALLOC_ARENA_MAX too', async (t) => {
  const args = ['agent']
  t.equal(agentRelaunch({ ...base, args, env: { ...base.env, [RELAUNCHED_ENV]: '1' } }), null, 'never twice')
  t.equal(agentRelaunch({ ...base, args, execArgv: [...AGENT_NODE_FLAGS], env: { MALLOC_ARENA_MAX: '4' } }), null, 'already started so')
  const r = agentRelaunch({ ...base, args, execArgv: ['--enable-source-maps'], env: { MALLOC_ARENA_MAX: '4' } })
  t.same(r?.argv.slice(1, 4), ['--enable-source-maps', ...AGENT_NODE_FLAGS])
  t.equal(r?.env.MALLOC_ARENA_MAX, '4', 'the operator\'s value stays')
})

t.test('MESH_AGENT_NODE_OPTIONS replaces the flags; empty means none (no relaunch)', async (t) => {
  const env = (v: string) => ({ ...base.env, MESH_AGENT_NODE_OPTIONS: v })
  t.same(agentRelaunch({ ...base, args: ['agent'], env: env('  --max-old-space-size=512   --stack-size=900 ') })?.argv,
    ['/usr/bin/node', '--max-old-space-size=512', '--stack-size=900', '/opt/mesh/bin/mesh.js', 'agent'])
  t.equal(agentRelaunch({ ...base, args: ['agent'], env: env('') }), null)
  t.equal(agentRelaunch({ ...base, args: ['agent'], env: env('   ') }), null)
  const bad = [
    ['-e', /"-e" is not a node flag/], ['--eval=process.exit()', /is not a node flag/], ['--eval', /--eval is not allowed/],
    ['--require=x', /--require is not allowed/], ['--import=data:x', /--import is not allowed/], ['--max-old-space-size=$(id)', /is not a node flag/],
    ['foo.js', /"foo.js" is not a node flag/], [Array(21).fill('--a').join(' '), /at most 20 flags/],
  ] as const
  for (const [v, want] of bad) t.throws(() => agentNodeFlags(env(v)), { message: want, code: 'MESH_ERR_CONFIG', name: 'LaunchError' }, v)
})

t.test('bin/mesh.js: the agent runs under the flags, the CLI does not (a flag node refuses shows which)', async (t) => {
  const env = { ...process.env, MESH_AGENT_NODE_OPTIONS: '--no-such-node-flag-21' }
  const agent = await runMesh(['agent', '--help'], { env })
  t.not(agent.code, 0, 'mesh agent: relaunched under the flag')
  t.match(agent.stderr, /bad option: --no-such-node-flag-21/)
  const cli = await runMesh(['--version'], { env })
  t.same([cli.code, cli.stderr], [0, ''], 'mesh --version: not relaunched')
  const help = await runMesh(['service', '--help'], { env })
  t.equal(help.code, 0, 'mesh service --help: not relaunched')
  const ok = await runMesh(['agent', '--help'])
  t.same([ok.code, ok.stderr], [0, ''], 'default flags: mesh agent --help, no warning')
  t.match(ok.stdout, /Usage: mesh agent/)
  const bad = await runMesh(['agent', '--help'], { env: { ...process.env, MESH_AGENT_NODE_OPTIONS: '--require=/tmp/x.js' } })
  t.same([bad.code, bad.stderr], [1, 'mesh: MESH_AGENT_NODE_OPTIONS: --require is not allowed (it changes what runs, not how)\n'])
  t.ok(MESH_BIN.endsWith('bin/mesh.js'))
})
