"""The asset store: reconciliation of scans (added, seen, updated, removed, reappeared) and the SQLite backend."""

import os
import sqlite3
import threading

import pytest

from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError


def asset(asset_id, kind='model_server', **attributes):
    return {'schema_version': 1, 'id': '%s:%s' % (kind, asset_id), 'kind': kind, 'name': asset_id, 'host': 'h',
            'confidence': 'inferred', 'attributes': attributes, 'evidence': [{'type': 'process', 'pid': 10}]}


def scan(name, assets, probes=('model_server', 'model_artifact')):
    return {'inventory_hostname': name, 'host': name + '.local', 'address': '10.0.0.1', 'probes': list(probes),
            'problems': [], 'assets': assets}


def ids(items):
    return sorted(item['id'] for item in items)


@pytest.fixture
def store(tmp_path):
    return open_store(str(tmp_path / 'data' / 'assets.sqlite3'))


def test_first_scan_adds_every_asset_and_creates_a_private_file(store):
    changes = asset_store.record_scans(store, [scan('a', [asset('vllm'), asset('m1', 'model_artifact')])], 'T1')
    assert ids(changes['added']) == ['model_artifact:m1', 'model_server:vllm']
    assert asset_store.changed(changes)
    assert oct(os.stat(store.path).st_mode & 0o777) == '0o600'
    rows = asset_store.read_inventory(store)['assets']
    assert [(row['first_seen'], row['last_seen']) for row in rows] == [('T1', 'T1')] * 2


