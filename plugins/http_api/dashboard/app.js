// rmqttd dashboard: polls the HTTP API (/api/v1, RMQTT's routes and JSON shapes) and renders
// the overview, clients, subscriptions, retained messages and plugins.
//
// Every value from the API is untrusted (client ids, usernames, topics and payloads are chosen
// by MQTT clients): elements are built with createElement and filled with textContent only;
// nothing is parsed as HTML.
'use strict';

const API = '/api/v1';
const HISTORY = 180;  // rate samples kept for the chart (15 min at the default 5 s)
const REQUEST_TIMEOUT_MS = 15000;

// What the page holds between refreshes (tests/integration/dashboard reads state.rates).
const state = {
  view: 'overview',
  timer: null,
  busy: false,
  again: false,
  clients: [],
  subscriptions: [],
  retained: [],
  // Rate history: {t (ms, monotonic), in, out} per sample; the counters of the previous poll.
  rates: [],
  last: null,
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = (id) => document.getElementById(id);

// el('td', {className: 'x'}, 'text', otherNode): children are text (as text nodes) or nodes.
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function setText(id, value) {
  $(id).textContent = value === undefined || value === null ? '–' : String(value);
}

function fillTable(id, rows) {
  $(id).tBodies[0].replaceChildren(...rows);
}

function emptyRow(columns, text) {
  return el('tr', { className: 'empty' }, el('td', { colSpan: columns }, text));
}

// What the last poll and the last action (a kick) failed with; the action's error stays until
// the next action or Dismiss, the poll's until a poll succeeds.
const errors = { poll: '', action: '' };

function setError(kind, message) {
  errors[kind] = message;
  const text = [errors.action, errors.poll].filter(Boolean).join('\n');
  $('error-text').textContent = text;
  $('error').hidden = !text;
}

// ---------------------------------------------------------------------------------------------
// API access

function authHeader() {
  const token = sessionStorage.getItem('rmqtt.token') || '';
  if (!token) return null;
  const scheme = sessionStorage.getItem('rmqtt.scheme') || 'Bearer';
  if (scheme === 'Basic') {
    // btoa takes Latin-1; encode the UTF-8 bytes of "user:password".
    const bytes = new TextEncoder().encode(token);
    return 'Basic ' + btoa(String.fromCharCode(...bytes));
  }
  return 'Bearer ' + token;
}

// credentials 'omit': the browser neither adds credentials of its own nor, on a 401 with a
// Basic challenge, holds the request to prompt for a password; the Authorization header set here
// is what authenticates. A request gets REQUEST_TIMEOUT_MS to finish.
async function api(method, path) {
  const headers = { Accept: 'application/json' };
  const auth = authHeader();
  if (auth) headers.Authorization = auth;
  const what = `${method} ${API}${path}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  let response;
  let body;
  try {
    response = await fetch(API + path, {
      method, headers, cache: 'no-store', credentials: 'omit', signal: abort.signal,
    });
    body = await response.text();
  } catch (e) {
    const why = abort.signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
                                     : e.message;
    throw new Error(`${what}: the broker did not answer (${why})`);
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    // The API's errors are {"code": status, "message": why}; anything else is shown cut short.
    let detail = body.length > 300 ? body.slice(0, 300) + '…' : body;
    try {
      detail = JSON.parse(body).message || detail;
    } catch (e) { /* not JSON */ }
    if (response.status === 401) {
      detail += ' (enter the token, or user:password for Basic, above)';
    }
    throw new Error(`${what}: ${response.status} ${response.statusText}: ${detail}`);
  }
  try {
    return JSON.parse(body);
  } catch (e) {
    return body;  // RMQTT answers a few routes with text (DELETE /clients/{id}: the connection id)
  }
}

// Lists are arrays; per-node answers (/brokers, /stats, /metrics, /plugins) are an array with one
// entry per node, or one object for one node.
function asList(value) {
  if (Array.isArray(value)) return value;
  return value && typeof value === 'object' ? [value] : [];
}

// Sums the numeric fields of `field` over the nodes of a /stats or /metrics answer.
function sumOverNodes(answer, field) {
  const total = {};
  for (const entry of asList(answer)) {
    const values = entry[field] || {};
    for (const [key, v] of Object.entries(values)) {
      if (typeof v === 'number') total[key] = (total[key] || 0) + v;
    }
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
// Overview

// Seconds as "2d 3h 4m 5s" (leading zero units left out); RMQTT's text as it is.
function formatUptime(value) {
  if (typeof value !== 'number') return value;
  const s = Math.floor(value);
  const parts = [[Math.floor(s / 86400), 'd'], [Math.floor((s % 86400) / 3600), 'h'],
                 [Math.floor((s % 3600) / 60), 'm'], [s % 60, 's']];
  const first = parts.findIndex(([n]) => n > 0);
  return parts.slice(first < 0 ? 3 : first).map(([n, unit]) => `${n}${unit}`).join(' ');
}

async function refreshOverview() {
  const [brokers, stats, metrics] = await Promise.all([
    api('GET', '/brokers'), api('GET', '/stats'), api('GET', '/metrics'),
  ]);
  const nodes = asList(brokers);
  const first = nodes[0] || {};
  const nodeText = nodes.map((n) => n.node_name || n.node_id).join(', ');
  setText('stat-node', nodeText);
  setText('stat-version', first.version);
  setText('stat-uptime', formatUptime(first.uptime_seconds ?? first.uptime));
  $('node-label').textContent = nodeText ? `node ${nodeText}` : '';

  const s = sumOverNodes(stats, 'stats');
  setText('stat-connections', s['connections.count']);
  setText('stat-sessions', s['sessions.count']);
  setText('stat-subscriptions', s['subscriptions.count']);
  setText('stat-topics', s['topics.count']);
  setText('stat-retained', s['retained.count'] ?? s['retaineds.count']);

  // RMQTT's names, else rmqttd's own counters of PUBLISH packets received and sent.
  const m = sumOverNodes(metrics, 'metrics');
  addRateSample(m['messages.publish'] ?? m['messages.received'] ?? 0,
                m['messages.delivered'] ?? m['messages.sent'] ?? 0);
}

function addRateSample(received, delivered) {
  const now = performance.now();  // monotonic
  const last = state.last;
  state.last = { t: now, received, delivered };
  // A counter that went down means the broker restarted: start the line again.
  if (!last || received < last.received || delivered < last.delivered) return;
  const seconds = (now - last.t) / 1000;
  if (seconds <= 0) return;
  state.rates.push({
    t: now,
    in: (received - last.received) / seconds,
    out: (delivered - last.delivered) / seconds,
  });
  if (state.rates.length > HISTORY) state.rates.splice(0, state.rates.length - HISTORY);
  const latest = state.rates[state.rates.length - 1];
  $('rate-now').textContent = `now: ${latest.in.toFixed(1)} in, ${latest.out.toFixed(1)} out per second`;
  drawRates();
}

function niceMax(v) {
  if (v <= 1) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 5, 10]) {
    if (f * p >= v) return f * p;
  }
  return 10 * p;
}

function drawRates() {
  const canvas = $('rates');
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);

  const css = getComputedStyle(canvas);
  const colour = (name) => css.getPropertyValue(name).trim();
  const left = 48, right = 12, top = 12, bottom = 24;
  const w = width - left - right, h = height - top - bottom;
  const samples = state.rates;
  const max = niceMax(Math.max(0, ...samples.map((r) => Math.max(r.in, r.out))));

  g.font = '12px system-ui, sans-serif';
  g.fillStyle = colour('--muted');
  g.strokeStyle = colour('--grid');
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + h - (h * i) / 4;
    g.beginPath();
    g.moveTo(left, y);
    g.lineTo(left + w, y);
    g.stroke();
    g.fillText(String(+(max * i / 4).toFixed(2)), 4, y + 4);
  }
  const spanSeconds = samples.length > 1 ? (samples[samples.length - 1].t - samples[0].t) / 1000 : 0;
  g.fillText(samples.length > 1 ? `last ${Math.round(spanSeconds)} s` : 'waiting for samples…',
             left, height - 6);

  if (samples.length < 2 || spanSeconds <= 0) return;
  // x by time, so that a change of the refresh interval keeps the scale.
  const first = samples[0].t;
  const x = (r) => left + (w * (r.t - first)) / (spanSeconds * 1000);
  const y = (v) => top + h - (h * v) / max;
  for (const [key, name] of [['in', '--in'], ['out', '--out']]) {
    g.strokeStyle = colour(name);
    g.lineWidth = 2;
    g.beginPath();
    samples.forEach((r, i) => (i ? g.lineTo(x(r), y(r[key])) : g.moveTo(x(r), y(r[key]))));
    g.stroke();
  }
}

// ---------------------------------------------------------------------------------------------
// Lists

function matches(query, ...fields) {
  if (!query) return true;
  const q = query.toLowerCase();
  return fields.some((f) => f !== undefined && f !== null && String(f).toLowerCase().includes(q));
}

function showCount(id, shown, total) {
  $(id).textContent = shown === total ? `${total}` : `${shown} of ${total}`;
}

async function refreshClients() {
  state.clients = asList(await api('GET', '/clients'));
  renderClients();
}

function renderClients() {
  const query = $('clients-search').value.trim();
  const rows = state.clients.filter((c) => matches(query, c.clientid, c.username));
  showCount('clients-count', rows.length, state.clients.length);
  fillTable('clients-table', rows.length ? rows.map(clientRow)
                                         : [emptyRow(9, query ? 'No client matches.' : 'No clients.')]);
}

function clientRow(c) {
  const online = c.connected === true;
  const address = c.ip_address ? (c.port ? `${c.ip_address}:${c.port}` : c.ip_address) : '';
  const kick = el('button', { type: 'button', className: 'danger' }, 'Kick');
  kick.dataset.clientid = c.clientid;
  kick.addEventListener('click', () => kickClient(c.clientid));
  const row = el('tr', {},
    el('td', { className: 'mono' }, c.clientid),
    el('td', {}, c.username ?? ''),
    el('td', { className: 'mono' }, address),
    el('td', {}, c.proto_ver ?? ''),
    el('td', {}, el('span', { className: online ? 'badge on' : 'badge off' },
                    online ? 'online' : 'offline')),
    el('td', {}, c.connected_at ?? ''),
    el('td', { className: 'num' }, c.subscriptions_cnt ?? ''),
    el('td', { className: 'num' }, c.mqueue_len ?? ''),
    el('td', {}, kick));
  row.dataset.clientid = c.clientid;
  return row;
}

async function kickClient(clientid) {
  if (!window.confirm(`Kick client "${clientid}"? Its connection is closed and its session discarded.`)) {
    return;
  }
  try {
    await api('DELETE', `/clients/${encodeURIComponent(clientid)}`);
    setError('action', '');
  } catch (e) {
    setError('action', e.message);
  }
  await refresh();
}

async function refreshSubscriptions() {
  state.subscriptions = asList(await api('GET', '/subscriptions'));
  renderSubscriptions();
}

function renderSubscriptions() {
  const query = $('subscriptions-search').value.trim();
  const rows = state.subscriptions.filter((s) => matches(query, s.clientid, s.topic));
  showCount('subscriptions-count', rows.length, state.subscriptions.length);
  fillTable('subscriptions-table', rows.length ? rows.map((s) => el('tr', {},
    el('td', { className: 'mono' }, s.clientid),
    el('td', { className: 'mono' }, s.topic),
    el('td', { className: 'num' }, s.qos ?? ''),
    el('td', {}, s.share ?? ''),
    el('td', {}, s.node_id ?? '')))
    : [emptyRow(5, query ? 'No subscription matches.' : 'No subscriptions.')]);
}

// The payload as text when it is UTF-8 without control characters, else a hex preview.
function describePayload(base64) {
  let bytes;
  try {
    bytes = Uint8Array.from(atob(base64 || ''), (ch) => ch.charCodeAt(0));
  } catch (e) {
    return { text: String(base64), binary: false, size: String(base64).length };
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) {
      return { text, binary: false, size: bytes.length };
    }
  } catch (e) { /* not UTF-8 */ }
  const hex = Array.from(bytes.slice(0, 32), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return { text: hex + (bytes.length > 32 ? ' …' : ''), binary: true, size: bytes.length };
}

async function refreshRetained() {
  state.retained = asList(await api('GET', '/retains'));
  renderRetained();
}

function renderRetained() {
  const query = $('retained-search').value.trim();
  const rows = state.retained.filter((r) => matches(query, r.topic));
  showCount('retained-count', rows.length, state.retained.length);
  fillTable('retained-table', rows.length ? rows.map((r) => {
    const p = describePayload(r.payload);
    return el('tr', {},
      el('td', { className: 'mono' }, r.topic),
      el('td', { className: 'num' }, r.qos ?? ''),
      el('td', { className: 'num' }, `${p.size} B`),
      el('td', { className: p.binary ? 'mono payload binary' : 'payload' },
         p.binary ? `binary: ${p.text}` : p.text));
  }) : [emptyRow(4, query ? 'No retained message matches.' : 'No retained messages.')]);
}

async function refreshPlugins() {
  // /plugins: [{node, plugins: [{name, version, descr, active, inited, immutable}]}].
  const rows = [];
  for (const entry of asList(await api('GET', '/plugins'))) {
    const plugins = Array.isArray(entry.plugins) ? entry.plugins : [entry];
    for (const p of plugins) {
      const running = p.active === true;
      rows.push(el('tr', {},
        el('td', { className: 'mono' }, p.name),
        el('td', {}, el('span', { className: running ? 'badge on' : 'badge off' },
                        running ? 'running' : (p.inited ? 'stopped' : 'not available'))),
        el('td', {}, p.version ?? ''),
        el('td', {}, p.descr ?? ''),
        el('td', {}, entry.node ?? '')));
    }
  }
  fillTable('plugins-table', rows.length ? rows : [emptyRow(5, 'No plugins.')]);
}

// ---------------------------------------------------------------------------------------------
// Views, polling, settings

const refreshers = {
  clients: refreshClients,
  subscriptions: refreshSubscriptions,
  retained: refreshRetained,
  plugins: refreshPlugins,
};

// The overview is always polled (the chart needs a steady series); the visible list as well.
// A refresh asked for while one runs (a kick, a view change) runs again right after it.
async function refresh() {
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  try {
    do {
      state.again = false;
      const work = [refreshOverview()];
      if (refreshers[state.view]) work.push(refreshers[state.view]());
      const failed = (await Promise.allSettled(work)).filter((r) => r.status === 'rejected');
      setError('poll', failed.map((r) => r.reason.message).join('\n'));
    } while (state.again);
  } finally {
    state.busy = false;
  }
}

function schedule() {
  clearInterval(state.timer);
  const seconds = Number($('refresh-interval').value);
  state.timer = seconds > 0 ? setInterval(refresh, seconds * 1000) : null;
}

function showView() {
  const wanted = location.hash.replace('#', '');
  state.view = ['overview', ...Object.keys(refreshers)].includes(wanted) ? wanted : 'overview';
  for (const section of document.querySelectorAll('main > section')) {
    section.hidden = section.dataset.view !== state.view;
  }
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('active', link.dataset.view === state.view);
  }
  if (state.view === 'overview') drawRates();
}

function init() {
  $('auth-scheme').value = sessionStorage.getItem('rmqtt.scheme') || 'Bearer';
  $('auth-token').value = sessionStorage.getItem('rmqtt.token') || '';
  $('auth-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem('rmqtt.scheme', $('auth-scheme').value);
    sessionStorage.setItem('rmqtt.token', $('auth-token').value);
    refresh();
  });
  const interval = sessionStorage.getItem('rmqtt.refresh');
  if (interval !== null) $('refresh-interval').value = interval;
  $('refresh-interval').addEventListener('change', () => {
    sessionStorage.setItem('rmqtt.refresh', $('refresh-interval').value);
    schedule();
  });
  $('refresh-now').addEventListener('click', refresh);
  $('error-dismiss').addEventListener('click', () => setError('action', ''));
  $('clients-search').addEventListener('input', renderClients);
  $('subscriptions-search').addEventListener('input', renderSubscriptions);
  $('retained-search').addEventListener('input', renderRetained);
  window.addEventListener('hashchange', () => {
    showView();
    refresh();
  });
  window.addEventListener('resize', drawRates);
  showView();
  refresh();
  schedule();
}

init();
