"""The asset store in a real PostgreSQL server (tests/pg.py): the embedded store's contract suite, concurrent runs
in several processes that lose nothing, a refused schema version, a server restarted mid-run."""

import multiprocessing

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_postgres import PostgresStore
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests import pg
# The backend-independent cases of the embedded store's suite, run here against PostgreSQL (fixture `store` below).
from tests.unit.plugins.module_utils.store.test_asset_store import (  # noqa: F401 pylint: disable=unused-import
    asset, scan, test_changed_description_is_an_update, test_concurrent_writers_lose_nothing,
    test_hosts_table_keeps_first_scan_and_tracks_last, test_kinds_not_probed_and_hosts_not_scanned_are_left_alone,
    test_missing_asset_of_a_probed_kind_is_removed_then_reappears, test_registry_match_is_not_stored,
    test_same_scan_again_is_no_change_but_refreshes_last_seen_and_volatile_fields)


@pytest.fixture
def store(pg_database):
    found = open_store(pg_database)
    assert isinstance(found, PostgresStore)
    return found


def _db(pg_database):
    return pg_database.rsplit('/', 1)[1]


def test_same_rows_as_the_embedded_store(store, tmp_path):
    embedded = open_store(str(tmp_path / 'assets.sqlite3'))
    runs = [([scan('b', [asset('vllm'), asset('m1', 'model_artifact')]), scan('a', [asset('Z'), asset('a')])], 'T1'),
            ([scan('b', [asset('m1', 'model_artifact')])], 'T2'),
            ([scan('a', [asset('a', port=1)], probes=['model_server'])], 'T3')]
    for scans, when in runs:
        assert asset_store.record_scans(store, scans, when) == asset_store.record_scans(embedded, scans, when)
    for removed in (False, True):
        assert asset_store.read_inventory(store, removed) == asset_store.read_inventory(embedded, removed)


def test_check_mode_writes_nothing(store):
    asset_store.record_scans(store, [scan('a', [asset('vllm')])], 'T1')
    generation = store.stamp()
    changes = asset_store.record_scans(store, [scan('a', [asset('tgi')])], 'T2', dry_run=True)
    assert [item['id'] for item in changes['added']] == ['model_server:tgi']
    assert store.stamp() == generation
    assert [row['id'] for row in asset_store.read_inventory(store)['assets']] == ['model_server:vllm']


def test_reader_of_a_database_without_a_store_gets_a_clear_error(pg_cluster, pg_database):
    with pytest.raises(AigovError, match=r"no asset store at 'postgresql://.*aigov.core.discover"):
        asset_store.read_inventory(open_store(pg_database, create=False))
    assert 'aigov_assets' not in pg_cluster.psql(_db(pg_database), '\\dt')


def test_a_newer_schema_version_is_refused(pg_cluster, store, pg_database):
    asset_store.record_scans(store, [scan('a', [])], 'T1')
    pg_cluster.psql(_db(pg_database), "UPDATE aigov_schema SET version = 99 WHERE component = 'asset_store'")
    with pytest.raises(AigovError, match='schema version 99; this aigov.core reads version 1'):
        asset_store.read_inventory(open_store(pg_database, create=False))


def _discover(dsn, worker, rounds, results):
    """One discover run after another: worker's own host, and one host every worker shares."""
    for number in range(rounds):
        own = scan('host-%d' % worker, [asset('w%d-r%d' % (worker, n)) for n in range(number + 1)],
                   probes=['model_server'])
        shared = scan('shared', [asset('s%d-r%d' % (worker, number))], probes=['model_artifact'])
        asset_store.record_scans(open_store(dsn), [own, shared], 'T%03d' % number)
    results.put(worker)


def test_concurrent_discover_runs_in_processes_lose_no_change(store, pg_database):
    asset_store.record_scans(store, [], 'T0')
    context = multiprocessing.get_context('spawn')
    results = context.Queue()
    workers = [context.Process(target=_discover, args=(pg_database, worker, 8, results)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0] * 4
    data = asset_store.read_inventory(store)
    by_host = {}
    for row in data['assets']:
        by_host.setdefault(row['inventory_hostname'], set()).add(row['id'])
    for worker in range(4):
        assert by_host['host-%d' % worker] == set('model_server:w%d-r%d' % (worker, n) for n in range(8))
    # the shared host: every worker's model_server asset from every round (none of its runs probed model_server)
    assert by_host['shared'] == set('model_server:s%d-r%d' % (w, n) for w in range(4) for n in range(8))
    assert sorted(host['inventory_hostname'] for host in data['hosts']) == ['host-0', 'host-1', 'host-2', 'host-3', 'shared']


def test_database_restarted_mid_run_writes_nothing_half(pg_cluster, store, pg_database):
    asset_store.record_scans(store, [scan('a', [asset('vllm')])], 'T1')

    class Dropping(object):
        """A scan list whose reading restarts the server: the run's transaction is cut after it began."""

        def __iter__(self):
            pg_cluster.restart()
            return iter([scan('a', [asset('tgi')]), scan('b', [asset('x')])])

    scans = [scan('a', [asset('tgi')]), scan('b', [asset('x')])]
    with pytest.raises(AigovError) as caught:
        with store.transaction() as txn:
            txn.read_assets(['a', 'b'], include_removed=True)
            list(Dropping())
            txn.write(asset_store.reconcile({}, scans, 'T2'))
    assert str(caught.value).startswith('cannot write the asset store: nothing written') and pg.PASSWORD not in str(caught.value)
    data = asset_store.read_inventory(store)
    assert [(row['inventory_hostname'], row['id']) for row in data['assets']] == [('a', 'model_server:vllm')]
    assert asset_store.changed(asset_store.record_scans(store, scans, 'T3'))  # the next run works
