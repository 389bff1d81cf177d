// mesh dashboard: renders the manager's cluster view, pushed as server-sent events from /v1/ui/stream
// (`view`: the whole compact view after each change; `event`: one cluster event; `traffic`: rates, drawn by
// traffic.js). No polling, no framework.
'use strict'

const $ = (sel) => document.querySelector(sel)
const TERMINAL = new Set(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned'])

function el(tag, attrs, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') e.className = v
    else if (k.startsWith('data-')) e.setAttribute(k, String(v))
    else e[k] = v
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c))
  return e
}

function badge(text, cls) {
  return el('span', { class: `badge ${cls || text}` }, text)
}

function portsText(ports) {
  return ports.map((p) => `${p.published}→${p.target}/${p.protocol}${p.mode === 'host' ? ' (host)' : ''}`).join(', ')
}

function renderServices(view) {
  const body = $('#services tbody')
  body.replaceChildren(...view.services.map((s) => el('tr', { 'data-service': s.name },
    el('td', {}, s.name),
    el('td', {}, s.mode),
    el('td', { class: s.running >= s.desired ? 'replicas-ok' : 'replicas-short', 'data-replicas': `${s.running}/${s.desired}` },
      `${s.running}/${s.desired}${s.completed === undefined ? '' : ` (${s.completed} completed)`}`),
    el('td', {}, el('code', {}, s.image)),
    el('td', {}, portsText(s.ports)),
    el('td', {}, s.vip || ''),
    el('td', {}, s.update || ''),
  )))
  $('#no-services').hidden = view.services.length > 0
}

function taskCard(t) {
  const stopping = t.desired !== 'running'
  return el('div', { class: `task${stopping ? ' stopping' : ''}`, 'data-task': t.id, 'data-service': t.service, 'data-slot': t.slot, 'data-state': t.state,
    title: `${t.id}${t.ip ? `\n${t.ip}` : ''}${t.message ? `\n${t.message}` : ''}` },
  el('span', { class: 'task-state' }, stopping && !TERMINAL.has(t.state) ? `${t.state} → ${t.desired}` : t.state),
  el('div', { class: 'task-name' }, t.slot > 0 ? `${t.service}.${t.slot}` : t.service),
  el('div', { class: 'task-image' }, t.image),
  t.err ? el('div', { class: 'task-msg' }, t.err) : null,
  )
}

function ago(s) {
  if (s === undefined) return ''
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`
}

function renderNodes(view) {
  const byNode = new Map(view.nodes.map((n) => [n.id, []]))
  const unassigned = []
  for (const t of view.tasks) (byNode.get(t.nodeId) || unassigned).push(t)
  const cols = view.nodes.map((n) => el('div', { class: `node ${n.state}`, 'data-node': n.name },
    el('div', { class: 'node-head' },
      el('div', { class: 'node-name' }, n.name),
      el('div', {}, badge(n.role, n.role === 'manager' ? 'manager' : ''), badge(n.state), badge(n.availability)),
      el('div', { class: 'node-meta' }, n.addr, n.subnet ? ` · ${n.subnet}` : ''),
      n.tunnel ? el('div', { class: 'node-meta' }, 'tunnel ', badge(n.tunnel), n.handshakeAgeS !== undefined ? ` handshake ${ago(n.handshakeAgeS)} ago` : '') : null,
    ),
    el('div', { class: 'tasks' }, ...(byNode.get(n.id) || []).map(taskCard)),
  ))
  if (unassigned.length > 0) {
    cols.push(el('div', { class: 'node', 'data-node': '' },
      el('div', { class: 'node-head' }, el('div', { class: 'node-name' }, 'unassigned')),
      el('div', { class: 'tasks' }, ...unassigned.map(taskCard))))
  }
  $('#nodes').replaceChildren(...cols)
}

function render(view) {
  const ready = view.nodes.filter((n) => n.state === 'ready').length
  const running = view.tasks.filter((t) => t.state === 'running' && t.desired === 'running').length
  $('#summary').textContent = `${view.nodes.length} nodes (${ready} ready) · ${view.services.length} services · ${running} tasks running · revision ${view.revision}`
  renderServices(view)
  renderNodes(view)
  window.meshTraffic.nodes(view.nodes)
}

const seenEvents = new Set()
function addEvent(e) {
  if (seenEvents.has(e.id)) return
  seenEvents.add(e.id)
  const a = e.attributes || {}
  const extra = ['from', 'node', 'replicas', 'message', 'err'].filter((k) => a[k]).map((k) => `${k}=${a[k]}`).join(' ')
  const li = el('li', { 'data-event': e.id }, el('span', { class: 't' }, new Date(e.time).toLocaleTimeString()), `${e.type} ${e.action} ${e.subject} ${extra}`)
  const list = $('#events')
  list.prepend(li)
  while (list.children.length > 100) list.lastElementChild.remove()
}

// The session is the manager's: when it ends (logout, idle time, lifetime) the stream is closed and refused,
// and /ui serves the login page again.
async function sessionOver() {
  try {
    const r = await fetch('/v1/ui/view', { credentials: 'same-origin', cache: 'no-store' })
    return r.status === 401 || r.status === 403
  } catch {
    return false // the manager is unreachable: keep waiting for the stream to come back
  }
}

function toLogin() {
  if (window.meshStream) window.meshStream.close()
  window.location.replace('/ui')
}

async function logout() {
  try {
    await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin', redirect: 'manual' })
  } finally {
    toLogin()
  }
}

function connect() {
  const conn = $('#conn')
  const es = new EventSource('/v1/ui/stream')
  es.addEventListener('open', () => { conn.className = 'conn conn-live'; conn.title = 'live' })
  es.addEventListener('view', (m) => render(JSON.parse(m.data)))
  es.addEventListener('event', (m) => addEvent(JSON.parse(m.data)))
  es.addEventListener('traffic', (m) => window.meshTraffic.update(JSON.parse(m.data)))
  // EventSource reconnects by itself (the server asks for 2 s between attempts); just show the state.
  es.addEventListener('error', () => {
    conn.className = es.readyState === EventSource.CLOSED ? 'conn conn-down' : 'conn conn-wait'
    conn.title = 'reconnecting…'
    sessionOver().then((over) => { if (over) toLogin() })
  })
  window.meshStream = es
}

$('#logout').addEventListener('click', () => { void logout() })

connect()