def test_same_scan_again_is_no_change_but_refreshes_last_seen_and_volatile_fields(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm', pids=[10], port=8000)])], 'T1')
    moved = asset('vllm', pids=[77], port=8000)
    moved['evidence'][0]['pid'] = 77
    changes = asset_store.record_scans(store, [scan('a', [moved])], 'T2')
    assert not asset_store.changed(changes)
    row = asset_store.read_inventory(store)['assets'][0]
    assert (row['first_seen'], row['last_seen'], row['record']['attributes']['pids']) == ('T1', 'T2', [77])


def test_changed_description_is_an_update(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm', port=8000, exposed=False)])], 'T1')
    changes = asset_store.record_scans(store, [scan('a', [asset('vllm', port=8000, exposed=True)])], 'T2')
    assert ids(changes['updated']) == ['model_server:vllm'] and not changes['added']


def test_missing_asset_of_a_probed_kind_is_removed_then_reappears(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm'), asset('m1', 'model_artifact')])], 'T1')
    changes = asset_store.record_scans(store, [scan('a', [asset('m1', 'model_artifact')])], 'T2')
    assert ids(changes['removed']) == ['model_server:vllm']
    assert ids(r['record'] for r in asset_store.read_inventory(store)['assets']) == ['model_artifact:m1']
    removed = [r for r in asset_store.read_inventory(store, include_removed=True)['assets'] if r['removed_at']]
    assert [(r['id'], r['removed_at']) for r in removed] == [('model_server:vllm', 'T2')]
    again = asset_store.record_scans(store, [scan('a', [asset('vllm'), asset('m1', 'model_artifact')])], 'T3')
    assert ids(again['reappeared']) == ['model_server:vllm'] and not again['added']
    row = [r for r in asset_store.read_inventory(store)['assets'] if r['id'] == 'model_server:vllm'][0]
    assert (row['first_seen'], row['removed_at']) == ('T1', None)
    assert not asset_store.record_scans(store, [scan('a', [asset('m1', 'model_artifact')])], 'T4')['reappeared']


def test_kinds_not_probed_and_hosts_not_scanned_are_left_alone(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm'), asset('m1', 'model_artifact')]),
                                     scan('b', [asset('ollama')])], 'T1')
    changes = asset_store.record_scans(store, [scan('a', [], probes=['model_artifact'])], 'T2')
    assert ids(changes['removed']) == ['model_artifact:m1']
    kept = asset_store.read_inventory(store)['assets']
    assert sorted((r['inventory_hostname'], r['id']) for r in kept) == [('a', 'model_server:vllm'), ('b', 'model_server:ollama')]


def test_check_mode_computes_changes_and_writes_nothing(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm')])], 'T1')
    before = open(store.path, 'rb').read()
    changes = asset_store.record_scans(store, [scan('a', [asset('tgi')])], 'T2', dry_run=True)
    assert ids(changes['added']) == ['model_server:tgi'] and ids(changes['removed']) == ['model_server:vllm']
    assert open(store.path, 'rb').read() == before


def test_hosts_table_keeps_first_scan_and_tracks_last(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm')])], 'T1')
    asset_store.record_scans(store, [scan('a', [])], 'T2')
    host = asset_store.read_inventory(store)['hosts'][0]
    assert (host['first_scan'], host['last_scan'], host['asset_count'], host['address']) == ('T1', 'T2', 0, '10.0.0.1')


def test_registry_match_is_not_stored(store):
    registered = dict(asset('vllm'), registry={'shadow': False, 'use_case': 'x'})
    asset_store.record_scans(store, [scan('a', [registered])], 'T1')
    assert 'registry' not in asset_store.read_inventory(store)['assets'][0]['record']
    assert not asset_store.changed(asset_store.record_scans(store, [scan('a', [asset('vllm')])], 'T2'))


def test_reader_of_a_missing_store_gets_a_clear_error(tmp_path):
    with pytest.raises(AigovError, match=r"no asset store at '.*nothing.sqlite3'.*aigov.core.discover"):
        asset_store.read_inventory(open_store(str(tmp_path / 'nothing.sqlite3'), create=False))
    assert not (tmp_path / 'nothing.sqlite3').exists()


def test_a_file_that_is_not_a_store_is_named(tmp_path):
    path = tmp_path / 'assets.sqlite3'
    path.write_text('hello, not sqlite at all' * 100)
    with pytest.raises(AigovError, match=r"'.*assets.sqlite3' is not a usable aigov.core asset store"):
        asset_store.record_scans(open_store(str(path)), [scan('a', [])], 'T1')


def test_a_store_damaged_past_its_header_is_named_when_read(store):
    """Damage met only by a read (a table's page, not the header or the schema version) is an error naming the store,
    not a traceback of the driver's."""
    asset_store.record_scans(store, [scan('a', [asset('vllm-%d' % n) for n in range(50)])], 'T1')
    with sqlite3.connect(store.path) as connection:
        page_size = connection.execute('PRAGMA page_size').fetchone()[0]
        root = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'assets'").fetchone()[0]
    with open(store.path, 'r+b') as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b'\xff' * page_size)
    with pytest.raises(AigovError, match=r"cannot read the asset store '.*assets.sqlite3': database disk image is malformed"):
        asset_store.read_inventory(open_store(store.path, create=False))


def test_a_store_of_another_schema_version_is_refused(store):
    asset_store.record_scans(store, [scan('a', [])], 'T1')
    with sqlite3.connect(store.path) as connection:
        connection.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(AigovError, match='schema version 99; this aigov.core reads version 1'):
        asset_store.read_inventory(store)


def test_unwritable_location_is_named(tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(AigovError, match="cannot open the asset store '.*file/assets.sqlite3'"):
        asset_store.record_scans(open_store(str(blocker / 'assets.sqlite3')), [scan('a', [])], 'T1')


def test_concurrent_writers_lose_nothing(store):
    """Eight writers at once, each recording its own host: every host and asset is there afterwards."""
    asset_store.record_scans(store, [], 'T0')
    errors = []

    def write(index):
        try:
            asset_store.record_scans(open_store(store.path), [scan('h%d' % index, [asset('s%d' % index)])], 'T1')
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    data = asset_store.read_inventory(store)
    assert len(data['hosts']) == 8 and len(data['assets']) == 8
