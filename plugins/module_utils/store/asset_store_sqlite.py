# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The embedded asset store backend: one SQLite file, no set-up.

SQLite serialises writers on one machine (BEGIN IMMEDIATE plus a busy
timeout), so parallel playbook runs on a control node are safe. Control
nodes that do not share a file system use the PostgreSQL backend with the same
transaction() interface (asset_store_postgres.py, docs/asset-store.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3

from ansible_collections.aigov.core.plugins.module_utils.store.asset_store import STORE_SCHEMA_VERSION
from ansible_collections.aigov.core.plugins.module_utils.common import database, fast_json
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

BUSY_TIMEOUT_SECONDS = 30
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
    inventory_hostname TEXT PRIMARY KEY, host TEXT, address TEXT, probes TEXT NOT NULL,
    problems TEXT NOT NULL, asset_count INTEGER NOT NULL, first_scan TEXT NOT NULL, last_scan TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assets (
    inventory_hostname TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, record TEXT NOT NULL,
    digest TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, removed_at TEXT,
    PRIMARY KEY (inventory_hostname, id));
"""
_ASSET_COLUMNS = ('inventory_hostname', 'id', 'kind', 'record', 'digest', 'first_seen', 'last_seen', 'removed_at')
_HOST_COLUMNS = ('inventory_hostname', 'host', 'address', 'probes', 'problems', 'asset_count', 'first_scan', 'last_scan')


class SqliteStore(object):
    """Asset store in a SQLite file. `create=False` opens an existing store read-only."""

    def __init__(self, path, create=True):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.create = create

    def _connect(self):
        if not self.create and not os.path.isfile(self.path):
            raise AigovError("no asset store at '%s': record a discovery into it first "
                             "(ansible-playbook aigov.core.discover)" % self.path)
        try:
            if self.create:
                directory = os.path.dirname(self.path)
                if not os.path.isdir(directory):
                    os.makedirs(directory, mode=0o750)
                fresh = not os.path.exists(self.path)
                connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
                if fresh:
                    os.chmod(self.path, 0o600)  # credential locations and fingerprints live here
            else:
                connection = sqlite3.connect('file:%s?mode=ro' % self.path, uri=True,
                                             timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise AigovError("cannot open the asset store '%s': %s" % (self.path, getattr(exc, 'strerror', None) or exc))
        return connection

    @contextlib.contextmanager
    def transaction(self):
        """One transaction: read, then write, with no other writer in between."""
        connection = self._connect()
        try:
            try:
                if self.create:
                    connection.executescript(_SCHEMA)  # idempotent, before BEGIN: executescript commits first
                connection.execute('BEGIN IMMEDIATE' if self.create else 'BEGIN')
                _check_version(connection, self.path, self.create)
            except sqlite3.Error as exc:
                raise AigovError("'%s' is not a usable aigov.core asset store: %s" % (self.path, exc))
            txn = _Transaction(connection, self.path)
            try:
                yield txn
            except BaseException:
                connection.execute('ROLLBACK')
                raise
            try:
                connection.execute('COMMIT')
            except sqlite3.Error as exc:
                raise AigovError("cannot write the asset store '%s': %s" % (self.path, exc))
        finally:
            connection.close()


def _check_version(connection, path, writable):
    row = connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        if writable:
            connection.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(STORE_SCHEMA_VERSION),))
        return
    if int(row[0]) != STORE_SCHEMA_VERSION:
        raise AigovError("the asset store '%s' has schema version %s; this aigov.core reads version %d"
                         % (path, row[0], STORE_SCHEMA_VERSION))


class _Transaction(object):
    def __init__(self, connection, path):
        self._connection = connection
        self._path = path

    def _select(self, table, columns, hosts, extra=''):
        sql = 'SELECT %s FROM %s' % (', '.join(columns), table)
        params = []
        if hosts is not None:
            sql += ' WHERE inventory_hostname IN (SELECT value FROM json_each(?))'
            params.append(json.dumps(list(hosts)))
        if extra:
            sql += (' AND ' if hosts is not None else ' WHERE ') + extra
        try:
            return [dict(zip(columns, row)) for row in self._connection.execute(sql + ' ORDER BY 1, 2', params)]
        except sqlite3.Error as exc:
            raise AigovError("cannot read the asset store '%s': %s" % (self._path, exc))

    def read_assets(self, hosts, include_removed=False):
        rows = self._select('assets', _ASSET_COLUMNS, hosts, '' if include_removed else 'removed_at IS NULL')
        for row in rows:
            row['record'] = fast_json.loads(row['record'])
        return rows

    def read_hosts(self, hosts):
        rows = self._select('hosts', _HOST_COLUMNS, hosts)
        for row in rows:
            row['probes'] = json.loads(row['probes'])
            row['problems'] = json.loads(row['problems'])
        return rows

    def write(self, changes):
        try:
            self._connection.executemany(
                'INSERT OR REPLACE INTO assets (%s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)' % ', '.join(_ASSET_COLUMNS),
                [(row['inventory_hostname'], row['id'], row['kind'], json.dumps(row['record'], sort_keys=True),
                  row['digest'], row['first_seen'], row['last_seen'], row['removed_at']) for row in changes['rows']])
            self._connection.executemany(
                'INSERT INTO hosts (%s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (inventory_hostname) DO UPDATE SET '
                'host = excluded.host, address = excluded.address, probes = excluded.probes, problems = excluded.problems, '
                'asset_count = excluded.asset_count, last_scan = excluded.last_scan' % ', '.join(_HOST_COLUMNS),
                [(host['inventory_hostname'], host['host'], host['address'], json.dumps(host['probes']),
                  json.dumps(host['problems']), host['asset_count'], host['last_scan'], host['last_scan'])
                 for host in changes['hosts']])
        except sqlite3.Error as exc:
            raise AigovError("cannot write the asset store '%s': %s" % (self._path, exc))


def open_store(path, create=True):
    """The store at path: this embedded file, or PostgreSQL when path is a database URL (common/database.py)."""
    if database.is_database(path):
        from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_postgres import PostgresStore  # pylint: disable=import-outside-toplevel
        return PostgresStore(path, create=create)
    return SqliteStore(path, create=create)
