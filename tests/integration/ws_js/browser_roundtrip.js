// A real browser against rmqttd's WebSocket listener: serves page.html and MQTT.js's browser
// bundle on 127.0.0.1, opens the page in headless Chromium with --dump-dom, and checks both what
// the page POSTed to /result and the DOM Chromium dumped. Exits 0 when the round trip passed.
// Chromium runs in its own process group, which is killed if it outlives its 90 s budget.
//
// usage: node browser_roundtrip.js <node_modules dir> <ws url> <chromium binary> <profile dir>
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { spawn } = require('child_process');

const [modules, wsUrl, chromium, profile] = process.argv.slice(2);
const page = fs.readFileSync(path.join(__dirname, 'page.html'));
const bundle = fs.readFileSync(path.join(modules, 'mqtt', 'dist', 'mqtt.min.js'));
// A 1x1 transparent GIF.
const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

let result = null;
const held = [];
function release() {
  while (held.length) held.pop().end(gif);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  } else if (req.method === 'GET' && url.pathname === '/mqtt.min.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    res.end(bundle);
  } else if (req.method === 'GET' && url.pathname === '/hold.gif') {
    res.writeHead(200, { 'Content-Type': 'image/gif' });
    held.push(res);
    if (result) release();
  } else if (req.method === 'POST' && url.pathname === '/result') {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      try {
        result = JSON.parse(body);
      } catch (e) {
        result = { ok: false, detail: 'unreadable result: ' + body };
      }
      res.writeHead(204);
      res.end();
      release();
    });
  } else {
    res.writeHead(404);
    res.end();
  }
});

server.listen(0, '127.0.0.1', () => {
  const pageUrl = `http://127.0.0.1:${server.address().port}/?ws=${encodeURIComponent(wsUrl)}`;
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-extensions', '--disable-dev-shm-usage', `--user-data-dir=${profile}`,
    '--dump-dom', pageUrl,
  ];
  const browser = spawn(chromium, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let dom = '';
  let errors = '';
  browser.stdout.on('data', (d) => { dom += d; });
  browser.stderr.on('data', (d) => { errors += d; });
  // Unheld after a while so the load event can fire and Chromium can dump what it has.
  const unhold = setTimeout(release, 60000);
  const budget = setTimeout(() => {
    console.log('FAIL chromium did not finish within 90 s; killing its process group');
    try {
      process.kill(-browser.pid, 'SIGKILL');
    } catch (e) { /* already gone */ }
  }, 90000);
  browser.on('error', (e) => {
    console.log(`FAIL cannot start ${chromium}: ${e.message}`);
    process.exit(1);
  });
  browser.on('exit', (code, signal) => {
    clearTimeout(unhold);
    clearTimeout(budget);
    server.close();
    const title = (dom.match(/<title>([^<]*)<\/title>/) || [])[1];
    const text = (dom.match(/<p id="result">([^<]*)<\/p>/) || [])[1];
    console.log(`chromium exited with ${code === null ? signal : code}`);
    console.log(`posted result: ${JSON.stringify(result)}`);
    console.log(`dumped DOM: title "${title}", #result "${text}"`);
    const ok = result && result.ok === true && title === 'PASS' && text && text.startsWith('PASS');
    if (!ok) {
      console.log('chromium stderr (tail):');
      console.log(errors.split('\n').slice(-30).join('\n'));
    }
    console.log(ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
    process.exit(ok ? 0 : 1);
  });
});
