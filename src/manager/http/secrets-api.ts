import type express from 'express'
import type { Manager } from '../manager.ts'
import { requireAdmin } from './auth.ts'

/**
 * `/v1/secrets` and `/v1/configs` (admin): create (`{name, labels?, data}`, data = the value in base64), list,
 * inspect, update (`POST …/:id/update {labels?, data?}`: labels only, a `data` must be the stored value), remove. A secret's answers are SecretViews (never its value, sealed or not); a config's show its data.
 */
export function mountSecrets(app: express.Express, m: Manager): void {
  app.post('/v1/secrets', requireAdmin, async (req, res) => { res.status(201).json(await m.secrets.createSecret(req.body)) })
  app.get('/v1/secrets', requireAdmin, (_req, res) => { res.json(m.secrets.listSecrets()) })
  app.get('/v1/secrets/:id', requireAdmin, (req, res) => { res.json(m.secrets.getSecret(req.params.id as string)) })
  app.post('/v1/secrets/:id/update', requireAdmin, async (req, res) => { res.json(await m.secrets.update('secret', req.params.id as string, req.body)) })
  app.delete('/v1/secrets/:id', requireAdmin, async (req, res) => {
    await m.secrets.remove('secret', req.params.id as string)
    res.status(204).end()
  })
  app.post('/v1/configs', requireAdmin, async (req, res) => { res.status(201).json(await m.secrets.createConfig(req.body)) })
  app.get('/v1/configs', requireAdmin, (_req, res) => { res.json(m.secrets.listConfigs()) })
  app.get('/v1/configs/:id', requireAdmin, (req, res) => { res.json(m.secrets.getConfig(req.params.id as string)) })
  app.post('/v1/configs/:id/update', requireAdmin, async (req, res) => { res.json(await m.secrets.update('config', req.params.id as string, req.body)) })
  app.delete('/v1/configs/:id', requireAdmin, async (req, res) => {
    await m.secrets.remove('config', req.params.id as string)
    res.status(204).end()
  })
}
