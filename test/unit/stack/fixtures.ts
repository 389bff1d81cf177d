import { loadStack, type LoadedStack } from '../../../src/stack/index.ts'

/** The seed tutorial's compose file (docs.docker.com get-started part 5), published on 4000 as in our notes. */
export const TUTORIAL = `version: "3"
services:
  web:
    # replace username/repo:tag with your name and image details
    image: username/repo:tag
    deploy:
      replicas: 5
      restart_policy:
        condition: on-failure
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
    ports:
      - "4000:80"
    networks:
      - webnet
  visualizer:
    image: dockersamples/visualizer:stable
    ports:
      - "8080:8080"
    volumes:
      - "/var/run/docker.sock:/var/run/docker.sock"
    deploy:
      placement:
        constraints: [node.role == manager]
    networks:
      - webnet
  redis:
    image: redis
    ports:
      - "6379:6379"
    volumes:
      - "/home/docker/data:/data"
    deploy:
      placement:
        constraints: [node.role == manager]
    command: redis-server --appendonly yes
    networks:
      - webnet
networks:
  webnet:
`

/** Load files given as {name: text}; env files are looked up in the same map (by absolute path under /lab). */
export function load(files: Record<string, string>, o: { stack?: string; env?: Record<string, string>; extra?: Record<string, string> } = {}): LoadedStack {
  const all = { ...files, ...(o.extra ?? {}) }
  return loadStack({
    stack: o.stack ?? 'getstartedlab',
    files: Object.keys(files).map((name) => ({ name, text: files[name] as string })),
    env: o.env ?? {},
    cwd: '/lab',
    readFile: (p) => {
      const rel = p.replace(/^\/lab\//, '')
      const text = all[rel]
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' })
      return text
    },
  })
}

/** The error message of `fn`, or 'no error'. */
export function errorOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return (err as Error).message
  }
  return 'no error'
}
