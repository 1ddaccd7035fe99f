"""The approvals queue in PostgreSQL (alerts/approvals_postgres.py, tests/pg.py): record for record what the file
queue holds, a request decided once when verdicts arrive at once from several processes, expiry, check mode that
predicts and writes nothing, the approval_queue action unchanged, and a database away as a clear error."""

import json
import multiprocessing
import types

import pytest

from ansible_collections.aigov.core.plugins.action.approval_queue import ActionModule as ApprovalQueue
from ansible_collections.aigov.core.plugins.module_utils.alerts import approvals
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify
from ansible_collections.aigov.core.plugins.module_utils.common import database, paths
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from tests import pg
from tests.integration.conftest import Ansible, record_decision
from tests.unit.plugins.action.test_remediation_plan import decide, event, run, site  # noqa: F401 pylint: disable=unused-import
from tests.unit.plugins.module_utils.remediation.test_remediation import event as review_event

T0, T1, T2 = '2026-11-25T08:00:00+00:00', '2026-11-25T08:10:00+00:00', '2026-11-25T12:00:00+00:00'


def _rows(dsn):
    conn = database.connect(dsn, 'test')
    try:
        if conn.execute("SELECT to_regclass('aigov_approvals')").fetchone()[0] is None:
            return []
        return [json.loads(row[0]) for row in conn.execute('SELECT record FROM aigov_approvals ORDER BY seq')]
    finally:
        conn.close()


def _script(path):
    """The same requests and verdicts, errors included, on a queue at path; what each step answered."""
    answers = []
    first = dict(review_event('review'), payload_b64='b2xk')
    second = dict(review_event('review'), payload_b64='bmV3')
    answers.append(approvals.request(path, first, 'restart_model_server', now=T0, ttl=3600))
    answers.append(approvals.request(path, first, 'restart_model_server', now=T1))  # queued again: nothing changes
    answers.append(approvals.request(path, second, 'restart_model_server', now=T1))
    answers.append([r['id'] for r in approvals.pending(path)])
    rid = answers[0][1]['id']
    for args in (('nope', 'approve', 'alice'), (rid, 'maybe', 'alice'), (rid, 'approve', '')):
        with pytest.raises(approvals.ApprovalError) as caught:
            approvals.decide(path, *args, now=T1)
        answers.append(str(caught.value).replace(database.display(path), '<queue>'))
    answers.append(approvals.decide(path, rid, 'deny', 'alice', now=T1))
    with pytest.raises(approvals.ApprovalError) as caught:
        approvals.decide(path, rid, 'approve', 'bob', now=T1)
    answers.append(str(caught.value))
    answers.append(approvals.listing(path, ttl=3 * 3600, now=approvals._moment(T2)))  # the second: expired at 11:10
    with pytest.raises(approvals.ApprovalError) as caught:
        approvals.decide(path, answers[2][1]['id'], 'approve', 'alice', now=T2, ttl=3 * 3600)
    answers.append(str(caught.value))
    return answers


def test_the_queue_in_postgresql_answers_and_holds_what_the_file_does(pg_database, tmp_path):
    queue = str(tmp_path / 'approvals.jsonl')
    assert _script(pg_database) == _script(queue)
    assert _rows(pg_database) == [json.loads(line) for line in open(queue)]
    assert [r['kind'] for r in _rows(pg_database)] == ['request', 'request', 'verdict']


def _verdict(dsn, rid, approver, env):
    import os  # pylint: disable=import-outside-toplevel
    os.environ.update(env)
    try:
        approvals.decide(dsn, rid, 'approve', approver)
        return 'decided'
    except approvals.ApprovalError as exc:
        return str(exc)


def test_verdicts_from_six_processes_at_once_decide_a_request_once(pg_cluster, pg_database):
    created, record = approvals.request(pg_database, dict(review_event('review'), payload_b64='b2xk'), 'restart_model_server')
    assert created
    with multiprocessing.get_context('spawn').Pool(6) as pool:
        results = pool.starmap(_verdict, [(pg_database, record['id'], 'approver-%d' % n, pg_cluster.env()) for n in range(6)])
    assert results.count('decided') == 1
    assert all('was already decided (approve by approver-' in result for result in results if result != 'decided')
    verdicts = [r for r in _rows(pg_database) if r['kind'] == 'verdict']
    assert len(verdicts) == 1 and verdicts[0]['approver'] in ['approver-%d' % n for n in range(6)]
    assert approvals.pending(pg_database) == []


