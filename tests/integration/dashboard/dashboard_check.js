// The dashboard (plugins/http_api/dashboard/) in headless Chromium against a real rmqttd with the
// HTTP API: MQTT.js clients connect with distinctive client ids (one of them HTML), subscribe
// and retain messages; Playwright (playwright-core, driving the system Chromium) opens the page
// served by the API and checks what it shows, the search, the token field, and that Kick
// disconnects the client for real. Prints one line per check and exits 0 when all passed.
// Every wait is bounded; nothing asserts on how long something took.
//
// usage: node dashboard_check.js <node_modules dir> <dashboard url> <mqtt url> <chromium>
//                                bearer <api token> <screenshot.png>
//        node dashboard_check.js <node_modules dir> <dashboard url> <mqtt url> <chromium>
//                                basic <user:password>
// "basic" checks only the sign-in with HTTP basic credentials, on /dashboard/.
'use strict';
const path = require('path');

const [modules, dashboardUrl, mqttUrl, chromiumPath, mode, secret, screenshot] =
  process.argv.slice(2);
const mqtt = require(path.join(modules, 'mqtt'));
const { chromium } = require(path.join(modules, 'playwright-core'));

const WAIT = 20000;  // bound of each wait for the page or a client
const tag = process.pid;
const ids = {
  sensor: `dash-sensor-${tag}`,
  kick: `dash/kick me-${tag}`,  // '/' and ' ' travel percent-encoded in DELETE /clients/{id}
  // Shown as text, never parsed: if it were, the image's onerror would set window.__xss.
  html: `<img src=x onerror="window.__xss=1">-${tag}`,
  publisher: `dash-publisher-${tag}`,
};
const subscription = `dash/${tag}/sensors/+/temp`;
const retainedText = `dash/${tag}/retained/greeting`;
const retainedBinary = `dash/${tag}/retained/binary`;
const greeting = 'hello from the dashboard test';

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
  return ok;
}

function within(ms, what, promise) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

function connect(clientId, username) {
  const client = mqtt.connect(mqttUrl, {
    clientId, username, protocolVersion: 4, clean: true, reconnectPeriod: 0, connectTimeout: WAIT,
  });
  client.closed = new Promise((resolve) => client.once('close', resolve));
  return within(WAIT, `CONNECT of ${clientId}`, new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  }));
}

// GET on the API from Node, with the token.
async function api(route) {
  const response = await fetch(new URL(`/api/v1${route}`, dashboardUrl),
                               { headers: { Authorization: `Bearer ${secret}` } });
  return { status: response.status, body: await response.text() };
}

// Waits until fn (run in the page) returns a truthy value; that value.
async function until(page, what, fn, arg) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout: WAIT, polling: 100 })).jsonValue();
  } catch (e) {
    throw new Error(`${what}: ${e.message.split('\n')[0]}`);
  }
}

const rowsText = (page, table) => page.$$eval(`#${table}-table tbody tr`,
                                               (rows) => rows.map((r) => r.textContent));

function launch() {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}

// The 401 shown in the page's error box; its text (or why it did not come).
function refusal(page) {
  return until(page, 'the 401 shown', () => {
    const box = document.getElementById('error');
    return !box.hidden && box.textContent.includes('401') && box.textContent;
  }).catch((e) => e.message);
}

async function signIn(page, scheme, credentials) {
  await page.selectOption('#auth-scheme', scheme);
  await page.fill('#auth-token', credentials);
  await page.click('#auth-form button[type=submit]');
}

// HTTP basic authentication, with the page opened at /dashboard/.
async function basicOnly() {
  const client = await connect(`dash-basic-${tag}`, 'dave');
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.goto(new URL('dashboard/', dashboardUrl).href);
    let refused = await refusal(page);
    check('without credentials the API error is shown', refused.includes('401'), refused);
    const user = secret.slice(0, secret.indexOf(':'));
    await signIn(page, 'Basic', `${user}:not-the-password`);
    await page.evaluate(() => { document.getElementById('error').hidden = true; });
    refused = await refusal(page);
    check('a wrong password is refused visibly', refused.includes('401'), refused);
    await signIn(page, 'Basic', secret);
    const shown = await until(page, 'the overview with basic credentials', () => {
      const t = (id) => document.getElementById(id).textContent;
      return document.getElementById('error').hidden && t('stat-connections') === '1';
    }).catch((e) => e);
    const seen = await page.evaluate(() => ({
      error: document.getElementById('error').textContent.trim(),
      connections: document.getElementById('stat-connections').textContent,
    }));
    check('with the basic credentials the overview shows 1 connection', shown === true,
          `${shown.message}; the page shows ${JSON.stringify(seen)}`);
  } finally {
    await browser.close();
    client.end(true);
  }
}

