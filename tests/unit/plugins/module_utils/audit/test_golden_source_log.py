"""A log the event source wrote before orjson (commit db78c3a) still verifies, seals included, and the same records
give the same bytes now, with orjson and without it (the json module alone)."""

import json
import os

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import verify

# Written by the aiops_alerts intake of db78c3a (json module only) from two requests: an Alertmanager group with
# unicode, quotes, control characters, confidences written with an exponent (1e-05, 3e-07) or at the edge (0.0001),
# a refused alert, truncatedAlerts and a secret-shaped fingerprint; and a generic alert.
GOLDEN = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', 'fixtures', 'audit',
                      'written-by-the-source-before-orjson.jsonl')
KEYRING = decision_keys.parse('golden:' + 'ab' * 32, 'the fixture key')  # the fixture's test key, no secret
KEYS = ('actor', 'action', 'subject', 'owner', 'outcome', 'reasons', 'details')


def _entries():
    with open(GOLDEN, 'rb') as handle:
        return [json.loads(line) for line in handle]


def test_the_golden_log_verifies_with_its_seals(encoder):
    result = verify(GOLDEN, keyring=KEYRING)
    assert result['ok'] and result['entries'] == 9, result
    decisions = [entry for entry in _entries() if entry['action'] == 'decision']
    assert len(decisions) == 8 and all(KEYRING.check(entry) is None for entry in decisions)
    assert {entry['details']['confidence'] for entry in decisions} >= {1e-05, 3e-07, 0.0001}


def test_the_same_records_give_the_same_bytes_and_seals(tmp_path, encoder):
    old = _entries()
    path = str(tmp_path / 'audit.jsonl')
    writer = audit_log.Writer(path)
    for group in (old[:3], old[3:]):
        records = []
        for entry in group:
            record = dict((key, entry[key]) for key in KEYS)
            if entry['action'] == 'decision':
                unsealed = dict(record, details=dict((k, v) for k, v in entry['details'].items() if k != 'seal'))
                assert KEYRING.seal(unsealed)['details']['seal'] == entry['details']['seal']
            records.append(dict(now=entry['time'], **record))
        writer.append_many(records)
    writer.close()
    with open(path, 'rb') as mine, open(GOLDEN, 'rb') as golden:
        assert mine.read() == golden.read()
