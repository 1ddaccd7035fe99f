# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The asset store in PostgreSQL: the embedded store's transaction() interface, for control nodes that share no disk.

open_store() (asset_store_sqlite.py) returns this backend for a location that is a PostgreSQL URL
(common/database.py). asset_store.record_scans() runs unchanged: one transaction per run, in which the hosts
of the run are locked first (transaction-level advisory locks, taken in sorted order so two runs never
deadlock), then read, reconciled and written. Runs on different hosts go on side by side and touch disjoint
rows; two runs on one host take turns, the second reading what the first committed: no change is lost.
Rows come back in the embedded store's order (binary collation), so every reader builds the same output.
The schema is versioned (aigov_schema, database.ensure_schema): each version's migration runs once, under
a lock, whoever connects first.
"""

from __future__ import annotations

import contextlib
import json

from ansible_collections.aigov.core.plugins.module_utils.common import database, fast_json
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store import STORE_SCHEMA_VERSION

COMPONENT = 'asset_store'
WHAT = 'asset store'
_SCHEMA = {1: [
    'CREATE TABLE aigov_hosts (inventory_hostname text PRIMARY KEY, host text, address text, probes text NOT NULL, '
    'problems text NOT NULL, asset_count integer NOT NULL, first_scan text NOT NULL, last_scan text NOT NULL)',
    'CREATE TABLE aigov_assets (inventory_hostname text NOT NULL, id text NOT NULL, kind text NOT NULL, '
    'record text NOT NULL, digest text NOT NULL, first_seen text NOT NULL, last_seen text NOT NULL, removed_at text, '
    'PRIMARY KEY (inventory_hostname, id))',
    # a reader that keeps a copy (the event source) asks this one row whether anything changed
    'CREATE TABLE aigov_asset_generation (id smallint PRIMARY KEY CHECK (id = 1), generation bigint NOT NULL)',
    'INSERT INTO aigov_asset_generation VALUES (1, 0)',
]}
_ASSET_COLUMNS = ('inventory_hostname', 'id', 'kind', 'record', 'digest', 'first_seen', 'last_seen', 'removed_at')
_HOST_COLUMNS = ('inventory_hostname', 'host', 'address', 'probes', 'problems', 'asset_count', 'first_scan', 'last_scan')
_ready = set()


class PostgresStore(object):
    """Asset store in a PostgreSQL database. `create=False` reads only, and refuses a database without a store."""

    def __init__(self, location, create=True):
        self.location = location
        self.path = database.display(location)  # what results and messages show: never a password
        self.create = create

    @contextlib.contextmanager
    def _session(self, doing):
        """A connection of its own for the block, the schema in place (a writer's first call creates it); closed after
        it. A database that is away or refuses says `doing` (database.session), naming the location, never a password."""
        with database.session(self.location, WHAT, doing) as conn:
            if self.create and self.location not in _ready:
                database.ensure_schema(conn, COMPONENT, STORE_SCHEMA_VERSION, _SCHEMA)
                _ready.add(self.location)
            yield conn

    def _check_version(self, conn):
        found = conn.execute("SELECT version FROM aigov_schema WHERE component = %s", (COMPONENT,)).fetchone() \
            if conn.execute("SELECT to_regclass('aigov_schema')").fetchone()[0] else None
        if found is None:
            raise AigovError("no asset store at '%s': record a discovery into it first (ansible-playbook aigov.core.discover)"
                             % self.path)
        if found[0] != STORE_SCHEMA_VERSION:
            raise AigovError("the asset store '%s' has schema version %s; this aigov.core reads version %d"
                             % (self.path, found[0], STORE_SCHEMA_VERSION))

    @contextlib.contextmanager
    def transaction(self):
        """One transaction: the hosts a write names locked, read, then written; rolled back on any error."""
        with self._session('cannot %s the asset store: nothing written' % ('write' if self.create else 'read')) as conn:
            with conn.transaction():
                if not self.create:
                    conn.execute('SET TRANSACTION READ ONLY')
                self._check_version(conn)
                yield _Transaction(conn, self)

    def stamp(self):
        """The store's generation: it changes with every write (a reader's cheap "did anything change?")."""
        with self._session('cannot read the asset store') as conn:
            return conn.execute('SELECT generation FROM aigov_asset_generation WHERE id = 1').fetchone()[0]


class _Transaction(object):
    def __init__(self, conn, store):
        self._conn = conn
        self._store = store

    def _select(self, table, columns, hosts, extra=''):
        sql = 'SELECT %s FROM %s' % (', '.join(columns), table)
        params = []
        if hosts is not None:
            hosts = sorted(set(hosts))
            if self._store.create:  # a writer: these hosts are its own until it commits (read_assets comes first)
                self._conn.execute('SELECT pg_advisory_xact_lock(hashtextextended(%s::text || h, 0)) FROM unnest(%s::text[]) '
                                   'AS h ORDER BY h', ('aigov.asset_host:', hosts))
            sql += ' WHERE inventory_hostname = ANY(%s)'
            params.append(hosts)
        if extra:
            sql += (' AND ' if hosts is not None else ' WHERE ') + extra
        with self._conn.cursor() as cursor:
            cursor.execute(sql + ' ORDER BY %s COLLATE "C", %s COLLATE "C"' % columns[:2], params)
            return [dict(zip(columns, row)) for row in cursor]

    def read_assets(self, hosts, include_removed=False):
        rows = self._select('aigov_assets', _ASSET_COLUMNS, hosts, '' if include_removed else 'removed_at IS NULL')
        loads = fast_json.loads
        for row in rows:
            row['record'] = loads(row['record'])
        return rows

    def read_hosts(self, hosts):
        rows = self._select('aigov_hosts', _HOST_COLUMNS, hosts)
        for row in rows:
            row['probes'] = json.loads(row['probes'])
            row['problems'] = json.loads(row['problems'])
        return rows

    def write(self, changes):
        # One statement per table, its columns as arrays sent in binary (no per-element quoting of the JSON records).
        rows = changes['rows']
        if rows:
            columns = list(zip(*[(row['inventory_hostname'], row['id'], row['kind'], json.dumps(row['record'], sort_keys=True),
                                  row['digest'], row['first_seen'], row['last_seen'], row['removed_at']) for row in rows]))
            self._conn.execute(
                'INSERT INTO aigov_assets (%s) SELECT * FROM unnest(%%b::text[], %%b::text[], %%b::text[], %%b::text[], '
                '%%b::text[], %%b::text[], %%b::text[], %%b::text[]) ON CONFLICT (inventory_hostname, id) DO UPDATE SET '
                'kind = EXCLUDED.kind, record = EXCLUDED.record, digest = EXCLUDED.digest, first_seen = EXCLUDED.first_seen, '
                'last_seen = EXCLUDED.last_seen, removed_at = EXCLUDED.removed_at' % ', '.join(_ASSET_COLUMNS),
                [list(column) for column in columns])
        hosts = changes['hosts']
        if hosts:
            columns = list(zip(*[(host['inventory_hostname'], host['host'], host['address'], json.dumps(host['probes']),
                                  json.dumps(host['problems']), host['asset_count'], host.get('first_scan') or host['last_scan'],
                                  host['last_scan'])
                                 for host in hosts]))
            self._conn.execute(
                'INSERT INTO aigov_hosts (%s) SELECT * FROM unnest(%%b::text[], %%b::text[], %%b::text[], %%b::text[], '
                '%%b::text[], %%b::integer[], %%b::text[], %%b::text[]) ON CONFLICT (inventory_hostname) DO UPDATE SET '
                'host = EXCLUDED.host, address = EXCLUDED.address, probes = EXCLUDED.probes, problems = EXCLUDED.problems, '
                'asset_count = EXCLUDED.asset_count, last_scan = EXCLUDED.last_scan' % ', '.join(_HOST_COLUMNS),
                [list(column) for column in columns])
        if rows or hosts:
            self._conn.execute('UPDATE aigov_asset_generation SET generation = generation + 1 WHERE id = 1')

    def copy(self, hosts, assets):
        """Write another store's rows as they are (first scans and first/last seen kept): store/migrate.py."""
        self.write({'rows': assets, 'hosts': hosts})
