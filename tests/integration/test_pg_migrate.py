"""playbooks/migrate_to_postgresql.yml through the real ansible-playbook: an embedded store and a sealed file audit log
copied into a real PostgreSQL server; check mode writes nothing, a second run changes nothing, the chain verifies end
to end and the next entry written in the database is anchored on the file's head."""

import json
import sys

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests import pg
from tests.fixtures.inventory import estate
from tests.integration.conftest import Ansible


def _sources(tmp_path, keys):
    data = tmp_path / 'aigov-data'
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(str(data / 'assets.sqlite3')), json.loads(json.dumps(scans)), when)
    keyring = decision_keys.load(keys)
    log = str(data / 'audit.jsonl')
    for number in range(5):
        audit_log.append(log, 'ops', 'agent_secret.rotate', 'agent-%d' % number, 'team', 'success')
    audit_log.append(log, **keyring.seal(dict(actor='aigov.core.aiops_alerts', action='decision', subject='x', owner='o',
                                              outcome='planned', reasons=[], details={'fingerprint': 'f'})))
    (tmp_path / 'inv.json').write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    return str(data / 'assets.sqlite3'), log


def test_migration_keeps_the_chain_and_the_store(ansible_env, pg_cluster, pg_database, tmp_path):
    keys = ansible_env['AIGOV_DECISION_KEY_FILE']
    store, log = _sources(tmp_path, keys)
    runner = Ansible(dict(ansible_env, AIGOV_DATABASE=pg_database, **pg_cluster.env()))
    play = ('-i', tmp_path / 'inv.json', 'aigov.core.migrate_to_postgresql')
    checked = runner.playbook(*play + ('--check',), cwd=str(tmp_path))
    assert checked.returncode == 0 and 'would copy 6 audit entries and' in checked.stdout, checked.stdout + checked.stderr
    assert pg_cluster.psql(pg_database.rsplit('/', 1)[1], '\\dt') == ''  # check mode created nothing, not even tables
    assert audit_verify.verify(pg_database)['entries'] == 0
    first = runner.playbook(*play, cwd=str(tmp_path))
    assert first.returncode == 0, first.stdout + first.stderr
    assert 'changed=1' in first.stdout and 'chain intact, holding anchor seq 6' in first.stdout
    again = runner.playbook(*play, cwd=str(tmp_path))
    assert again.returncode == 0 and 'changed=0' in again.stdout and 'already copied' in again.stdout, again.stdout
    assert [raw for _n, raw, _e in audit_log.iter_lines(pg_database)] == [raw for _n, raw, _e in audit_log.iter_lines(log)]
    for removed in (False, True):
        assert asset_store.read_inventory(open_store(pg_database, create=False), removed) == asset_store.read_inventory(
            open_store(store, create=False), removed)
    head = audit_verify.verify(log)
    entry = audit_log.append(pg_database, 'ops', 'agent_secret.rotate', 'agent-9', 'team', 'success')
    assert (entry['seq'], entry['prev_hash']) == (7, head['last_hash'])  # the file's head anchors the database's chain
    checked = audit_verify.verify(pg_database, dict(seq=6, hash=head['last_hash']), decision_keys.load(keys))
    assert checked['state'] == 'intact' and checked['sealed'] == 1 and checked['entries'] == 7
    assert all(pg.PASSWORD not in output for output in runner.outputs)


def test_a_database_holding_another_chain_is_refused(ansible_env, pg_cluster, pg_database, tmp_path):
    _store, _log = _sources(tmp_path, ansible_env['AIGOV_DECISION_KEY_FILE'])
    audit_log.append(pg_database, 'ops', 'other', 'x', 'team', 'success')
    runner = Ansible(dict(ansible_env, AIGOV_DATABASE=pg_database, **pg_cluster.env()))
    proc = runner.playbook('-i', tmp_path / 'inv.json', 'aigov.core.migrate_to_postgresql', cwd=str(tmp_path))
    assert proc.returncode == 2 and 'already holds 1 entries that are not this file' in proc.stdout, proc.stdout
    assert audit_verify.verify(pg_database)['entries'] == 1
