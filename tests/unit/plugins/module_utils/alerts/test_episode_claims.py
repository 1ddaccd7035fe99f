"""Episode claims (alerts/episode_claims.py) through the intake pipeline: two source instances that share the claims
decide each episode once; a claim whose decision was not recorded never makes the retry a duplicate for ever. The
database is faked here (FakeTable mirrors the SQL's rules); tests/integration/test_pg_episode_claims.py runs the
real table."""

import asyncio
import hashlib
import json
import logging
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake, episode_claims, guardrails, intake
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions
from ansible_collections.aigov.core.plugins.module_utils.store import registry
from tests.unit.plugins.module_utils.alerts.test_intake import (  # noqa: F401 pylint: disable=unused-import
    BEARER, Queue, RING, ROOT, TOKEN, alert, body, receive, site)

NOTHING = {'accepted': 0, 'duplicate': 0, 'flapping': 0, 'rate_limited': 0, 'escalated': 0, 'ignored': 0, 'refused': []}


class FakeTable(object):
    """The claims table in memory, with the rules of episode_claims._CLAIM; `now` is its clock, `down` its outage."""

    def __init__(self):
        self.rows, self.now, self.down, self.calls = {}, 1000.0, False, []

    def _check(self, name):
        self.calls.append(name)
        if self.down:
            raise episode_claims.ClaimError('cannot connect to the episode claims (postgresql://db): refused')

    def claim(self, keys, owner, lease):
        self._check('claim')
        found = {}
        for key in sorted(set(keys)):
            row = self.rows.get(key)
            if row is None or (row['lease'] is not None and (row['lease'] < self.now or row['owner'] == owner)):
                row = self.rows[key] = {'owner': owner, 'lease': self.now + lease}
            found[key] = (episode_claims.WON if row['owner'] == owner and row['lease'] is not None
                          else episode_claims.DECIDED if row['lease'] is None else episode_claims.PENDING)
        return found

    def confirm(self, keys, owner, ends=()):
        self._check('confirm')
        mine = [key for key in keys if self.rows.get(key, {}).get('owner') == owner]
        for key in mine:
            self.rows[key]['lease'] = None
        for key in ends:
            if key in self.rows and self.rows[key]['lease'] is None:
                del self.rows[key]
        return len(mine)

    def release(self, keys, owner):
        self._check('release')
        mine = [key for key in keys if self.rows.get(key, {}).get('owner') == owner and self.rows[key]['lease'] is not None]
        for key in mine:
            del self.rows[key]
        return len(mine)

    def trim(self, keep):
        self._check('trim')
        return 0

    def close(self):
        pass


