#!/usr/bin/env python3
"""Writes the seed corpora of the WebSocket fuzz targets (corpus/ws_upgrade, corpus/ws_frames).

ws_upgrade seeds: the upgrade requests real clients send (MQTT.js on Node.js for MQTT 3.1.1 and
3.1, headless Chromium, Paho C), plus refused variants; the first byte of each seed is the size
of the pieces the target feeds (minus one). ws_frames seeds: client frames (mode byte 0, then the
piece size) and frame scripts (mode byte 1). Run after changing it:  python3 tests/fuzz/ws_seeds.py
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / 'corpus'

MQTTJS = (b'GET /mqtt HTTP/1.1\r\nSec-WebSocket-Version: 13\r\n'
          b'Sec-WebSocket-Key: 9sr5aroZ8VgzVdrSvDetXA==\r\nConnection: Upgrade\r\n'
          b'Upgrade: websocket\r\n'
          b'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n'
          b'Sec-WebSocket-Protocol: mqtt\r\nHost: 127.0.0.1:18099\r\n\r\n')
MQTTJS_31 = MQTTJS.replace(b'Protocol: mqtt', b'Protocol: mqttv3.1')
CHROMIUM = (b'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:18099\r\nConnection: Upgrade\r\n'
            b'Pragma: no-cache\r\nCache-Control: no-cache\r\n'
            b'User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
            b'HeadlessChrome/156.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: null\r\n'
            b'Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n'
            b'Accept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: uVhK38hbbMQOxlOseZup5w==\r\n'
            b'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n'
            b'Sec-WebSocket-Protocol: mqtt\r\n\r\n')
PAHO = (b'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:18099\r\nUpgrade: websocket\r\n'
        b'Connection: Upgrade\r\nOrigin: http://127.0.0.1:18099\r\n'
        b'Sec-WebSocket-Key: TKxT/FylpqOYeA17b+bqjA==\r\nSec-WebSocket-Version: 13\r\n'
        b'Sec-WebSocket-Protocol: mqtt\r\n\r\n')

MASK = b'\x37\xfa\x21\x3d'


def frame(op, payload=b'', fin=True, masked=True, rsv=0, length=None):
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | op])
    m = 0x80 if masked else 0
    if n < 126:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack('>H', n)
    else:
        head += bytes([m | 127]) + struct.pack('>Q', n)
    if not masked:
        return head + payload
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


CONNECT = bytes.fromhex('101000044d5154540402003c0004777331')  # 3.1.1, client id "ws1"
PINGREQ = bytes.fromhex('c000')
SUBSCRIBE = bytes.fromhex('820800010003612f6201')


def upgrade_seeds():
    seeds = {}
    for name, req in [('mqttjs', MQTTJS), ('mqttjs-v31', MQTTJS_31), ('chromium', CHROMIUM),
                      ('paho-c', PAHO)]:
        seeds[name + '-whole'] = b'\xff' + req
        seeds[name + '-bytewise'] = b'\x00' + req
        seeds[name + '-7'] = b'\x06' + req
    seeds['mqttjs-with-frame'] = b'\xff' + MQTTJS + frame(2, CONNECT)
    bad = {
        'wrong-path': MQTTJS.replace(b'/mqtt', b'/ws'),
        'query': MQTTJS.replace(b'/mqtt', b'/mqtt?token=abc%20d'),
        'absolute-url': MQTTJS.replace(b'/mqtt', b'http://127.0.0.1:18099/mqtt'),
        'no-key': MQTTJS.replace(b'Sec-WebSocket-Key: 9sr5aroZ8VgzVdrSvDetXA==\r\n', b''),
        'no-protocol': MQTTJS.replace(b'Sec-WebSocket-Protocol: mqtt\r\n', b''),
        'version-8': MQTTJS.replace(b'Version: 13', b'Version: 8'),
        'post': MQTTJS.replace(b'GET', b'POST'),
        'http10': MQTTJS.replace(b'HTTP/1.1', b'HTTP/1.0'),
        'body': MQTTJS.replace(b'\r\n\r\n', b'\r\nContent-Length: 3\r\n\r\nabc'),
        'chunked': MQTTJS.replace(b'\r\n\r\n', b'\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
        'two-hosts': MQTTJS.replace(b'Host:', b'Host: a\r\nHost:'),
        'folded': MQTTJS.replace(b'Upgrade: websocket', b'Upgrade:\r\n websocket'),
        'bad-token': MQTTJS.replace(b'Host:', b'Ho(st:'),
        'lf-only': MQTTJS.replace(b'\r\n', b'\n'),
        'oversize': MQTTJS.replace(b'\r\n\r\n', b'\r\nX-Big: ' + b'a' * 3000 + b'\r\n\r\n'),
        'garbage': bytes.fromhex('100c00044d5154540402003c0000') + b'\r\n\r\n',
        'empty-lines-first': b'\r\n\r\n' + MQTTJS,
        'pipelined': MQTTJS + MQTTJS,
    }
    for name, req in bad.items():
        seeds['bad-' + name] = b'\x0f' + req
    return seeds


def frames_seeds():
    raw = {
        'binary-connect': frame(2, CONNECT),
        'fragmented-with-ping': frame(2, CONNECT[:3], fin=False) + frame(9, b'p')
        + frame(0, CONNECT[3:9], fin=False) + frame(10) + frame(0, CONNECT[9:]),
        'several-packets': frame(2, CONNECT + SUBSCRIBE + PINGREQ),
        'close-1000': frame(2, PINGREQ) + frame(8, b'\x03\xe8bye'),
        'close-empty': frame(8),
        'unmasked': frame(2, PINGREQ, masked=False),
        'text': frame(1, PINGREQ),
        'oversize': frame(2, b'\x00', length=5000)[:-1] + b'\x00',
        'rsv1': frame(2, PINGREQ, rsv=4),
        'len16': frame(2, b'x' * 300),
        'len64': frame(2, b'y' * 70000),
        'len64-non-minimal': frame(2, b'z' * 10, length=None)[:1] + b'\xff' + struct.pack('>Q', 10)
        + MASK + b'z' * 10,
        'continuation-first': frame(0, PINGREQ),
        'long-ping': frame(9, b'p' * 126),
        'fragmented-ping': frame(9, b'p', fin=False),
        'close-bad-utf8': frame(8, b'\x03\xe8\xff'),
        'close-1005': frame(8, b'\x03\xed'),
        'unknown-opcode': frame(3, b'abc'),
    }
    seeds = {}
    for name, wire in raw.items():
        seeds['raw-' + name] = b'\x00\xff' + wire
        if len(wire) < 1000:  # large seeds only slow the mutations down
            seeds['raw-' + name + '-bytewise'] = b'\x00\x00' + wire
    # Scripts: step, then (op, len, mask x4, payload...) records; see ws_frames_fuzz.cpp.
    seeds['script-messages'] = (b'\x01\x05' + b'\x01\x05\x01\x02\x03\x04hello'
                                + b'\x04\x02\x00\x00\x00\x00hi' + b'\x61\x03\x09\x08\x07\x06abc'
                                + b'\x02de\x07\x03fgh')
    seeds['script-pings'] = b'\x01\x00' + b'\x04\x03\xaa\xbb\xcc\xddabc' + b'\x00\x00\x00\x00\x00\x00'
    return seeds


def write(dirname, seeds):
    d = ROOT / dirname
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob('*.bin'):
        old.unlink()
    for name, data in seeds.items():
        (d / (name + '.bin')).write_bytes(data)


write('ws_upgrade', upgrade_seeds())
write('ws_frames', frames_seeds())
