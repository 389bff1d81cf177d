import t from 'tap'
import { defaultServiceSpec } from '../../../src/api/spec.ts'
import type { ServiceSpec } from '../../../src/api/types.ts'
import { TUTORIAL, errorOf, load } from './fixtures.ts'

function spec(name: string, image: string, change: (s: ServiceSpec) => void): ServiceSpec {
  const s = defaultServiceSpec(`getstartedlab_${name}`, image)
  s.labels = { 'com.docker.stack.namespace': 'getstartedlab', 'com.docker.stack.image': image }
  s.networks = ['getstartedlab_webnet']
  change(s)
  return s
}

t.test('the seed tutorial converts to the specs docker stack deploy makes', async (t) => {
  const r = load({ 'docker-compose.yml': TUTORIAL })
  t.same(r.warnings, [])
  t.same(r.networks, ['getstartedlab_webnet'])
  t.same(r.volumes, [])
  t.same(r.services.map((s) => s.name), ['getstartedlab_redis', 'getstartedlab_visualizer', 'getstartedlab_web'])
  const want = [
    spec('redis', 'redis', (s) => {
      s.ports = [{ published: 6379, target: 6379, protocol: 'tcp', mode: 'ingress' }]
      s.mounts = [{ type: 'bind', source: '/home/docker/data', target: '/data', readOnly: false }]
      s.constraints = ['node.role == manager']
      s.command = ['redis-server', '--appendonly', 'yes']
    }),
    spec('visualizer', 'dockersamples/visualizer:stable', (s) => {
      s.ports = [{ published: 8080, target: 8080, protocol: 'tcp', mode: 'ingress' }]
      s.mounts = [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: false }]
      s.constraints = ['node.role == manager']
    }),
    spec('web', 'username/repo:tag', (s) => {
      s.mode = { replicated: { replicas: 5 } }
      s.restartPolicy = { condition: 'on-failure', delayMs: 5000, maxAttempts: 0, windowMs: 0 }
      s.resources.limits = { nanoCpus: 100_000_000, memoryBytes: 50 * 1024 * 1024 }
      s.ports = [{ published: 4000, target: 80, protocol: 'tcp', mode: 'ingress' }]
    }),
  ]
  t.same(r.services, want)
  t.strictSame(r.services[2], want[2], 'no extra fields')
})

t.test('a second file overrides the first, key by key (docker -c a -c b)', async (t) => {
  const prod = `
services:
  web:
    image: username/repo:v2
    environment: [MODE=prod]
    deploy:
      replicas: 2
      resources: {limits: {memory: 100M}}
      placement: {constraints: ["node.labels.zone == a"]}
    ports:
      - "4000:8080"
      - "4443:443"
  worker:
    image: username/worker
networks:
  webnet:
    driver: overlay
`
  const r = load({ 'docker-compose.yml': TUTORIAL, 'prod.yml': prod })
  const web = r.services.find((s) => s.name === 'getstartedlab_web') as ServiceSpec
  t.equal(web.image, 'username/repo:v2')
  t.equal(web.labels['com.docker.stack.image'], 'username/repo:v2')
  t.same(web.mode, { replicated: { replicas: 2 } })
  t.same(web.resources.limits, { nanoCpus: 100_000_000, memoryBytes: 100 * 1024 * 1024 }, 'cpus kept, memory replaced')
  t.same(web.restartPolicy.condition, 'on-failure', 'kept from the first file')
  t.same(web.ports.map((p) => `${p.published}:${p.target}`), ['4000:8080', '4443:443'], 'ports merge by published port')
  t.same(web.constraints, ['node.labels.zone == a'])
  t.same(web.env, ['MODE=prod'])
  t.same(web.networks, ['getstartedlab_webnet'])
  t.ok(r.services.some((s) => s.name === 'getstartedlab_worker'), 'a service only in the later file is added')
  const worker = r.services.find((s) => s.name === 'getstartedlab_worker') as ServiceSpec
  t.same(worker.networks, ['getstartedlab_default'], 'no networks: the stack default network')
  const redis = r.services.find((s) => s.name === 'getstartedlab_redis') as ServiceSpec
  t.same(redis.command, ['redis-server', '--appendonly', 'yes'], 'untouched service stays as it was')
})

