import type { Response } from 'express'

/** The manager API's error answer: `{error: {code, message}}` with a 4xx/5xx status (one shape for every route). */
export function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } })
}