def instance(tmp_path, log, table):
    """One event source instance's pipeline on the shared audit log and claims table (store: none, all unknown)."""
    config = {
        'auth': alert_intake.RequestAuth(TOKEN), 'gate': alert_intake.AlertGate(),
        'enricher': alert_intake.Enricher(str(tmp_path / 'none.sqlite3'), registry.load_registry(
            os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml'))),
        'policy': guardrails.load_guardrails(os.path.join(ROOT, 'guardrails', 'default.yml')),
        'actions': actions.load_actions(os.path.join(ROOT, 'actions', 'default.yml')),
        'confidence': None, 'keyring': RING, 'audit_log': log}
    queue = Queue(log)
    pipeline = intake.Intake(queue, config)
    assert pipeline.claims is None  # a file log: no claims, unless given (as the database would)
    pipeline.claims = episode_claims.EpisodeClaims(table, 1000)
    return queue, pipeline


@pytest.fixture
def pair(tmp_path):
    log, table = str(tmp_path / 'audit.jsonl'), FakeTable()
    return instance(tmp_path, log, table), instance(tmp_path, log, table), table, log


def decisions(log):
    return [entry for _n, entry in audit_log.read_entries(log) if entry['action'] == 'decision'] if os.path.exists(log) else []


def test_the_episode_key_is_stable_across_processes_and_tells_firing_resolved_and_escalated_apart():
    event = {'alert': {'fingerprint': 'fp1', 'starts_at': '2026-11-25T09:00:00+00:00', 'status': 'firing'},
             'decision': {'decision': 'automate'}}
    assert episode_claims.episode(event) == hashlib.sha256(
        json.dumps(['fp1', '2026-11-25T09:00:00+00:00', 'firing']).encode()).hexdigest()
    resolved = dict(event, alert=dict(event['alert'], status='resolved'), decision=None)
    escalated = dict(event, decision={'decision': 'escalate', 'exceptions': ['still_firing']})
    later = dict(event, alert=dict(event['alert'], starts_at='2026-11-25T10:00:00+00:00'))
    sent = dict(event, alert=dict(event['alert'], starts_at='2026-11-25T09:05:00+00:00', starts_at_sent=event['alert']['starts_at']))
    keys = [episode_claims.episode(item) for item in (event, resolved, escalated, later)]
    assert len(set(keys)) == 4 and episode_claims.episode(sent) == keys[0]


def test_a_file_audit_log_has_no_claims(site):
    _queue, pipeline, log = site
    assert episode_claims.for_log(log, 10) is None and pipeline.claims is None
    assert isinstance(episode_claims.for_log('postgresql://', 10), episode_claims.EpisodeClaims)


def test_the_same_alert_at_two_instances_is_decided_once_and_counted_a_duplicate_by_the_other(pair):
    (queue_a, source_a), (queue_b, source_b), table, log = pair
    assert receive(source_a, body(alert(), alert(fingerprint='fp2'))) == (202, dict(NOTHING, accepted=2))
    assert receive(source_b, body(alert(), alert(fingerprint='fp3'))) == (202, dict(NOTHING, accepted=1, duplicate=1))
    assert [e['alert']['fingerprint'] for e in queue_a.events] == ['fp1', 'fp2']
    assert [e['alert']['fingerprint'] for e in queue_b.events] == ['fp3']
    assert sorted(e['details']['fingerprint'] for e in decisions(log)) == ['fp1', 'fp2', 'fp3']
    assert all(row['lease'] is None for row in table.rows.values())  # confirmed once recorded
    assert receive(source_b, body(alert()))[1]['duplicate'] == 1  # its own gate remembers it now
    assert len(decisions(log)) == 3


def test_two_instances_receiving_at_once_decide_each_episode_once(pair):
    (queue_a, source_a), (queue_b, source_b), _table, log = pair
    data = body(*[alert(fingerprint='fp%d' % n) for n in range(5)])

    async def both():
        first = await asyncio.gather(source_a.receive(data, BEARER, None, None, '/'), source_b.receive(data, BEARER, None, None, '/'))
        again = await asyncio.gather(source_a.receive(data, BEARER, None, None, '/'), source_b.receive(data, BEARER, None, None, '/'))
        return first, again
    first, again = asyncio.run(both())
    assert sorted(status for status, _reply in first) in ([202, 202], [202, 503])  # 503: the other was deciding them
    assert [status for status, _reply in again] == [202, 202]
    assert sum(reply['accepted'] for _status, reply in first + again if _status == 202) == 5
    assert len(queue_a.events) + len(queue_b.events) == 5
    assert sorted(e['details']['fingerprint'] for e in decisions(log)) == ['fp%d' % n for n in range(5)]


def test_an_episode_another_instance_is_deciding_is_503_then_free_once_its_lease_expires(pair):
    (queue_a, source_a), _b, table, log = pair
    key = episode_claims.episode({'alert': {'fingerprint': 'fp1', 'starts_at': '2026-11-25T09:00:00Z',
                                            'status': 'firing'}})
    table.rows[key] = {'owner': 'a-dead-instance', 'lease': table.now + episode_claims.LEASE}  # claimed, then it died
    status, reply = receive(source_a, body(alert(), alert(fingerprint='fp2')))
    assert status == 503 and 'nothing was queued' in reply['error'] and queue_a.events == [] and decisions(log) == []
    assert set(table.rows) == {key}  # fp2's claim, won in the same request, was released
    assert receive(source_a, body(alert(), alert(fingerprint='fp2')))[0] == 503  # the retry: still being decided
    table.now += episode_claims.LEASE + 1
    assert receive(source_a, body(alert(), alert(fingerprint='fp2'))) == (202, dict(NOTHING, accepted=2))
    assert len(decisions(log)) == 2 and table.rows[key] == {'owner': source_a.claims.owner, 'lease': None}


def test_a_claim_whose_decision_could_not_be_recorded_is_released_and_the_retry_is_decided(pair, tmp_path):
    (queue_a, source_a), (queue_b, source_b), table, log = pair
    with open(log, 'w') as handle:
        handle.write('{"damaged": \n')
    assert receive(source_a, body(alert()))[0] == 503 and queue_a.events == []
    assert table.rows == {} and table.calls[-1] == 'release'
    os.unlink(log)
    assert receive(source_b, body(alert())) == (202, dict(NOTHING, accepted=1))  # the retry, sent to the other one
    assert len(queue_b.events) == 1 and len(decisions(log)) == 1


def test_claims_that_cannot_be_taken_are_503_and_the_retry_is_decided(pair):
    (queue_a, source_a), _b, table, log = pair
    table.down = True
    assert receive(source_a, body(alert()))[0] == 503
    assert queue_a.events == [] and decisions(log) == []
    table.down = False
    assert receive(source_a, body(alert())) == (202, dict(NOTHING, accepted=1))


def test_a_confirmation_that_fails_keeps_the_202_and_says_the_lease_will_expire(pair, caplog, monkeypatch):
    (queue_a, source_a), _b, table, log = pair

    def refuse(*_args):
        raise episode_claims.ClaimError('gone')
    monkeypatch.setattr(table, 'confirm', refuse)
    with caplog.at_level(logging.ERROR, 'aigov.core.aiops_alerts'):
        assert receive(source_a, body(alert()))[0] == 202
    assert len(queue_a.events) == 1 and len(decisions(log)) == 1
    assert 'not confirmed, their claims expire in 30 s' in caplog.text
    assert not source_a.claims.held


def test_resolved_notifications_are_claimed_too_and_the_table_is_trimmed_once_a_minute(pair):
    (queue_a, source_a), (queue_b, source_b), table, _log = pair
    assert receive(source_a, body(alert(status='resolved')))[1]['accepted'] == 1
    assert receive(source_b, body(alert(status='resolved')))[1] == dict(NOTHING, duplicate=1)
    receive(source_a, body(alert(fingerprint='fp9')))
    assert table.calls.count('trim') == 2  # once per instance in its first minute
    source_a.claims.trimmed -= episode_claims.TRIM_EVERY
    receive(source_a, body(alert(fingerprint='fp10')))
    assert table.calls.count('trim') == 3


def test_an_alert_without_starts_at_is_one_episode_until_it_resolves_at_every_instance(pair):
    """As the gate: its resolution ends the firing claim, so its next firing, at another instance, is a new episode."""
    (queue_a, source_a), (queue_b, source_b), table, log = pair
    bare = dict(alert(fingerprint='nostart'))
    del bare['startsAt']
    resolved = dict(bare, status='resolved')
    assert receive(source_a, body(bare))[1]['accepted'] == 1
    firing = episode_claims.episode(queue_a.events[0])
    assert table.rows[firing]['lease'] is None  # held while it fires
    assert receive(source_a, body(resolved))[1]['accepted'] == 1
    assert firing not in table.rows  # its resolution ended it
    assert receive(source_b, body(bare)) == (202, dict(NOTHING, accepted=1))  # fired again: a new episode
    assert [e['details']['fingerprint'] for e in decisions(log)] == ['nostart', 'nostart']
    assert len(queue_a.events) == 2 and len(queue_b.events) == 1
