import type express from 'express'
import type { Request, Response } from 'express'
import { DEFAULT_NETWORK, networkSpecFromRequest, type NetworkRecord, type NetworkTaskAddress, type TaskRecord } from '../../api/index.ts'
import type { Manager } from '../manager.ts'
import { AddressPoolExhaustedError } from '../networks/index.ts'
import { requireAdmin } from './auth.ts'
import { sendError as fail } from './http-error.ts'
import { RequestError } from './request-error.ts'

/**
 * `/v1/networks` (admin): list (the default network `mesh` first, as a record built from the overlay), create, inspect
 * (the record plus the addresses of the tasks on it, `tasks`), remove (refused while in use; `mesh` never).
 * An exhausted address pool answers 409.
 */

export type NetworkInspect = NetworkRecord & { tasks: NetworkTaskAddress[] }

export function mountNetworks(app: express.Express, m: Manager): void {
  app.get('/v1/networks', requireAdmin, (_req, res) => { res.json(m.networks.list()) })
  app.get('/v1/networks/:id', requireAdmin, (req, res) => {
    const n = m.networks.get(req.params.id as string)
    if (!n) return fail(res, 404, 'MESH_ERR_NOT_FOUND', `network "${req.params.id}" not found`)
    const inspect: NetworkInspect = { ...n, tasks: addressesOn(n, m.listTasks()) }
    res.json(inspect)
  })
  app.post('/v1/networks', requireAdmin, async (req: Request, res: Response) => {
    const r = networkSpecFromRequest(req.body)
    if ('problem' in r) return fail(res, 400, 'MESH_ERR_INVALID', r.problem)
    try {
      res.status(201).json(await m.networks.create(r.spec))
    } catch (err) {
      if (err instanceof AddressPoolExhaustedError) throw new RequestError(409, err.code, err.message)
      throw err
    }
  })
  app.delete('/v1/networks/:id', requireAdmin, async (req, res) => {
    await m.networks.remove(req.params.id as string)
    res.status(204).end()
  })
}

/** The live tasks with an address on the network (the default network: tasks on no user network). */
function addressesOn(n: NetworkRecord, tasks: readonly TaskRecord[]): NetworkTaskAddress[] {
  const out: NetworkTaskAddress[] = []
  for (const t of tasks) {
    if (t.desiredState === 'remove' || t.nodeId === '') continue
    const ip = n.spec.name === DEFAULT_NETWORK && n.vni === 0 ? (t.networks ? undefined : t.ip) : t.networks?.find((a) => a.network === n.id)?.ip
    if (ip) out.push({ taskId: t.id, serviceName: t.serviceName, slot: t.slot, nodeId: t.nodeId, ip })
  }
  return out.sort((a, b) => (a.serviceName < b.serviceName ? -1 : a.serviceName > b.serviceName ? 1 : a.slot - b.slot || (a.nodeId < b.nodeId ? -1 : 1)))
}
