import { MeshError } from '../src/base/errors.ts'

/** The one line the CLI prints for an error (after `mesh: `): a MeshError's message, or a system error explained. */
export function errorMessage(err: unknown): string {
  if (err instanceof MeshError) return err.message
  const e = err as NodeJS.ErrnoException
  if (e && e.code === 'EADDRINUSE') return `address already in use (${(e as { address?: string }).address ?? ''}:${(e as { port?: number }).port ?? ''}): is another agent running? use --bind`
  if (e && e.code === 'EADDRNOTAVAIL') return `cannot bind ${(e as { address?: string }).address ?? 'that address'}: it is not an address of this host (check --bind)`
  if (e && e.code === 'EACCES') return `permission denied: ${e.message}`
  return e?.message ?? String(err)
}
