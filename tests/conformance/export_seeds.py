#!/usr/bin/env python3
"""Writes the client-sent bytes of every conformance case as a fuzz seed.

For each case in tests/conformance/cases/*.json, the bytes of all its "send" steps (every client,
in step order) become tests/fuzz/corpus/protocol_decode/conf-<area>-<case>.bin. Captured variables
("{p1}") become packet identifier 1. Seeds above 16 KB are left out (they only slow the fuzzer).
Only conf-*.bin files are written or removed; the rest of the corpus belongs to the codec tests.

Run from anywhere after changing the cases:  python3 tests/conformance/export_seeds.py
"""
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = ROOT / 'tests' / 'conformance' / 'cases'
CORPUS = ROOT / 'tests' / 'fuzz' / 'corpus' / 'protocol_decode'
MAX_SEED = 16 * 1024


def to_bytes(item):
    if isinstance(item, str):
        text = re.sub(r'\{[^}]*\}', '0001', item)
        return bytes.fromhex(''.join(text.split()))
    if isinstance(item, list):
        return b''.join(to_bytes(x) for x in item)
    if 'text' in item:
        return item['text'].encode()
    if 'repeat' in item:
        return to_bytes(item['repeat']) * item['count']
    raise ValueError('not a byte sequence: %r' % (item,))


def test_name(case):
    name = 'v%d_%s' % (case['version'], case['id'])
    if 'tag' in case:
        name += '_' + case['tag']
    return re.sub(r'[^A-Za-z0-9]', '_', name)


def main():
    for old in CORPUS.glob('conf-*.bin'):
        old.unlink()
    written = skipped = 0
    for path in sorted(CASES.glob('*.json')):
        doc = json.loads(path.read_text())
        for case in doc['cases']:
            data = b''.join(to_bytes(s['send']) for s in case['steps'] if 'send' in s)
            if not data:
                continue
            if len(data) > MAX_SEED:
                skipped += 1
                continue
            (CORPUS / ('conf-%s-%s.bin' % (path.stem, test_name(case)))).write_bytes(data)
            written += 1
    print('wrote %d seeds to %s (%d above %d bytes left out)' % (written, CORPUS, skipped, MAX_SEED))


if __name__ == '__main__':
    main()
