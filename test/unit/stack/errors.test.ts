import t from 'tap'
import { StackFileError } from '../../../src/stack/index.ts'
import { TUTORIAL, errorOf, load } from './fixtures.ts'

/** A service `web` with `body` (YAML lines at service level) in a file called stack.yml. */
const web = (body: string, tail = '') => `version: "3"\nservices:\n  web:\n    image: nginx\n${body.replace(/^/gm, '    ')}\n${tail}`

const cases: { name: string; file: string; want: string | RegExp }[] = [
  { name: 'unknown top-level key', file: `${TUTORIAL}servces:\n  x: {}\n`,
    want: 'stack.yml: servces: key not allowed at the top level (allowed: version, services, networks, volumes, secrets, configs, x-*)' },
  { name: 'bad port (short syntax)', file: web('ports: ["80:"]'),
    want: 'stack.yml: services.web.ports[0]: invalid port "80:": want [PUBLISHED:]TARGET[/tcp|udp], e.g. "8080:80"' },
  { name: 'port out of range', file: web('ports: ["70000:80"]'), want: 'stack.yml: services.web.ports[0]: port spec "70000:80": published port 70000 must be 1-65535' },
  { name: 'port without a published port', file: web('ports: ["80"]'), want: /^stack\.yml: services\.web\.ports\[0\]: "80" has no published port/ },
  { name: 'long port: wrong type', file: web('ports:\n  - {target: "eighty", published: 80}'), want: 'stack.yml: services.web.ports[0].target: must be an integer, not "eighty"' },
  { name: 'long port: bad mode', file: web('ports:\n  - {target: 80, published: 80, mode: mesh}'), want: 'stack.yml: services.web.ports[0]: port spec "published=80,target=80,mode=mesh": mode "mesh" must be ingress or host' },
  { name: 'invalid constraint', file: web('deploy:\n  placement:\n    constraints: ["node.rol == manager"]'),
    want: 'stack.yml: services.web.deploy.placement.constraints[0]: constraint "node.rol == manager": unknown field node.rol; use node.id, node.hostname, node.role or node.labels.<key>' },
  { name: 'constraint with a bad role', file: web('deploy:\n  placement:\n    constraints: ["node.role == boss"]'),
    want: /^stack\.yml: services\.web\.deploy\.placement\.constraints\[0\]: constraint "node\.role == boss": node\.role must be manager or worker/ },
  { name: 'wrong type: replicas', file: web('deploy:\n  replicas: five'), want: 'stack.yml: services.web.deploy.replicas: must be an integer, not "five"' },
  { name: 'wrong type: cpus unquoted', file: web('deploy:\n  resources:\n    limits:\n      cpus: 0.5'),
    want: 'stack.yml: services.web.deploy.resources.limits.cpus: must be a string, not 0.5; quote it: "0.5"' },
  { name: 'wrong type: environment', file: web('environment: 5'), want: 'stack.yml: services.web.environment: must be a mapping or a list, not 5' },
  { name: 'wrong type: services is a list', file: 'services:\n  - web\n', want: 'stack.yml: services: must be a mapping, not a list' },
  { name: 'unknown service key', file: web('replica: 3'), want: 'stack.yml: services.web.replica: key not allowed here' },
  { name: 'deploy key one level too deep', file: web('deploy:\n  resources:\n    replicas: 3'),
    want: 'stack.yml: services.web.deploy.resources.replicas: key not allowed here (allowed: limits, reservations); did you mean services.web.deploy.replicas?' },
  { name: 'deploy key one level too shallow', file: web('replicas: 3'), want: 'stack.yml: services.web.replicas: key not allowed here; did you mean services.web.deploy.replicas?' },
  { name: 'bad memory', file: web('deploy:\n  resources:\n    limits:\n      memory: 50 parsecs'),
    want: 'stack.yml: services.web.deploy.resources.limits.memory: memory "50 parsecs": want a size like 50M, 1.5G or 512k' },
  { name: 'bad duration', file: web('stop_grace_period: soon'), want: 'stack.yml: services.web.stop_grace_period: invalid duration "soon": want e.g. 5s, 1m30s or 200ms' },
  { name: 'bad restart condition', file: web('deploy:\n  restart_policy: {condition: always}'),
    want: 'stack.yml: services.web.deploy.restart_policy.condition: "always" must be none, on-failure or any' },
  { name: 'bad update order (schema enum)', file: web('deploy:\n  update_config: {order: random}'),
    want: 'stack.yml: services.web.deploy.update_config.order: must be one of start-first, stop-first, not "random"' },
  { name: 'rollback cannot roll back', file: web('deploy:\n  rollback_config: {failure_action: rollback}'),
    want: 'stack.yml: services.web.deploy.rollback_config.failure_action: "rollback" must be pause or continue' },
  { name: 'replicas with global mode', file: web('deploy: {mode: global, replicas: 2}'), want: 'stack.yml: services.web.deploy.replicas: replicas can only be used with mode: replicated or replicated-job' },
  { name: 'unknown mode (the job modes are supported)', file: web('deploy: {mode: cron}'), want: 'stack.yml: services.web.deploy.mode: "cron" must be replicated, global, replicated-job or global-job' },
  { name: 'undeclared network', file: web('networks: [front]'), want: 'stack.yml: services.web.networks[0]: network "front" is not declared under the top-level networks key (add networks: {front: })' },
  { name: 'non-overlay network driver', file: web('networks: [front]', 'networks:\n  front:\n    driver: bridge\n'),
    want: /^stack\.yml: networks\.front\.driver: driver "bridge" is not supported/ },
  { name: 'undeclared volume', file: web('volumes: ["data:/data"]'), want: /^stack\.yml: services\.web\.volumes\[0\]: volume "data" is not declared under the top-level volumes key/ },
  { name: 'anonymous volume', file: web('volumes: ["/data"]'), want: /^stack\.yml: services\.web\.volumes\[0\]: "\/data" is an anonymous volume/ },
  { name: 'relative volume target', file: web('volumes: ["/srv:data"]'), want: 'stack.yml: services.web.volumes[0]: target "data" must be an absolute path in the container' },
  { name: 'no image (build only)', file: 'services:\n  web:\n    build: .\n', want: /^stack\.yml: services\.web\.image: is required: mesh runs images from a registry/ },
  { name: 'same port in two services', file: web('ports: ["80:80"]', '  api:\n    image: x\n    ports: ["80:8080"]\n'),
    want: 'stack.yml: services.web.ports: port 80/tcp is also published by service api' },
  { name: 'reservation above limit (manager validation)', file: web('deploy:\n  resources:\n    limits: {memory: 10M}\n    reservations: {memory: 20M}'),
    want: /^stack\.yml: services\.web: memory reservation \(20971520 bytes\) exceeds the memory limit/ },
  { name: 'compose version 2', file: 'version: "2"\nservices: {}\n', want: 'stack.yml: version: unsupported compose file version "2": mesh reads compose v3 files (version "3" or "3.x")' },
  { name: 'YAML syntax', file: 'services:\n  web:\n    image: [x\n', want: /^stack\.yml: line \d+, column \d+: not valid YAML/ },
  { name: 'duplicate key', file: 'services:\n  web:\n    image: x\n    image: y\n', want: /^stack\.yml: line 4, column 5: not valid YAML: Map keys must be unique/ },
  { name: 'empty file', file: '', want: 'stack.yml: the file is empty' },
  { name: 'no services', file: 'version: "3"\nnetworks: {a: }\n', want: 'stack.yml: services: no services to deploy' },
  { name: 'bad service name', file: 'services:\n  "my web":\n    image: x\n', want: 'stack.yml: services.my web: invalid name "my web": use letters, digits, \'.\', \'_\' or \'-\'' },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    let err: unknown
    try {
      load({ 'stack.yml': c.file })
    } catch (e) {
      err = e
    }
    t.ok(err instanceof StackFileError, 'a StackFileError')
    t.equal((err as StackFileError).code, 'MESH_ERR_STACK_FILE')
    if (typeof c.want === 'string') t.equal((err as Error).message, c.want)
    else t.match((err as Error).message, c.want)
  })
}

t.test('an error in the second file names the second file', async (t) => {
  t.equal(errorOf(() => load({ 'stack.yml': TUTORIAL, 'prod.yml': 'services:\n  web:\n    ports: ["4000:"]\n' })),
    'prod.yml: services.web.ports[0]: invalid port "4000:": want [PUBLISHED:]TARGET[/tcp|udp], e.g. "8080:80"')
  t.equal(errorOf(() => load({ 'stack.yml': TUTORIAL, 'prod.yml': 'services:\n  web:\n    networks: [backnet]\n' })),
    'prod.yml: services.web.networks[0]: network "backnet" is not declared under the top-level networks key (add networks: {backnet: })')
})

t.test('stack name', async (t) => {
  t.match(errorOf(() => load({ 'stack.yml': TUTORIAL }, { stack: '-x' })), /^stack: name "-x" must start with a letter or digit/)
})
