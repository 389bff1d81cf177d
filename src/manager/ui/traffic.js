// mesh dashboard: live traffic. The manager pushes `traffic` events on /v1/ui/stream (the whole 10-minute window
// first, then the last buckets once per 5 s bucket); this file keeps the window, draws per service its rates and a
// sparkline, per node pair its tunnel throughput and handshake age, and the traffic view (SVG: nodes, services and
// the traffic between them). No library, no polling; figures exposed as data-* attributes for tests.
// Wrapped in a function: app.js is a classic script too, and names here must not meet its globals.
;(() => {
'use strict'

const SVG_NS = 'http://www.w3.org/2000/svg'
const COLUMNS = ['conns', 'bytesIn', 'bytesOut', 'errors', 'retries']

function svgEl(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag)
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v))
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c))
  return e
}

function htmlEl(tag, attrs, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v))
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c))
  return e
}

function bytesRate(x) {
  if (x < 1) return '0 B/s'
  const units = ['B/s', 'kB/s', 'MB/s', 'GB/s']
  let i = 0
  while (x >= 1000 && i < units.length - 1) { x /= 1000; i++ }
  return `${x < 10 ? x.toFixed(1) : Math.round(x)} ${units[i]}`
}

function perS(x) {
  return x === 0 ? '0' : x < 10 ? x.toFixed(1) : String(Math.round(x))
}

