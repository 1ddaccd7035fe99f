"""Figures: the PostgreSQL backend against the embedded one and against plain SQL, in the same run, on a real
PostgreSQL server started for the run (tests/pg.py: an unprivileged cluster on 127.0.0.1, fsync on).

  inventory  `ansible-inventory --list` through aigov.core.ai_assets over the store in PostgreSQL vs the same store
             in SQLite (default 100,000 assets on 10,000 hosts; median wall time of the CLI; target <= 1.5)
  audit      8 concurrent writer processes appending to the one hash chain in PostgreSQL (each write: into the
             pending table, then chained by whichever writer holds the chain lock, with every other pending
             write, and committed on disk) vs 8 processes doing a plain INSERT + COMMIT loop of the same lines
             into an unchained table (target >= 2,000 entries/s, the chain verifying afterwards); one entry per
             write, and the event source's group commit (10 entries per write)
  discover   record_scans() of 1,000 hosts (10 assets each), first run then a rescan with changes, PostgreSQL vs
             SQLite (median wall time; target <= 1.5)
"""

import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest, pg  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store  # noqa: E402
from tests.fixtures.inventory import estate  # noqa: E402
import inventory_vs_static  # noqa: E402
import targets  # noqa: E402

WRITERS = 8


def _scans(hosts, salt=0):
    return [estate.scan('host-%05d' % index, inventory_vs_static.host_assets(index + salt, 'host-%05d' % index),
                        '10.%d.%d.%d' % (index // 62500, (index // 250) % 250, index % 250)) for index in range(hosts)]


def _inventory(args, cluster, workdir):
    hosts = args.pg_inventory_hosts
    dsn = cluster.create_database('bench_inventory')
    scans = _scans(hosts)
    asset_store.record_scans(open_store(os.path.join(workdir, 'assets.sqlite3')), scans, estate.T1)
    asset_store.record_scans(open_store(dsn), scans, estate.T1)
    sources = {}
    for name, store in (('sqlite', 'assets.sqlite3'), ('postgresql', dsn)):
        sources[name] = os.path.join(workdir, '%s.ai_assets.yml' % name)
        with open(sources[name], 'w') as handle:
            handle.write('plugin: aigov.core.ai_assets\nstore: %s\n' % store)
    outputs = dict((name, inventory_vs_static.inventory_list(source, workdir, hosts)[1]) for name, source in sources.items())
    if json.loads(outputs['sqlite']) != json.loads(outputs['postgresql']):
        sys.exit('the inventories from SQLite and PostgreSQL differ')
    times = {'sqlite': [], 'postgresql': []}
    for index in range(args.pg_rounds):
        for name in (('sqlite', 'postgresql') if index % 2 == 0 else ('postgresql', 'sqlite')):
            times[name].append(inventory_vs_static.inventory_list(sources[name], workdir, hosts)[0])
    base, cand = statistics.median(times['sqlite']), statistics.median(times['postgresql'])
    assets = sum(len(scan['assets']) for scan in scans)
    print('\nansible-inventory --list, %d assets on %d hosts, %d interleaved rounds, median wall time (outputs equal)'
          % (assets, hosts, args.pg_rounds))
    print('  baseline  ai_assets over the SQLite store      %.2f s' % base)
    print('  candidate ai_assets over the PostgreSQL store  %.2f s' % cand)
    print('  ratio     %.2fx the baseline (lower is faster; target <= 1.5)' % (cand / base))
    return {'figure': 'pg_inventory_vs_sqlite', 'hosts': hosts, 'assets': assets, 'rounds': args.pg_rounds,
            'baseline_median_s': round(base, 3), 'candidate_median_s': round(cand, 3), 'ratio': round(cand / base, 3),
            'targets': [targets.check('postgresql: inventory from PostgreSQL vs SQLite', cand / base, '<=', 1.5)]}


def _record(number):
    return dict(actor='bench', action='agent_secret.rotate', subject='agent-%d' % number, owner='team',
                outcome='success', reasons=['bench'], details={'n': number})


def _chained(dsn, count, batch, start, done):
    writer = audit_log.Writer(dsn)
    start.wait()
    for first in range(0, count, batch):
        writer.append_many([_record(number) for number in range(first, min(count, first + batch))])
    writer.close()
    done.put(count)


def _plain(dsn, count, batch, start, done):
    psycopg = __import__('psycopg')
    line = audit_log.canonical(dict(_record(0), seq=1, prev_hash='0' * 64, hash='0' * 64, time='x', schema_version=1))
    with psycopg.connect(dsn) as conn:
        start.wait()
        for first in range(0, count, batch):
            with conn.transaction():
                with conn.cursor() as cursor:
                    cursor.executemany('INSERT INTO plain_log (action, line) VALUES (%s, %s)',
                                       [('agent_secret.rotate', line.decode())] * min(batch, count - first))
    done.put(count)


def _rate(target, dsn, count, batch):
    context = multiprocessing.get_context('fork')
    start, done = context.Event(), context.Queue()
    workers = [context.Process(target=target, args=(dsn, count, batch, start, done)) for _n in range(WRITERS)]
    for process in workers:
        process.start()
    time.sleep(1.0)  # connected and waiting
    began = time.monotonic()
    start.set()
    total = sum(done.get(timeout=600) for _process in workers)
    elapsed = time.monotonic() - began
    for process in workers:
        process.join(60)
    return total / elapsed


def _audit(args, cluster):
    figures, verdicts = {}, []
    for batch in (1, 10):
        dsn = cluster.create_database('bench_audit_%d' % batch)
        audit_log.append(dsn, **_record(0))  # the schema in place before the clock starts
        cluster.psql('bench_audit_%d' % batch, 'CREATE TABLE plain_log (id bigserial PRIMARY KEY, action text, line text)')
        count = args.pg_audit_entries // WRITERS
        plain = _rate(_plain, dsn, count, batch)
        chained = _rate(_chained, dsn, count, batch)
        checked = audit_verify.verify(dsn)
        if not checked['ok'] or checked['entries'] != count * WRITERS + 1:
            sys.exit('the audit chain does not verify after the benchmark: %s' % checked)
        figures[batch] = (plain, chained)
        print('\naudit appends, %d writer processes, %d entries, %d per write (chain verified: %d entries)'
              % (WRITERS, count * WRITERS, batch, checked['entries']))
        print('  baseline  plain INSERT + COMMIT loop, no chain     %8.0f entries/s' % plain)
        print('  candidate aigov audit log in PostgreSQL (chained)  %8.0f entries/s (%.2fx the baseline; target >= 2,000/s)'
              % (chained, chained / plain))
        verdicts.append(targets.check('postgresql: chained audit appends, %d writers, %d per write' % (WRITERS, batch),
                                      chained, '>=', 2000, '/s'))
    return {'figure': 'pg_audit_appends', 'writers': WRITERS, 'entries': args.pg_audit_entries, 'targets': verdicts,
            'per_write': dict((str(batch), {'plain_insert_per_s': round(plain), 'chained_per_s': round(chained),
                                            'ratio': round(chained / plain, 3)})
                              for batch, (plain, chained) in figures.items())}


def _discover(args, cluster, workdir):
    hosts = args.pg_discover_hosts
    times = {'sqlite': [], 'postgresql': []}
    for index in range(args.pg_rounds):
        stores = {'sqlite': open_store(os.path.join(workdir, 'discover-%d.sqlite3' % index)),
                  'postgresql': open_store(cluster.create_database('bench_discover_%d' % index))}
        for name in (('sqlite', 'postgresql') if index % 2 == 0 else ('postgresql', 'sqlite')):
            began = time.monotonic()
            asset_store.record_scans(stores[name], _scans(hosts), estate.T1)
            asset_store.record_scans(stores[name], _scans(hosts, salt=3), estate.T2)  # a rescan: changes
            times[name].append(time.monotonic() - began)
    base, cand = statistics.median(times['sqlite']), statistics.median(times['postgresql'])
    print('\ndiscover reconciliation, %d hosts x 10 assets, a first run and a rescan, %d rounds, median wall time'
          % (hosts, args.pg_rounds))
    print('  baseline  record_scans into SQLite      %.2f s' % base)
    print('  candidate record_scans into PostgreSQL  %.2f s' % cand)
    print('  ratio     %.2fx the baseline (lower is faster; target <= 1.5)' % (cand / base))
    return {'figure': 'pg_discover_vs_sqlite', 'hosts': hosts, 'rounds': args.pg_rounds, 'baseline_median_s': round(base, 3),
            'candidate_median_s': round(cand, 3), 'ratio': round(cand / base, 3),
            'targets': [targets.check('postgresql: discover reconciliation vs SQLite', cand / base, '<=', 1.5)]}


SMOKE = {'pg_inventory_hosts': 100, 'pg_audit_entries': 160, 'pg_discover_hosts': 50, 'pg_rounds': 1}  # run.py --smoke


def run(args):
    """Measure and print the figures; return them as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-pg-')
    cluster = pg.Cluster().init().start()
    os.environ.update(cluster.env())
    try:
        figures = [_audit(args, cluster), _discover(args, cluster, workdir), _inventory(args, cluster, workdir)]
    finally:
        cluster.destroy()
    return {'figure': 'postgresql', 'figures': figures, 'targets': [found for figure in figures for found in figure['targets']]}


def add_arguments(parser):
    parser.add_argument('--pg-inventory-hosts', type=int, default=10000,
                        help='hosts of the PostgreSQL inventory figure (10 assets each; smoke: 1000)')
    parser.add_argument('--pg-audit-entries', type=int, default=16000, help='entries of the audit figure (all writers)')
    parser.add_argument('--pg-discover-hosts', type=int, default=1000, help='hosts of the discover figure (10 assets each)')
    parser.add_argument('--pg-rounds', type=int, default=3, help='interleaved rounds of the PostgreSQL figures')
