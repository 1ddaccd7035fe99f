# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL connection: which stores live in a database, how to connect, and never showing its credentials.

A shared store (the asset store, the audit log; common/paths.py) lives in PostgreSQL when its location is a
PostgreSQL URL (``postgresql://...`` or ``postgres://...``) instead of a path. ``postgresql://`` alone means
"everything from the libpq environment" (PGHOST, PGPORT, PGUSER, PGPASSWORD or PGPASSFILE, PGDATABASE,
PGSSLMODE...). One setting, $AIGOV_DATABASE, puts every store without a location of its own there
(paths.resolve); the rotation locks and the episode memory follow the audit log (docs/fleet-scale.md).

A password belongs in PGPASSWORD or a passfile, not the URL; when a URL holds one anyway, display()
masks it, and every error message this module raises is scrubbed of it.
The driver (psycopg 3, requirements.txt) is imported only when a database is used, so the embedded
default needs nothing more.
"""

from __future__ import annotations

import contextlib
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

ENV = 'AIGOV_DATABASE'
SCHEMES = ('postgresql://', 'postgres://')
CONNECT_TIMEOUT = 10  # seconds: a database that does not answer is an error, never a hang
_USERINFO = re.compile(r'^(postgres(?:ql)?://)([^@/?#]*)@')
_URL_PASSWORD = re.compile(r'(postgres(?:ql)?://[^:@/\s]*:)[^@\s]*@')  # user:PASSWORD@ anywhere in a text
_PASSWORD_PARAM = re.compile(r'(password=)[^&\s]*', re.IGNORECASE)
MASK = '********'


class DatabaseError(AigovError):
    """The database cannot be reached or refused a statement; the message names the store, never a password."""


def is_database(location):
    """True when a store's location is a PostgreSQL URL rather than a file path."""
    return isinstance(location, str) and location.startswith(SCHEMES)


def display(location):
    """The location as it may be shown: a URL's password (user:PASSWORD@, ?password=) masked."""
    if not is_database(location):
        return location

    def userinfo(match):
        user = match.group(2)
        return match.group(1) + (user.split(':', 1)[0] + ':' + MASK if ':' in user else user) + '@'
    shown = _USERINFO.sub(userinfo, location)
    return _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, shown)


def _secrets(location):
    """Every password the connection may use: the URL's own and the libpq environment's."""
    found = []
    match = _USERINFO.match(location or '')
    if match and ':' in match.group(2):
        found.append(match.group(2).split(':', 1)[1])
    found += [m.group(0).split('=', 1)[1] for m in _PASSWORD_PARAM.finditer(location or '')]
    if os.environ.get('PGPASSWORD'):
        found.append(os.environ['PGPASSWORD'])
    return [secret for secret in found if secret]


def scrub(text, location):
    """text with every password of the connection masked (a driver's message may quote the URL)."""
    text = str(text).strip()
    for secret in _secrets(location):
        text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + '@', _PASSWORD_PARAM.sub(lambda m: m.group(1) + MASK, text))


def driver():
    """The psycopg module; a clear error when it is not installed."""
    try:
        import psycopg  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise DatabaseError('the PostgreSQL backend needs the Python package psycopg 3 (pip install "psycopg[binary]", '
                            'in requirements.txt for an execution environment)')
    return psycopg


def failure(what, location, exc):
    """A DatabaseError for exc (a driver error) while doing `what` with the store at location."""
    return DatabaseError('%s (%s): %s' % (what, display(location), scrub(exc, location)))


def connect(location, what, autocommit=False):
    """A new connection to the database of location; DatabaseError naming `what` when it cannot be opened."""
    psycopg = driver()
    conninfo = '' if location.rstrip('/') in ('postgresql:', 'postgres:') else location
    try:
        return psycopg.connect(conninfo, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT,
                               application_name='aigov.core')
    except psycopg.Error as exc:
        raise failure('cannot connect to the %s' % what, location, exc)


def is_driver_error(exc):
    """True for an error the driver raised (a lost connection, a refused statement)."""
    try:
        import psycopg  # pylint: disable=import-outside-toplevel
    except ImportError:
        return False
    return isinstance(exc, psycopg.Error)


