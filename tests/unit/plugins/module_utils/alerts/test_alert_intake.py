"""The alert gate (duplicates, flapping, per-asset rate, bounded memory) and request authentication."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def alert(fingerprint='fp', status='firing', starts_at=None):
    return {'fingerprint': fingerprint, 'status': status, 'starts_at': starts_at}


def test_an_episode_is_passed_on_once_however_late_it_is_notified_again():
    clock = Clock()
    gate = alert_intake.AlertGate(clock=clock)
    t0 = '2026-12-06T10:00:00Z'
    assert gate.admit(alert(starts_at=t0), 'a') == 'accepted'
    for wait in (299, 301, 4 * 3600, 3 * 86400):  # group_interval, repeat_interval, days later: the same episode
        clock.now += wait
        assert gate.admit(alert(starts_at=t0), 'a') == 'duplicate'
    assert gate.admit(alert(status='resolved', starts_at=t0), 'a') == 'accepted'
    assert gate.admit(alert(status='resolved', starts_at=t0), 'a') == 'duplicate'
    clock.now += 2  # fires again seconds after it resolved: a new startsAt, a new episode
    assert gate.admit(alert(starts_at='2026-12-06T10:00:02Z'), 'a') == 'accepted'
    assert gate.counts == {'accepted': 3, 'duplicate': 5}


def test_an_alert_without_starts_at_is_one_episode_until_it_resolves():
    gate = alert_intake.AlertGate(clock=Clock())
    verdicts = [gate.admit(alert(status=status), 'a') for status in ('firing', 'firing', 'resolved', 'resolved', 'firing')]
    assert verdicts == ['accepted', 'duplicate', 'accepted', 'duplicate', 'accepted']


def test_held_back_alerts_are_admitted_when_the_hold_ends_and_the_sender_re_sends():
    clock = Clock()
    gate = alert_intake.AlertGate(rate_per_minute=2, clock=clock)
    assert [gate.admit(alert('f%d' % index, starts_at='t'), 'asset') for index in range(3)] == [
        'accepted', 'accepted', 'rate_limited']
    for _resend in range(3):  # Alertmanager re-sends the held-back alert: not a duplicate while it is held
        clock.now += 61
        verdict = gate.admit(alert('f2', starts_at='t'), 'asset')
        if verdict == 'accepted':
            break
    assert verdict == 'accepted'
    assert gate.admit(alert('f2', starts_at='t'), 'asset') == 'duplicate'


def test_an_episode_the_audit_log_names_is_remembered():
    gate = alert_intake.AlertGate(clock=Clock())
    gate.seen('fp', 't0')
    assert gate.admit(alert(starts_at='t0'), 'a') == 'duplicate'


def test_flapping_alert_is_held_back():
    clock = Clock()
    gate = alert_intake.AlertGate(flap_window=600, flap_limit=4, clock=clock)
    verdicts = []
    for index in range(6):  # each firing a new episode (Alertmanager gives a re-fired alert a new startsAt)
        clock.now += 10
        verdicts.append(gate.admit(alert(status='firing' if index % 2 == 0 else 'resolved', starts_at='t%d' % (index // 2)),
                                   'a'))
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
    gate = alert_intake.AlertGate(max_tracked=100, max_episodes=200, clock=Clock())
    for index in range(10000):
        gate.admit(alert('f%d' % index), 'asset-%d' % index)
    assert max(len(gate.changes), len(gate.per_asset)) <= 100 and len(gate.episodes) == 200
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