t.test('interpolation: ${VAR}, ${VAR:-default}, $$, required, casts, unset warning', async (t) => {
  const file = `
services:
  web:
    image: "\${REPO}/web:\${TAG:-latest}"
    command: ["echo", "$$HOME", "\${GREETING-hi}"]
    environment:
      EMPTY: "\${NOPE}"
    deploy:
      replicas: \${REPLICAS:-3}
    ports:
      - target: 80
        published: \${PORT}
`
  const r = load({ 's.yml': file }, { env: { REPO: 'registry:5000', REPLICAS: '4', PORT: '8080', GREETING: '' } })
  const web = r.services[0] as ServiceSpec
  t.equal(web.image, 'registry:5000/web:latest')
  t.same(web.command, ['echo', '$HOME', ''], '${VAR-default} keeps a set-but-empty value')
  t.same(web.mode, { replicated: { replicas: 4 } }, 'string cast to an integer')
  t.same(web.ports, [{ published: 8080, target: 80, protocol: 'tcp', mode: 'ingress' }])
  t.same(web.env, ['EMPTY='])
  t.same(r.warnings, ['s.yml: variable NOPE not set; using an empty string'])
  t.same(load({ 's.yml': file }, { env: { REPO: 'r', PORT: '1' } }).services[0]?.mode, { replicated: { replicas: 3 } }, 'default used')
  t.match(errorOf(() => load({ 's.yml': 'services:\n  web:\n    image: "${IMG:?set IMG to the image}"\n' })), /^s\.yml: services\.web\.image: required variable IMG is not set: set IMG to the image/)
  t.match(errorOf(() => load({ 's.yml': 'services:\n  web:\n    image: "${IMG"\n' })), /^s\.yml: services\.web\.image: invalid interpolation/)
  t.match(errorOf(() => load({ 's.yml': 'services:\n  web:\n    image: x\n    deploy: {replicas: "${N}"}\n' }, { env: { N: 'many' } })),
    /^s\.yml: services\.web\.deploy\.replicas: must be an integer, not "many"/)
})

t.test('environment (list and map), env_file relative to the first compose file, shell pass-through', async (t) => {
  const file = `
services:
  web:
    image: x
    env_file: [common.env, web.env]
    environment:
      - B=from-environment
      - FROM_SHELL
      - MISSING
  api:
    image: x
    env_file: common.env
    environment: {A: 1, C: null, D: "", E: "x=y"}
`
  const r = load({ 'app/stack.yml': file }, {
    env: { FROM_SHELL: 'yes', C: 'shell-c' },
    extra: { 'app/common.env': '# comment\nA=common\n\n  B=common\n', 'app/web.env': 'C=web\nFROM_SHELL\n' },
  })
  const [api, web] = r.services as [ServiceSpec, ServiceSpec]
  t.same(web.env, ['A=common', 'B=from-environment', 'C=web', 'FROM_SHELL=yes'])
  t.same(api.env, ['A=1', 'B=common', 'C=shell-c', 'D=', 'E=x=y'])
  t.match(errorOf(() => load({ 'stack.yml': 'services:\n  web:\n    image: x\n    env_file: nope.env\n' })), /^stack\.yml: services\.web\.env_file: cannot read env file \/lab\/nope\.env: ENOENT/)
  const two = load({ 'app/stack.yml': file, 'ops/prod.yml': 'services:\n  api:\n    env_file: prod.env\n    volumes: ["./data:/data"]\n' }, {
    extra: { 'app/common.env': 'A=common\n', 'app/web.env': '', 'app/prod.env': 'P=1\n' },
  })
  const api2 = two.services[0] as ServiceSpec
  t.same(api2.env, ['A=1', 'D=', 'E=x=y', 'P=1'], 'a later file\'s env_file is relative to the first file\'s directory, as docker does')
  t.same(api2.mounts, [{ type: 'bind', source: '/lab/app/data', target: '/data', readOnly: false }])
})

t.test('ports: short syntax with protocol and ranges, long syntax with mode', async (t) => {
  const file = `
services:
  dns:
    image: x
    ports:
      - "53:53/udp"
      - 8000-8001:80-81
      - target: 9000
        published: 9001
        protocol: udp
        mode: host
`
  const s = load({ 's.yml': file }).services[0] as ServiceSpec
  t.same(s.ports, [
    { published: 53, target: 53, protocol: 'udp', mode: 'ingress' },
    { published: 8000, target: 80, protocol: 'tcp', mode: 'ingress' },
    { published: 8001, target: 81, protocol: 'tcp', mode: 'ingress' },
    { published: 9001, target: 9000, protocol: 'udp', mode: 'host' },
  ])
})

t.test('volumes: bind (absolute, relative, ~) and named, prefixed unless external or named', async (t) => {
  const file = `
services:
  db:
    image: redis
    volumes:
      - data:/data
      - ./conf:/etc/redis:ro
      - ~/logs:/logs
      - shared:/shared
      - fixed:/fixed
      - type: volume
        source: data
        target: /backup
        read_only: true
      - type: bind
        source: /srv
        target: /srv
volumes:
  data:
  shared:
    external: true
  fixed:
    name: the-fixed-volume
`
  const r = load({ 'app/stack.yml': file }, { env: { HOME: '/home/me' } })
  t.same(r.services[0]?.mounts, [
    { type: 'volume', source: 'getstartedlab_data', target: '/data', readOnly: false },
    { type: 'bind', source: '/lab/app/conf', target: '/etc/redis', readOnly: true },
    { type: 'bind', source: '/home/me/logs', target: '/logs', readOnly: false },
    { type: 'volume', source: 'shared', target: '/shared', readOnly: false },
    { type: 'volume', source: 'the-fixed-volume', target: '/fixed', readOnly: false },
    { type: 'volume', source: 'getstartedlab_data', target: '/backup', readOnly: true },
    { type: 'bind', source: '/srv', target: '/srv', readOnly: false },
  ])
  t.same(r.volumes, ['getstartedlab_data', 'shared', 'the-fixed-volume'])
})

