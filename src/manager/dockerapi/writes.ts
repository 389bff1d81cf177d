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

/** The 501 message for a write: `… use the mesh CLI (mesh service create …)`. */
export function readOnlyMessage(method: string, path: string): string {
  const p = path.replace(/\/+$/, '')
  const hit = COMMANDS.find(([m, re]) => m === method && re.test(p))
  return hit ? `${READ_ONLY} (${hit[2]} …)` : READ_ONLY
}
