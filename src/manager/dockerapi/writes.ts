/**
 * Writes on mesh's Docker API (pure): every POST/PUT/DELETE answers 501 with a line naming the mesh command that
 * does it, where there is one: mesh changes the cluster through its own CLI and API only (one validator per input).
 */

export const READ_ONLY = "mesh's Docker API is read-only: use the mesh CLI"

/** [method, path pattern, mesh command] — the first match names the command. */
const COMMANDS: [string, RegExp, string][] = [
  ['POST', /^\/services\/create$/, 'mesh service create'],
  ['POST', /^\/services\/[^/]+\/update$/, 'mesh service update'],
  ['DELETE', /^\/services\/[^/]+$/, 'mesh service rm'],
  ['POST', /^\/nodes\/[^/]+\/update$/, 'mesh node update'],
  ['DELETE', /^\/nodes\/[^/]+$/, 'mesh node rm'],
  ['POST', /^\/networks\/create$/, 'mesh network create'],
  ['DELETE', /^\/networks\/[^/]+$/, 'mesh network rm'],
  ['POST', /^\/secrets\/create$/, 'mesh secret create'],
  ['DELETE', /^\/secrets\/[^/]+$/, 'mesh secret rm'],
  ['POST', /^\/configs\/create$/, 'mesh config create'],
  ['DELETE', /^\/configs\/[^/]+$/, 'mesh config rm'],
  ['POST', /^\/swarm\/init$/, 'mesh agent --init'],
  ['POST', /^\/swarm\/join$/, 'mesh agent --join'],
  ['POST', /^\/swarm\/leave$/, 'mesh leave'],
  ['POST', /^\/swarm\/unlock$/, 'mesh unlock'],
]

/** Reads docker clients make that this API does not serve, with the mesh command that shows the same. */
const NOT_SERVED: [RegExp, string][] = [
  [/^\/services\/[^/]+\/logs$/, 'mesh service logs'],
  [/^\/tasks\/[^/]+\/logs$/, 'mesh service logs'],
  [/^\/secrets(\/[^/]+)?$/, 'mesh secret ls'],
  [/^\/configs(\/[^/]+)?$/, 'mesh config ls'],
  [/^\/swarm$/, 'mesh info'],
]

/** A read this API does not serve but mesh's CLI does: the 501 message naming the command, else null (a 404). */
export function notServedMessage(path: string): string | null {
  const p = path.replace(/\/+$/, '')
  const hit = NOT_SERVED.find(([re]) => re.test(p))
  return hit ? `mesh's Docker API does not serve ${p}: use the mesh CLI (${hit[1]} …)` : null
}

/** The 501 message for a write: `… use the mesh CLI (mesh service create …)`. */
export function readOnlyMessage(method: string, path: string): string {
  const p = path.replace(/\/+$/, '')
  const hit = COMMANDS.find(([m, re]) => m === method && re.test(p))
  return hit ? `${READ_ONLY} (${hit[2]} …)` : READ_ONLY
}
