import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../src/base/errors.ts'
import type { RegistryAuth } from '../src/api/types.ts'

/**
 * `--with-registry-auth`, as docker does it: the credentials for the image's registry come from the docker CLI's
 * config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, written by `docker login`): `auths[registry].auth`
 * is base64 of `user:password`. Credential helpers (`credsStore`) are not supported.
 */

export const DOCKER_HUB = 'https://index.docker.io/v1/'

/** The registry an image reference names: `registry:5000/app:1` → `registry:5000`; no host → Docker Hub. */
export function registryOf(image: string): string {
  const i = image.indexOf('/')
  if (i < 0) return DOCKER_HUB
  const first = image.slice(0, i)
  if (first.includes('.') || first.includes(':') || first === 'localhost') return first === 'docker.io' || first === 'index.docker.io' ? DOCKER_HUB : first
  return DOCKER_HUB
}

/** `https://registry:5000/v2/` → `registry:5000` (how docker matches `auths` keys). */
function hostOf(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '')
}

/** The credentials for `image` in a docker config document, or undefined when it has none for that registry. */
export function authFromDockerConfig(config: unknown, image: string): RegistryAuth | undefined {
  const registry = registryOf(image)
  const auths = (config as { auths?: Record<string, { auth?: string; username?: string; password?: string; email?: string }> } | null)?.auths ?? {}
  const want = registry === DOCKER_HUB ? 'index.docker.io' : registry
  const key = Object.keys(auths).find((k) => k === registry || hostOf(k) === want)
  const entry = key === undefined ? undefined : auths[key]
  if (!entry) return undefined
  let username = entry.username ?? ''
  let password = entry.password ?? ''
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8')
    const colon = text.indexOf(':')
    if (colon < 0) throw new ConfigError(`docker config: auths["${key}"].auth is not base64 of user:password`)
    username = text.slice(0, colon)
    password = text.slice(colon + 1)
  }
  return { username, password, serveraddress: registry, ...(entry.email ? { email: entry.email } : {}) }
}

/** Read the docker config and return the credentials for `image` (undefined: none stored, as docker sends none). */
export function registryAuthFor(image: string, env: NodeJS.ProcessEnv = process.env): RegistryAuth | undefined {
  const dir = env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker')
  const path = join(dir, 'config.json')
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch {
    throw new ConfigError(`${path} is not valid JSON`)
  }
  return authFromDockerConfig(config, image)
}
