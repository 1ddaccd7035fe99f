"""An alert's `instance` label (as Prometheus sets it: address or name, with or without port) finds the inventory host
whose discovered addresses or listeners match it (alert_intake.Enricher); an explicit host label still wins."""

import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake, alerts
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store, registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests.conftest import FARM
from tests.fixtures.inventory import estate

ROOT = os.path.join(FARM, 'ansible_collections', 'aigov', 'core')
LOCAL = [estate.server('5000000000000001', 'ops-1', 'vllm', '127.0.0.1', 18001, 'none'),
         estate.server('5000000000000002', 'ops-1', 'ollama', '0.0.0.0', 18002, 'none')]
BOUND = [estate.server('6000000000000001', 'bound-1', 'tgi', '10.30.0.9', 8080, 'none')]


@pytest.fixture
def enricher(tmp_path):
    store = str(tmp_path / 'assets.sqlite3')
    scans = [estate.scan('gpu-onprem-1', estate.GPU_HOST, '10.10.0.11'), estate.scan('localhost', LOCAL),
             estate.scan('bound-1', BOUND)]
    asset_store.record_scans(open_store(store), json.loads(json.dumps(scans)), estate.T1)
    found = alert_intake.Enricher(store, registry.load_registry(os.path.join(ROOT, 'tests', 'fixtures', 'inventory',
                                                                             'registry.yml')))
    found.refresh()
    return found


def subject(enricher, **labels):
    alert = alerts.normalize({'labels': dict(alertname='ModelServerDown', **labels)})[0]
    return enricher.subject(alert)


@pytest.mark.parametrize('instance, asset_id, host', [
    ('127.0.0.1:18001', 'model_server:5000000000000001', 'localhost'),    # loopback listener, scraped locally
    ('localhost:18002', 'model_server:5000000000000002', 'localhost'),    # wildcard listener, by name
    ('[::1]:18002', 'model_server:5000000000000002', 'localhost'),        # IPv6 loopback
    ('10.30.0.9:8080', 'model_server:6000000000000001', 'bound-1'),       # a specific bound address: a discovered address
    ('10.10.0.11:8000', 'model_server:1000000000000001', 'gpu-onprem-1'),  # the host's inventory address (as before)
    ('gpu-onprem-1:8000', 'model_server:1000000000000001', 'gpu-onprem-1'),  # its inventory name
    ('gpu-onprem-1', 'model_server:1000000000000001', 'gpu-onprem-1'),    # without port: its only server
])
def test_instance_alone_resolves_to_the_host_that_listens_there(enricher, instance, asset_id, host):
    found = subject(enricher, instance=instance, job='vllm')
    assert (found['known'], found['asset_id'], found['inventory_hostname']) == (True, asset_id, host)


@pytest.mark.parametrize('instance', ['127.0.0.1:9999', '192.0.2.99:18001', '10.30.0.9:18001'])
def test_an_instance_nothing_listens_on_stays_unknown(enricher, instance):
    assert subject(enricher, instance=instance)['known'] is False


def test_an_explicit_host_label_wins_over_the_instance(enricher):
    # aigov_host names a host the store does not know: the instance is not used to guess another one
    assert subject(enricher, instance='127.0.0.1:18001', aigov_host='elsewhere')['known'] is False
    found = subject(enricher, instance='127.0.0.1:18001', aigov_host='gpu-onprem-1')
    assert found['asset_id'] == 'model_server:1000000000000001'


def test_the_index_is_built_once_per_store_change_not_per_alert(enricher, monkeypatch):
    calls = []
    monkeypatch.setattr(alert_intake, 'listener_index', lambda *args: calls.append(1) or {})
    for port in range(18001, 18003):
        subject(enricher, instance='127.0.0.1:%d' % port)
    enricher.refresh()  # unchanged store: one stat, no rebuild
    assert calls == []


class _CountedRecord(dict):
    """A store record that counts the times it is compared as a whole (the old index compared each with its bucket)."""
    comparisons = 0

    def __eq__(self, other):
        _CountedRecord.comparisons += 1
        return dict.__eq__(self, other)

    __hash__ = None


def _fleet_rows(hosts):
    """Store rows of `hosts` hosts, each with a model server on the wildcard address of one shared port (a fleet's shape)."""
    rows = []
    for index in range(hosts):
        listeners = [{'address': '0.0.0.0', 'port': 8000}, {'address': '10.1.%d.%d' % divmod(index, 250), 'port': 8000}]
        record = _CountedRecord(id='model_server:%016d' % index, kind='model_server', name='vllm',
                                attributes={'listeners': listeners, 'engine': 'vllm', 'models': ['m%d' % index]})
        rows.append({'id': record['id'], 'inventory_hostname': 'h%d' % index, 'record': record})
    return rows


def test_the_listener_index_of_a_fleet_is_built_in_linear_time():
    """Every server of a fleet listens on the same wildcard port: one bucket of all of them. It was quadratic (each asset
    compared, as a dict, with the bucket's others: 2,000 hosts made 2 million comparisons), and 10,000 hosts held the
    event loop for minutes on each store change. Counted, not timed: whole-record comparisons stay below one per host."""
    rows = _fleet_rows(2000)
    by_host = dict((row['inventory_hostname'], [row['record']]) for row in rows)
    _CountedRecord.comparisons = 0
    index = alert_intake.listener_index(rows, by_host)
    assert _CountedRecord.comparisons < len(rows)
    assert len(index[('*', 8000)]) == 2000 and index[('10.1.0.7', 8000)] == [rows[7]['record']]
    assert index[('h7', 8000)] == [rows[7]['record']]
