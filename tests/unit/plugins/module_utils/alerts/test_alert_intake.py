"""The alert gate (duplicates, flapping, per-asset rate, bounded memory) and request authentication."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def alert(fingerprint='fp', status='firing'):
    return {'fingerprint': fingerprint, 'status': status}


def test_duplicate_within_ttl_only():
    clock = Clock()
    gate = alert_intake.AlertGate(dedup_ttl=300, clock=clock)
    assert gate.admit(alert(), 'a') == 'accepted'
    clock.now += 299
    assert gate.admit(alert(), 'a') == 'duplicate'
    clock.now += 301
    assert gate.admit(alert(), 'a') == 'accepted'
    assert gate.counts == {'accepted': 2, 'duplicate': 1}


def test_flapping_alert_is_held_back():
    clock = Clock()
    gate = alert_intake.AlertGate(dedup_ttl=1, flap_window=600, flap_limit=4, clock=clock)
    verdicts = []
    for index in range(6):
        clock.now += 10
        verdicts.append(gate.admit(alert(status='firing' if index % 2 == 0 else 'resolved'), 'a'))
    assert verdicts == ['accepted', 'accepted', 'accepted', 'accepted', 'flapping', 'flapping']


def test_rate_limit_is_per_asset():
    clock = Clock()
    gate = alert_intake.AlertGate(rate_per_minute=3, clock=clock)
    verdicts = [gate.admit(alert('f%d' % index), 'asset-a') for index in range(5)]
    assert verdicts == ['accepted'] * 3 + ['rate_limited'] * 2
    assert gate.admit(alert('other'), 'asset-b') == 'accepted'
    clock.now += 61
    assert gate.admit(alert('f9'), 'asset-a') == 'accepted'


def test_memory_stays_bounded():
    gate = alert_intake.AlertGate(max_tracked=100, clock=Clock())
    for index in range(10000):
        gate.admit(alert('f%d' % index), 'asset-%d' % index)
    assert max(len(gate.last), len(gate.changes), len(gate.per_asset)) <= 100
    assert gate.counts['accepted'] == 10000


@pytest.mark.parametrize('authorization, status', [
    (None, 401), ('Bearer nope', 403), ('bearer tok-1', None), ('Bearer  tok-1 ', None), ('Token tok-1', 403)])
def test_bearer_token(authorization, status):
    auth = alert_intake.RequestAuth(token='tok-1')
    if status is None:
        auth.check(authorization, None, None, b'{}')
        return
    with pytest.raises(alert_intake.AuthRefused) as refused:
        auth.check(authorization, None, None, b'{}')
    assert refused.value.status == status and 'tok-1' not in str(refused.value)


def test_both_methods_must_pass_when_both_are_configured():
    clock = Clock()
    auth = alert_intake.RequestAuth(token='tok-1', hmac_secret='s3cret', clock=clock)
    signature = alert_intake.sign('s3cret', 1000, b'{}')
    auth.check('Bearer tok-1', signature, '1000', b'{}')
    with pytest.raises(alert_intake.AuthRefused):
        auth.check('Bearer tok-1', None, None, b'{}')
    with pytest.raises(alert_intake.AuthRefused, match='signature refused'):
        auth.check('Bearer tok-1', signature, '1000', b'{"changed": 1}')