function age(s) {
  if (s === null || s === undefined) return 'never'
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`
}

/** The window the page holds: per service the five series (per second, oldest first) ending at bucket `t`. */
const state = { t: 0, bucketMs: 0, size: 0, services: new Map(), links: [] }

/** Lay a `traffic` event over the window: the first (or one as long as the window) replaces it, later ones shift it. */
function mergeTraffic(msg) {
  const k = msg.services.length > 0 ? msg.services[0].series.conns.length : 0
  const full = state.size !== msg.window || k >= msg.window || msg.bucketMs !== state.bucketMs
  if (full) {
    state.size = msg.window
    state.services = new Map()
  }
  const shift = full ? 0 : Math.max(0, Math.round((msg.t - state.t) / state.bucketMs))
  const next = new Map()
  for (const s of msg.services) {
    const had = state.services.get(s.service)
    const series = {}
    for (const c of COLUMNS) {
      let col = had ? had.series[c].slice(Math.min(shift, state.size)) : []
      while (col.length < state.size) col = had ? col.concat([0]) : [0].concat(col)
      col.splice(col.length - s.series[c].length, s.series[c].length, ...s.series[c])
      series[c] = col.slice(-state.size)
    }
    next.set(s.service, { rate: s.rate, nodes: s.nodes, series })
  }
  state.services = next
  state.links = msg.links
  state.t = msg.t
  state.bucketMs = msg.bucketMs
}

function sparkline(name, rate, series) {
  const w = 160
  const h = 28
  const max = Math.max(1, ...series.conns, ...series.errors)
  const n = series.conns.length
  const line = (col) => col.map((v, i) => `${(n <= 1 ? w : (i * w) / (n - 1)).toFixed(1)},${(h - 1 - (v / max) * (h - 2)).toFixed(1)}`).join(' ')
  return svgEl('svg', { class: 'spark', viewBox: `0 0 ${w} ${h}`, width: w, height: h, 'data-service': name, 'data-rate': rate.conns, 'data-errors': rate.errors, 'data-max': max },
    svgEl('title', {}, `${name}: connections/s over the last ${Math.round((n * state.bucketMs) / 60000)} min (peak ${perS(max)}/s)`),
    svgEl('polyline', { class: 'spark-conns', points: line(series.conns) }),
    series.errors.some((v) => v > 0) ? svgEl('polyline', { class: 'spark-errors', points: line(series.errors) }) : null)
}

function renderServices() {
  const rows = [...state.services].map(([name, s]) => htmlEl('tr', { 'data-traffic-service': name },
    htmlEl('td', {}, name),
    htmlEl('td', { class: 'num', 'data-rate': s.rate.conns }, perS(s.rate.conns)),
    htmlEl('td', { class: 'num', 'data-bytes-in': s.rate.bytesIn }, bytesRate(s.rate.bytesIn)),
    htmlEl('td', { class: 'num', 'data-bytes-out': s.rate.bytesOut }, bytesRate(s.rate.bytesOut)),
    htmlEl('td', { class: s.rate.errors > 0 ? 'num bad' : 'num', 'data-errors': s.rate.errors }, perS(s.rate.errors)),
    htmlEl('td', { class: s.rate.retries > 0 ? 'num warn' : 'num', 'data-retries': s.rate.retries }, perS(s.rate.retries)),
    htmlEl('td', {}, sparkline(name, s.rate, s.series))))
  document.querySelector('#traffic tbody').replaceChildren(...rows)
  document.querySelector('#no-traffic').hidden = rows.length > 0
}

function renderLinks() {
  const rows = state.links.map((l) => htmlEl('tr', { 'data-link': `${l.a}|${l.b}`, 'data-bps': l.aToB + l.bToA, 'data-handshake-age': l.handshakeAgeS === null ? '' : l.handshakeAgeS },
    htmlEl('td', {}, `${l.a} ↔ ${l.b}`),
    htmlEl('td', { class: 'num', title: `${l.a} → ${l.b}` }, `→ ${bytesRate(l.aToB)}`),
    htmlEl('td', { class: 'num', title: `${l.b} → ${l.a}` }, `← ${bytesRate(l.bToA)}`),
    htmlEl('td', { class: l.handshakeAgeS === null || l.handshakeAgeS > 180 ? 'warn' : '' }, age(l.handshakeAgeS))))
  document.querySelector('#tunnels tbody').replaceChildren(...rows)
  document.querySelector('#no-tunnels').hidden = rows.length > 0
}

/** Stroke width for a rate in bytes/s: 1 when idle, growing with the order of magnitude, at most 12. */
function weight(bps) {
  return bps <= 0 ? 1 : Math.min(12, 1 + 1.5 * Math.log10(1 + bps / 100))
}

/** The traffic view: nodes left, services right; node ↔ node tunnels as arcs, ingress node → service as lines. */
function renderMap(nodes) {
  const services = [...state.services]
  const rowH = 54
  const h = Math.max(nodes.length, services.length, 1) * rowH + 30
  const nx = 150
  const sx = 520
  const boxW = 120
  const ny = new Map(nodes.map((n, i) => [n.name, 30 + i * rowH]))
  const sy = new Map(services.map(([name], i) => [name, 30 + i * rowH]))
  const edges = []
  for (const [name, s] of services) {
    for (const e of s.nodes) {
      const y1 = ny.get(e.node)
      if (y1 === undefined) continue
      const y2 = sy.get(name)
      edges.push(svgEl('path', { class: 'tv-edge', d: `M ${nx + boxW / 2} ${y1} C ${(nx + sx) / 2} ${y1}, ${(nx + sx) / 2} ${y2}, ${sx - boxW / 2} ${y2}`,
        'stroke-width': weight(e.bytesPerS).toFixed(1), 'data-from': e.node, 'data-to': name, 'data-rate': e.conns, 'data-bps': e.bytesPerS },
      svgEl('title', {}, `${e.node} → ${name}: ${perS(e.conns)} conn/s, ${bytesRate(e.bytesPerS)}`)))
      edges.push(svgEl('text', { class: 'tv-label', x: (nx + sx) / 2, y: (y1 + y2) / 2 - 4, 'text-anchor': 'middle' }, `${perS(e.conns)}/s · ${bytesRate(e.bytesPerS)}`))
    }
  }
  for (const l of state.links) {
    const y1 = ny.get(l.a)
    const y2 = ny.get(l.b)
    if (y1 === undefined || y2 === undefined) continue
    const bend = nx - boxW / 2 - 30 - Math.abs(y2 - y1) / 4
    const bps = l.aToB + l.bToA
    edges.push(svgEl('path', { class: `tv-tunnel${l.handshakeAgeS === null || l.handshakeAgeS > 180 ? ' stale' : ''}`,
      d: `M ${nx - boxW / 2} ${y1} C ${bend} ${y1}, ${bend} ${y2}, ${nx - boxW / 2} ${y2}`, 'stroke-width': weight(bps).toFixed(1), 'data-a': l.a, 'data-b': l.b, 'data-bps': bps },
    svgEl('title', {}, `${l.a} ↔ ${l.b}: ${bytesRate(l.aToB)} → , ${bytesRate(l.bToA)} ←, handshake ${age(l.handshakeAgeS)}`)))
  }
  const box = (cls, data, x, y, label, sub) => svgEl('g', { class: cls, ...data },
    svgEl('rect', { x: x - boxW / 2, y: y - 18, width: boxW, height: 36, rx: 6 }),
    svgEl('text', { x, y: y - 2, 'text-anchor': 'middle', class: 'tv-name' }, label),
    svgEl('text', { x, y: y + 12, 'text-anchor': 'middle', class: 'tv-sub' }, sub))
  const nodeBoxes = nodes.map((n) => box(`tv-node ${n.state}`, { 'data-node': n.name }, nx, ny.get(n.name), n.name, n.role))
  const serviceBoxes = services.map(([name, s]) => box('tv-service', { 'data-service': name, 'data-rate': s.rate.conns }, sx, sy.get(name), name, `${perS(s.rate.conns)} conn/s`))
  const map = document.querySelector('#traffic-map')
  map.setAttribute('viewBox', `0 0 640 ${h}`)
  map.setAttribute('height', String(h))
  map.replaceChildren(...edges, ...nodeBoxes, ...serviceBoxes)
}

/** The nodes the traffic view draws (from the last `view`). */
let lastNodes = []

window.meshTraffic = {
  /** A `traffic` event from the stream. */
  update(msg) {
    mergeTraffic(msg)
    renderServices()
    renderLinks()
    renderMap(lastNodes)
  },
  /** A new cluster view: the traffic view's nodes may have changed. */
  nodes(nodes) {
    lastNodes = nodes
    renderMap(lastNodes)
  },
}
})()
