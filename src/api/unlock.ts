/**
 * Autolock's words, shared by the agent's `--init --autolock` banner and `mesh unlock-key` (Swarm's text).
 * `POST /v1/unlock` `{key}` unlocks a locked manager; `GET /v1/unlock-key` and `POST /v1/unlock-key/rotate` answer
 * `{key}` (admin).
 */
export function unlockKeyText(key: string): string {
  return '\nTo unlock a mesh manager after it restarts, run `mesh unlock` and provide the following key:\n\n' +
    `    ${key}\n\n` +
    'Remember to store this key in a password manager: without it you will not be able to restart the manager.\n'
}

/** `POST /v1/unlock` body. */
export interface UnlockRequest {
  key: string
}

/** `GET /v1/unlock-key`, `POST /v1/unlock-key/rotate` answer. */
export interface UnlockKeyAnswer {
  key: string
}
