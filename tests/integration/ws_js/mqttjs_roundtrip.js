// MQTT.js (the npm package `mqtt`) on Node.js against rmqttd's WebSocket listener. For MQTT 3.1,
// 3.1.1 and 5.0: connect, subscribe, publish at QoS 0, 1 and 2 plus one 300 KB message, receive
// them all back, disconnect. Then the upgrade answers as its WebSocket library sees them. Prints
// one line per check and exits 0 when every check passed. Every wait is bounded.
//
// usage: node mqttjs_roundtrip.js <node_modules dir> <ws url> <ws url with a wrong path> [CA file]
// With wss:// URLs give the CA file: the server's certificate is verified against it (and its
// address), as a real client does.
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, url, wrongUrl, caFile] = process.argv.slice(2);
const mqtt = require(path.join(modules, 'mqtt'));
const scheme = new URL(url).protocol.replace(':', '');
// TLS options for wss: MQTT.js takes them on its options, the ws package on its own.
const tls = caFile ? { ca: fs.readFileSync(caFile), rejectUnauthorized: true } : undefined;

function roundTrip(version) {
  const opts = {
    protocolVersion: version,
    clientId: `mqttjs-v${version}-${process.pid}`,
    reconnectPeriod: 0,
    connectTimeout: 10000,
    clean: true,
    ...(tls || {}),
  };
  if (version === 3) opts.protocolId = 'MQIsdp';  // MQTT 3.1; the subprotocol is then mqttv3.1
  const topic = `mqttjs/${version}/${process.pid}`;
  const sent = [
    { qos: 0, payload: 'qos 0' },
    { qos: 1, payload: 'qos 1' },
    { qos: 2, payload: 'qos 2' },
    { qos: 1, payload: 'L'.repeat(300 * 1024) },
  ];
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, opts);
    let ending = false;
    const got = [];
    const timer = setTimeout(() => {
      client.end(true);
      reject(new Error(`timed out with ${got.length} of ${sent.length} messages`));
    }, 30000);
    client.on('error', (e) => {
      if (ending) return;  // a late acknowledgement racing the DISCONNECT
      clearTimeout(timer);
      client.end(true);
      reject(e);
    });
    client.on('connect', () => {
      client.subscribe(`${topic}/#`, { qos: 2 }, (err) => {
        if (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        sent.forEach((m, i) => client.publish(`${topic}/${i}`, m.payload, { qos: m.qos }));
      });
    });
    client.on('message', (t, payload, packet) => {
      got.push({ index: Number(t.split('/').pop()), payload: payload.toString(), qos: packet.qos });
      if (got.length < sent.length) return;
      ending = true;
      clearTimeout(timer);
      client.end(false, {}, () => resolve(got));
    });
  }).then((got) => {
    got.sort((a, b) => a.index - b.index);
    sent.forEach((m, i) => {
      const g = got[i];
      if (!g || g.index !== i || g.payload !== m.payload || g.qos !== m.qos) {
        throw new Error(`message ${i}: sent qos ${m.qos} (${m.payload.length} bytes), got ` +
                        (g ? `qos ${g.qos} (${g.payload.length} bytes)` : 'nothing'));
      }
    });
    return `${got.length} messages (QoS 0, 1, 2 and 300 KB)`;
  });
}

// The `ws` package (MQTT.js's WebSocket client on Node.js) sees the HTTP refusal itself; MQTT.js
// only reports a closed connection.
const WebSocket = require(path.join(modules, 'ws'));

function upgrade(target, protocols) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(target, protocols, tls || {});
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error('no answer to the upgrade'));
    }, 15000);
    socket.on('unexpected-response', (req, res) => {
      clearTimeout(timer);
      req.destroy();
      resolve({ status: res.statusCode });
    });
    socket.on('open', () => {
      clearTimeout(timer);
      const protocol = socket.protocol;
      // The closing handshake from the client's side: the broker answers with its close frame.
      const closeTimer = setTimeout(() => {
        socket.terminate();
        reject(new Error('no answer to the close frame'));
      }, 15000);
      socket.on('close', (code) => {
        clearTimeout(closeTimer);
        resolve({ status: 101, protocol, closeCode: code });
      });
      socket.close(1000, 'done');
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function refusals() {
  const wrongPath = await upgrade(wrongUrl, ['mqtt']);
  if (wrongPath.status !== 404) throw new Error(`wrong path: status ${wrongPath.status}`);
  const noMqtt = await upgrade(url, ['chat']);
  if (noMqtt.status !== 400) throw new Error(`no mqtt subprotocol: status ${noMqtt.status}`);
  const ok = await upgrade(url, ['mqttv3.1', 'mqtt']);
  if (ok.status !== 101 || ok.protocol !== 'mqtt' || ok.closeCode !== 1000) {
    throw new Error(`upgrade: ${JSON.stringify(ok)}`);
  }
  return 'wrong path 404, no mqtt subprotocol 400; mqtt chosen, close answered with 1000';
}

(async () => {
  let failed = 0;
  const checks = [
    [`MQTT 3.1 over ${scheme}`, () => roundTrip(3)],
    [`MQTT 3.1.1 over ${scheme}`, () => roundTrip(4)],
    [`MQTT 5.0 over ${scheme}`, () => roundTrip(5)],
    ['upgrade answers (ws package)', refusals],
  ];
  for (const [name, check] of checks) {
    try {
      console.log(`PASS ${name}: ${await check()}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    }
  }
  console.log(`${checks.length - failed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
