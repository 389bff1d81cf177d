/**
 * What the API says when the managers lost their quorum (issue 15): a write the store could not commit answers 503
 * with one line, `no quorum: 1 of 3 managers reachable` (counts from the membership this manager last saw); a read
 * is answered from this manager's view with `Mesh-Stale: true` when that view may lag (no quorum on the last probe,
 * or no leader known), and the CLI warns about it.
 */
import type { NextFunction, Request, Response } from 'express'
import type { Manager } from '../manager.ts'
import { NoQuorumError } from '../store-errors.ts'
import { sendError } from './http-error.ts'

/** The header a possibly stale read carries (lowercase on the wire, as Node sends it). */
export const STALE_HEADER = 'Mesh-Stale'

/** Marks reads (GET, HEAD) answered while this manager's view may be stale. */
export function staleReads(m: Pick<Manager, 'staleView'>): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && m.staleView()) res.setHeader(STALE_HEADER, 'true')
    next()
  }
}

/** Answers a write refused for lack of quorum (true), else leaves `err` to the caller (false). */
export function answerNoQuorum(m: Pick<Manager, 'noQuorumMessage'>, err: unknown, res: Response): boolean {
  if (!(err instanceof NoQuorumError)) return false
  sendError(res, 503, err.code, m.noQuorumMessage(err))
  return true
}