async function main() {
  if (mode === 'basic') return basicOnly();
  const token = secret;
  const sensor = await connect(ids.sensor, 'alice');
  const kicked = await connect(ids.kick, 'bob');
  const html = await connect(ids.html, 'eve');
  const publisher = await connect(ids.publisher, 'carol');
  await sensor.subscribeAsync(subscription, { qos: 1 });
  // A second subscriber, so that more messages go out than come in.
  await html.subscribeAsync(`dash/${tag}/sensors/#`, { qos: 0 });
  await publisher.publishAsync(retainedText, greeting, { qos: 1, retain: true });
  await publisher.publishAsync(retainedBinary, Buffer.from([0, 1, 2, 0xff]), { qos: 1, retain: true });
  console.log('4 MQTT clients connected, 2 subscriptions, 2 retained messages');

  const browser = await launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 600 } });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(dashboardUrl);

    // Without the token every call is refused, and the page says so.
    const refused = await refusal(page);
    check('without a token the API error is shown', refused.includes('401'), refused);

    await signIn(page, 'Bearer', token);
    await page.selectOption('#refresh-interval', '1');
    const stored = await page.evaluate(() => sessionStorage.getItem('rmqtt.token'));
    check('the token is kept in sessionStorage', stored === token);

    // The overview: 4 connections (the page itself is no MQTT client), the 2 subscriptions and
    // the 2 retained messages, and the error gone.
    const overview = await until(page, 'the overview counts', () => {
      const t = (id) => document.getElementById(id).textContent;
      return document.getElementById('error').hidden && t('stat-connections') === '4' &&
             t('stat-subscriptions') === '2' && t('stat-retained') === '2' &&
             { version: t('stat-version'), uptime: t('stat-uptime'), node: t('stat-node') };
    }).catch((e) => e);
    check('overview: 4 connections, 2 subscriptions, 2 retained messages',
          !(overview instanceof Error), overview.message);
    check('overview: node, version and uptime shown',
          overview.version && overview.version !== '–' && overview.uptime !== '–' &&
          overview.node !== '–', JSON.stringify(overview));

    // Traffic for the rate chart: QoS 0 publishes to both subscriptions, 1 to 4 per tick so that
    // the rate changes, until the chart has samples that saw them. Every message goes out twice.
    let sent = 0;
    let tick = 0;
    const traffic = setInterval(() => {
      const n = 1 + (Math.floor(tick++ / 40) % 4);
      for (let i = 0; i < n; i++, sent++) {
        publisher.publish(subscription.replace('+', String(sent % 5)), `${20 + (sent % 7)}`);
      }
    }, 20);
    try {
      const samples = await until(page, 'rate samples with traffic', () =>
        state.rates.length >= 12 &&
        state.rates.slice(-3).every((r) => r.in > 0 && r.out > r.in) && state.rates.length);
      check('the chart has rate samples of the traffic (out above in)', samples >= 12, samples);
      await page.screenshot({ path: screenshot });
      console.log(`screenshot: ${screenshot} (${sent} messages published)`);
    } catch (e) {
      check('the chart has rate samples of the traffic', false, e.message);
    } finally {
      clearInterval(traffic);
    }

    // Clients: every id, shown as text, all online.
    await page.click('nav a[data-view=clients]');
    const clients = await until(page, 'the clients table', (wanted) => {
      const rows = [...document.querySelectorAll('#clients-table tbody tr')];
      const cells = rows.map((r) => r.cells[0] && r.cells[0].textContent);
      return wanted.every((id) => cells.includes(id)) && rows.map((r) => r.textContent);
    }, Object.values(ids)).catch((e) => e);
    check('clients: the 4 client ids listed', Array.isArray(clients), clients.message);
    const online = await page.$$eval('#clients-table tbody tr', (rows) =>
      rows.filter((r) => r.textContent.includes('online')).length);
    check('clients: all 4 online', online === 4, `${online} online`);
    const injected = await page.evaluate(() => ({
      xss: window.__xss, images: document.querySelectorAll('main img').length,
    }));
    check('clients: the HTML client id is text, not markup',
          injected.xss === undefined && injected.images === 0, JSON.stringify(injected));

    // Search by client id, then by username.
    await page.fill('#clients-search', 'sensor');
    let rows = await rowsText(page, 'clients');
    check('search by client id filters the table',
          rows.length === 1 && rows[0].includes(ids.sensor), JSON.stringify(rows));
    await page.fill('#clients-search', 'bob');
    rows = await rowsText(page, 'clients');
    check('search by username filters the table',
          rows.length === 1 && rows[0].includes(ids.kick), JSON.stringify(rows));
    await page.fill('#clients-search', '');

    // Kick, cancelled at the confirm: nothing happens.
    const kickButton = `#clients-table button[data-clientid="${ids.kick}"]`;
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); d.dismiss(); });
    await page.click(kickButton);
    check('kick asks for a confirmation naming the client', asked.includes(ids.kick), asked);
    const stillOnline = await api(`/clients/${encodeURIComponent(ids.kick)}/online`);
    check('a cancelled kick leaves the client online', stillOnline.body.trim() === 'true',
          JSON.stringify(stillOnline));

    // Kick, confirmed: the client sees its connection end, the broker no longer lists it online
    // and the table no longer shows it online.
    page.once('dialog', (d) => d.accept());
    await page.click(kickButton);
    const closed = await within(WAIT, 'the kicked client\'s close', kicked.closed)
      .then(() => true, (e) => e.message);
    check('the kicked MQTT client sees the disconnect', closed === true, closed);
    let offline = null;
    for (let i = 0; i < 100 && offline === null; i++) {
      const r = await api(`/clients/${encodeURIComponent(ids.kick)}/online`);
      if (r.status === 404 || r.body.trim() === 'false') offline = r;
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    check('the broker no longer lists the kicked client online', offline !== null);
    const gone = await until(page, 'the kicked client off the table', (id) =>
      ![...document.querySelectorAll('#clients-table tbody tr')].some(
        (r) => r.cells[0] && r.cells[0].textContent === id && r.textContent.includes('online')),
      ids.kick).catch((e) => e);
    check('the table no longer shows the kicked client online', gone === true, gone.message);
    check('the other clients stay connected', sensor.connected && html.connected && publisher.connected);

    // Subscriptions.
    await page.click('nav a[data-view=subscriptions]');
    const sub = await until(page, 'the subscription row', ([id, topic]) =>
      [...document.querySelectorAll('#subscriptions-table tbody tr')].some(
        (r) => r.cells[0].textContent === id && r.cells[1].textContent === topic),
      [ids.sensor, subscription]).catch((e) => e);
    check('subscriptions: the client\'s topic filter listed', sub === true, sub.message);

    // Retained messages: the text payload decoded, the binary one as bytes.
    await page.click('nav a[data-view=retained]');
    const retained = await until(page, 'the retained rows', (topics) => {
      const rows = [...document.querySelectorAll('#retained-table tbody tr')];
      const byTopic = Object.fromEntries(rows.map((r) => [r.cells[0].textContent,
                                                           r.cells[3] && r.cells[3].textContent]));
      return topics.every((t) => t in byTopic) && byTopic;
    }, [retainedText, retainedBinary]).catch((e) => e);
    check('retained: the text payload decoded', retained[retainedText] === greeting,
          JSON.stringify(retained));
    check('retained: the binary payload as bytes',
          retained[retainedBinary] === 'binary: 00 01 02 ff', JSON.stringify(retained));

    // Plugins: the HTTP API itself runs.
    await page.click('nav a[data-view=plugins]');
    const plugin = await until(page, 'the plugins table', () =>
      [...document.querySelectorAll('#plugins-table tbody tr')].some(
        (r) => r.cells[0].textContent === 'rmqtt-http-api' && r.cells[1].textContent === 'running'))
      .catch((e) => e);
    check('plugins: rmqtt-http-api running', plugin === true, plugin.message);

    check('no script error in the page', pageErrors.length === 0, pageErrors.join('; '));
  } finally {
    await browser.close();
    for (const c of [sensor, kicked, html, publisher]) c.end(true);
  }
}

// The whole run is bounded too: a hung browser or broker ends it as a failure.
const budget = setTimeout(() => {
  console.log('FAIL the check did not finish within 150 s');
  process.exit(1);
}, 150000);

main().catch((e) => check('the check ran to its end', false, e.stack || e.message)).finally(() => {
  clearTimeout(budget);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
});