def test_the_action_on_postgresql_check_mode_predicts_writes_nothing_and_the_entries_name_no_password(
        site, pg_database, monkeypatch):  # noqa: F811
    monkeypatch.setenv(database.ENV, pg_database)
    for name in (paths.AUDIT_LOG.env, paths.APPROVALS_QUEUE.env):
        monkeypatch.delenv(name, raising=False)
    assert paths.resolve(paths.APPROVALS_QUEUE) == pg_database  # one setting: the queue is in the database too
    assert paths.resolve(paths.APPROVALS_QUEUE, audit_log=pg_database, environ={}) == pg_database
    where = types.SimpleNamespace(**dict(vars(site), log=pg_database, queue=pg_database))
    ev = event('review')
    decide(where, ev)
    predicted = run(ApprovalQueue, where, check=True, state='requested', path=where.queue, payload=ev['payload_b64'])
    assert predicted['changed'] and _rows(pg_database) == []
    with pytest.raises(AigovError, match='no request %s in approvals queue' % predicted['request']['id']):
        run(ApprovalQueue, where, check=True, state='decided', path=where.queue, request=predicted['request']['id'],
            verdict='approve', approver='alice')
    request = run(ApprovalQueue, where, state='requested', path=where.queue, payload=ev['payload_b64'])['request']['id']
    assert request == predicted['request']['id']
    assert not run(ApprovalQueue, where, check=True, state='requested', path=where.queue, payload=ev['payload_b64'])['changed']
    listed = run(ApprovalQueue, where, state='pending', path=where.queue)
    assert [item['id'] for item in listed['pending']] == [request] and '1 pending request(s) in postgresql://' in listed['msg']
    rows, logged = _rows(pg_database), len(audit_log.read_entries(pg_database))
    decided = run(ApprovalQueue, where, check=True, state='decided', path=where.queue, request=request, verdict='approve',
                  approver='alice')
    assert decided['changed'] and decided['verdict']['verdict'] == 'approve'
    assert _rows(pg_database) == rows and len(audit_log.read_entries(pg_database)) == logged
    done = run(ApprovalQueue, where, state='decided', path=where.queue, request=request, verdict='approve', approver='alice')
    assert done['verdict']['approver'] == 'alice' and done['payload_b64'] == ev['payload_b64']
    with pytest.raises(AigovError, match='already decided'):
        run(ApprovalQueue, where, state='decided', path=where.queue, request=request, verdict='deny', approver='bob')
    recorded = [entry for _n, entry in audit_log.read_entries(pg_database)]
    assert [entry['action'] for entry in recorded] == ['decision', 'approval.requested', 'approval.decision']
    assert recorded[1]['details']['queue'] == pg_database and pg.PASSWORD not in json.dumps(recorded)
    assert audit_verify.verify(pg_database, keyring=site.ring)['ok']


def test_a_database_away_is_a_clear_error_without_its_password(pg_cluster, pg_database):
    down = 'postgresql://%s:%s@127.0.0.1:%d/x' % (pg.USER, pg.PASSWORD, pg.free_port())
    for call in (lambda: approvals.pending(down), lambda: approvals.decide(down, 'abc', 'approve', 'alice'),
                 lambda: approvals.request(down, dict(review_event('review'), payload_b64='b2xk'), 'restart_model_server')):
        with pytest.raises(approvals.ApprovalError) as caught:
            call()
        assert 'approvals queue' in str(caught.value) and pg.PASSWORD not in str(caught.value)


def test_the_playbooks_unchanged_queue_list_and_decide_in_the_database_from_separate_runs(
        ansible_env, pg_cluster, pg_database, tmp_path):
    """As on AAP: request_approval and approve are separate ansible-playbook runs in separate working directories
    (no shared file); AIGOV_DATABASE alone puts the audit log and the queue in PostgreSQL."""
    env = dict(ansible_env, AIGOV_DATABASE=pg_database, **pg_cluster.env())
    for name in (paths.AUDIT_LOG.env, paths.APPROVALS_QUEUE.env, paths.ASSET_STORE.env):
        env.pop(name, None)
    runner = Ansible(env)
    payload = record_decision(pg_database, {
        'alert': {'fingerprint': 'pb1', 'name': 'ModelServerDown', 'status': 'firing', 'labels': {}},
        'asset': {'asset_id': 'model_server:1000000000000001', 'inventory_hostname': 'gpu-onprem-1', 'known': True},
        'decision': {'decision': 'review', 'accountable': 'ml-platform', 'reasons': ['why']},
        'meta': {'received_at': '2026-12-06T09:00:00+00:00'}}, env)
    first, second = tmp_path / 'job-1', tmp_path / 'job-2'
    first.mkdir()
    second.mkdir()
    queued = runner.playbook('aigov.core.request_approval', '-e', 'aigov_event_payload=%s' % payload, cwd=str(first))
    assert queued.returncode == 0, queued.stdout[-3000:]
    request = approvals.request_id(payload)
    assert 'APPROVAL REQUESTED %s' % request in queued.stdout
    listed = runner.playbook('aigov.core.approve', cwd=str(second))
    assert listed.returncode == 0 and '1 pending request(s) in postgresql://' in listed.stdout, listed.stdout[-3000:]
    assert request in listed.stdout
    denied = runner.playbook('aigov.core.approve', '-e', 'request=%s' % request, '-e', 'verdict=deny',
                             '-e', 'approver=carol', cwd=str(second))
    assert denied.returncode == 0 and 'denied by carol: nothing runs' in denied.stdout, denied.stdout[-3000:]
    again = runner.playbook('aigov.core.approve', '-e', 'request=%s' % request, '-e', 'verdict=approve',
                            '-e', 'approver=dave', cwd=str(first))
    assert again.returncode != 0 and 'was already decided (deny by carol' in again.stdout, again.stdout[-3000:]
    assert [r['kind'] for r in _rows(pg_database)] == ['request', 'verdict']
    assert not list(first.rglob('*.jsonl')) and not list(second.rglob('*.jsonl'))  # no file queue or log anywhere
    assert [entry['action'] for _n, entry in audit_log.read_entries(pg_database)] == [
        'decision', 'approval.requested', 'approval.decision']
    assert pg.PASSWORD not in ''.join(runner.outputs)
