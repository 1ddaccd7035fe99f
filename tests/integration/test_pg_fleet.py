"""The acceptance run of issue 16 on one real PostgreSQL database, everything at once: four real `aigov.core.discover`
runs (ansible-playbook over SSH) against four container hosts, two aiops_alerts instances receiving alerts, and a
secret rotation. Afterwards every entry is counted, the chain verifies with its seals, and no asset change is lost (a
second discover of the four hosts finds nothing to add, update or remove)."""

import asyncio
import json
import multiprocessing
import os
import subprocess

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify, decision_keys
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests import pg
from tests.hosts import testhosts
from tests.integration.conftest import BIN, FAKE_SERVERS, VLLM, start_server, wait_listening
from tests.integration.test_pg_event_source import _args, _rotate, _seed
from tests.unit.plugins.event_source.test_aiops_alerts import BEARER, alert, alertmanager, drain, post, running

HOSTS = 4


def _discover(env, inventory, pattern, workdir, name):
    return subprocess.Popen([os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'aigov.core.discover',
                             '-e', 'aigov_scan_hosts=%s' % pattern], cwd=workdir, env=env, text=True,
                            stdout=open(os.path.join(workdir, '%s.log' % name), 'w'), stderr=subprocess.STDOUT)


def test_discover_runs_sources_and_a_rotation_at_once(ansible_env, pg_cluster, pg_database, tmp_path, monkeypatch):
    keys = ansible_env['AIGOV_DECISION_KEY_FILE']
    monkeypatch.setenv('AIGOV_DECISION_KEY_FILE', keys)  # the two sources run in this process
    _seed(pg_database)  # the event sources' estate (tests/fixtures/inventory), beside the container hosts
    workdir = str(tmp_path)
    with testhosts.test_hosts(HOSTS, 'aigov-pg-%d' % os.getpid(), workdir) as hosts:
        for number, host in enumerate(hosts):
            testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
            start_server(host, VLLM + ['--port', str(8000 + number)])
        for number, host in enumerate(hosts):
            wait_listening(host, 8000 + number)
        inventory = str(testhosts.write_inventory(hosts, tmp_path / 'hosts.json'))
        data = json.load(open(inventory))
        data['all']['hosts'] = {'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')}}
        json.dump(data, open(inventory, 'w'))
        env = dict(ansible_env, AIGOV_DATABASE=pg_database, **pg_cluster.env())
        rotation = multiprocessing.get_context('spawn').Process(target=_rotate, args=(pg_database, str(tmp_path / 'secrets'), 6))

        async def scenario():
            async with running(_args(pg_database)) as (queue_a, url_a), running(_args(pg_database)) as (queue_b, url_b):
                runs = [_discover(env, inventory, host.name, workdir, 'discover-%d' % number)
                        for number, host in enumerate(hosts)]
                rotation.start()
                replies = await asyncio.gather(*[
                    post(url, alertmanager(alert(fingerprint='%s-%d' % (name, n), instance='10.10.0.11:8000')), BEARER)
                    for n in range(30) for name, url in (('a', url_a), ('b', url_b))])
                codes = await asyncio.get_running_loop().run_in_executor(None, lambda: [run.wait(600) for run in runs])
                return replies, codes, drain(queue_a), drain(queue_b)
        replies, codes, events_a, events_b = asyncio.run(scenario())
        rotation.join(120)
        logs = dict((number, open(os.path.join(workdir, 'discover-%d.log' % number)).read()) for number in range(HOSTS))
        assert codes == [0] * HOSTS, logs
        assert rotation.exitcode == 0
        assert [status for status, _body in replies] == [202] * 60 and len(events_a) == len(events_b) == 30
        stored = asset_store.read_inventory(open_store(pg_database, create=False))
        for number, host in enumerate(hosts):
            servers = [row for row in stored['assets'] if row['inventory_hostname'] == host.name
                       and row['kind'] == 'model_server']
            assert [[item['port'] for item in row['record']['attributes']['listeners']] for row in servers] == [
                [8000 + number]], logs[number]
        again = _discover(env, inventory, 'testhosts', workdir, 'discover-again')
        assert again.wait(600) == 0
        text = open(os.path.join(workdir, 'discover-again.log')).read()
        assert 'recorded %d host(s) in %s: 0 added, 0 updated, 0 reappeared, 0 removed' % (HOSTS, pg_database) in text, text
    entries = [entry for _n, entry in audit_log.read_entries(pg_database)]
    decisions = [entry for entry in entries if entry['action'] == 'decision']
    rotations = [entry for entry in entries if entry['action'].startswith('agent_secret.')]
    assert (len(decisions), len(rotations), len(entries)) == (60, 6, 66)
    checked = audit_verify.verify(pg_database, keyring=decision_keys.load(keys))
    assert checked['ok'] and checked['entries'] == 66 and checked['sealed'] == 60, checked['problem']
    assert all(pg.PASSWORD not in open(os.path.join(workdir, name)).read() for name in os.listdir(workdir) if name.endswith('.log'))