t.test('deploy: every supported key; healthcheck; stop_grace_period; entrypoint', async (t) => {
  const file = `
services:
  api:
    image: x
    entrypoint: /bin/sh -c
    command: ["echo hi"]
    stop_grace_period: 1m30s
    healthcheck:
      test: curl -f http://localhost/ || exit 1
      interval: 10s
      timeout: 2s
      retries: 4
      start_period: 500ms
    networks:
      front:
      back:
    deploy:
      mode: replicated
      replicas: 2
      endpoint_mode: dnsrr
      labels: [team=core, tier]
      resources:
        limits: {cpus: "1.5", memory: 1G}
        reservations: {cpus: "0.25", memory: 256M}
      restart_policy: {condition: any, delay: 2s, max_attempts: 3, window: 1m}
      placement:
        constraints: ["node.role==worker", "node.labels.zone != b"]
      update_config: {parallelism: 2, delay: 10s, failure_action: rollback, order: start-first, monitor: 30s, max_failure_ratio: 0.2}
      rollback_config: {parallelism: 0, delay: 1s, failure_action: continue, order: stop-first, monitor: 5s, max_failure_ratio: 0}
  agent:
    image: y
    healthcheck: {disable: true}
    deploy: {mode: global}
networks:
  front:
  back:
    external: {name: shared-back}
`
  const [agent, api] = load({ 's.yml': file }).services as [ServiceSpec, ServiceSpec]
  t.same(api.entrypoint, ['/bin/sh', '-c'])
  t.same(api.command, ['echo hi'])
  t.equal(api.stopGracePeriodMs, 90_000)
  t.same(api.healthcheck, { test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'], intervalMs: 10_000, timeoutMs: 2000, retries: 4, startPeriodMs: 500 })
  t.same(api.networks, ['getstartedlab_front', 'shared-back'])
  t.same(api.mode, { replicated: { replicas: 2 } })
  t.equal(api.endpointMode, 'dnsrr')
  t.same(api.labels, { team: 'core', tier: '', 'com.docker.stack.namespace': 'getstartedlab', 'com.docker.stack.image': 'x' })
  t.same(api.resources, { limits: { nanoCpus: 1.5e9, memoryBytes: 1024 ** 3 }, reservations: { nanoCpus: 0.25e9, memoryBytes: 256 * 1024 ** 2 } })
  t.same(api.restartPolicy, { condition: 'any', delayMs: 2000, maxAttempts: 3, windowMs: 60_000 })
  t.same(api.constraints, ['node.role==worker', 'node.labels.zone != b'])
  t.same(api.updateConfig, { parallelism: 2, delayMs: 10_000, failureAction: 'rollback', order: 'start-first', monitorMs: 30_000, maxFailureRatio: 0.2 })
  t.same(api.rollbackConfig, { parallelism: 0, delayMs: 1000, failureAction: 'continue', order: 'stop-first', monitorMs: 5000, maxFailureRatio: 0 })
  t.same(agent.mode, { global: {} })
  t.same(agent.healthcheck?.test, ['NONE'])
})

t.test('unsupported keys: one warning listing every one, per file; x- extensions are silent', async (t) => {
  const file = `
version: "3.8"
x-common: &common
  image: x
services:
  web:
    <<: *common
    build: .
    container_name: web
    depends_on: [db]
    links: [db]
    logging: {driver: json-file}
    secrets: [pw]
    configs: [conf]
    x-note: fine
    networks:
      webnet: {aliases: [www]}
    deploy:
      resources: {limits: {pids: 10}}
  db:
    image: y
    ports: ["127.0.0.1:5432:5432"]
networks:
  webnet:
    attachable: true
secrets:
  pw: {file: ./pw.txt}
configs:
  conf: {file: ./conf.txt}
`
  const override = 'services:\n  db:\n    restart: always\n'
  const r = load({ 'stack.yml': file, 'more.yml': override })
  t.equal(r.warnings.length, 1)
  // secrets: and configs: are real since issue 16 (test/unit/stack/secrets.test.ts): no longer in the warning.
  t.equal(r.warnings[0], 'ignoring keys mesh does not support: stack.yml: networks.webnet.attachable, ' +
    'services.web.build, services.web.container_name, services.web.depends_on, services.web.links, services.web.logging, ' +
    'services.web.networks.webnet.aliases, services.web.deploy.resources.limits.pids, ' +
    'services.db.ports[0] (host IP 127.0.0.1); more.yml: services.db.restart')
  t.equal(r.services.find((s) => s.name === 'getstartedlab_web')?.image, 'x', 'YAML merge keys work')
})