def ensure_schema(conn, component, version, statements):
    """Create or migrate component's tables to version, once, whoever runs first (an advisory lock serialises it).

    statements: {version: [SQL, ...]}, each step migrating from version - 1; applied in one transaction each.
    A database newer than this code is refused: an older collection must not write a newer schema.
    """
    with conn.transaction():  # the first statement on the connection: a transaction of its own, committed here
        encoding = conn.execute('SHOW server_encoding').fetchone()[0]
        if encoding != 'UTF8':  # entries are hashed as UTF-8 by the server and by every reader
            raise DatabaseError('the database must use the UTF8 encoding, not %s (CREATE DATABASE ... ENCODING UTF8)'
                                % encoding)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('aigov.schema'))")
        conn.execute('CREATE TABLE IF NOT EXISTS aigov_schema (component text PRIMARY KEY, version integer NOT NULL)')
        row = conn.execute('SELECT version FROM aigov_schema WHERE component = %s', (component,)).fetchone()
        current = row[0] if row else 0
        if current > version:
            raise DatabaseError('the %s schema in the database is version %d, newer than this collection\'s %d: '
                                'upgrade aigov.core' % (component, current, version))
        for step in range(current + 1, version + 1):
            for statement in statements[step]:
                conn.execute(statement)
        if current != version:
            conn.execute('INSERT INTO aigov_schema (component, version) VALUES (%s, %s) ON CONFLICT (component) '
                         'DO UPDATE SET version = EXCLUDED.version', (component, version))
    return current


@contextlib.contextmanager
def session(location, what, doing, error=DatabaseError):
    """A connection of its own to the database of location (what: the store's name) for the block, closed after it.
    The database away or refusing raises error(message): a DatabaseError's own message, or a driver error's as
    failure(doing, location, exc), naming the location, never its password. Other errors pass as they are."""
    try:
        conn = connect(location, what)
    except DatabaseError as exc:
        raise exc if issubclass(error, DatabaseError) else error(str(exc))
    try:
        yield conn
    except DatabaseError as exc:
        raise exc if issubclass(error, DatabaseError) else error(str(exc))
    except Exception as exc:
        if not is_driver_error(exc):
            raise
        raise error(str(failure(doing, location, exc)))
    finally:
        conn.close()


class KeptConnection(object):
    """One connection a long-running process (the event source) keeps, its schema ensured once, opened again after
    any error. call(what, work): work(connection), in one transaction unless autocommit; a database that is away or
    refuses raises error(message), the message naming the location, never its password. Not thread-safe: callers
    that share one take turns (a lock of theirs)."""

    def __init__(self, location, what, schema, error, autocommit=False):
        self.location, self.what, self.schema, self.error, self.autocommit = location, what, schema, error, autocommit
        self.conn, self.ready = None, False

    def call(self, what, work):
        try:
            if self.conn is None or self.conn.closed:
                self.conn = connect(self.location, self.what, autocommit=self.autocommit)
            if not self.ready:
                ensure_schema(self.conn, *self.schema)
                self.ready = True
            if self.autocommit:
                return work(self.conn)
            with self.conn.transaction():
                return work(self.conn)
        except DatabaseError as exc:
            self.close()
            raise self.error(str(exc))
        except Exception as exc:
            if not is_driver_error(exc):
                raise
            self.close()
            raise self.error(str(failure('cannot %s' % what, self.location, exc)))

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # pylint: disable=broad-except  # a broken connection may fail to close: it is gone anyway
                pass
        self.conn = None


@contextlib.contextmanager
def advisory_lock(location, name, what, wait=True, error=None):
    """Hold the session advisory lock `name` on a connection of its own for the block, on every node at once.

    The server drops it when the connection ends (a killed holder never leaves it behind). wait=False: yield
    False at once when someone else holds it. error: the exception class raised when the lock cannot be taken
    (DatabaseError by default; the message is the same).
    """
    error = error or DatabaseError
    try:
        conn = connect(location, what, autocommit=True)
    except DatabaseError as exc:
        raise error(str(exc))
    try:
        try:
            if wait:
                conn.execute('SELECT pg_advisory_lock(hashtextextended(%s, 0))', (name,))
                held = True
            else:
                held = conn.execute('SELECT pg_try_advisory_lock(hashtextextended(%s, 0))', (name,)).fetchone()[0]
        except driver().Error as exc:
            raise error(str(failure('cannot take the lock %s of the %s' % (name, what), location, exc)))
        yield held
    finally:
        conn.close()  # ends the session: the lock goes with it
