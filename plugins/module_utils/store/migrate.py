# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Moving an embedded installation to PostgreSQL: the SQLite asset store and the file audit log, copied as they are.

The audit log is verified first (a broken chain is not copied), then copied line for line, byte for byte,
into an empty database log, in one transaction: the database's chain is the file's, end to end, and the
first entry written there afterwards has the file's last hash as its prev_hash (the file's head anchors
it). The result's anchor is that head; audit_verify of the database with it says `intact`.
The asset store's rows are copied with their first/last seen, removals and hosts' first scans, into an
empty database store, in one transaction. A second run finds both copied and changes nothing; a database
that holds something else is refused, never merged. check mode reads and verifies and writes nothing.
"""

from __future__ import annotations

import os

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_log_postgres, audit_verify
from ansible_collections.aigov.core.plugins.module_utils.common import database
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store


class MigrationError(AigovError):
    """The source cannot be copied (broken chain, unreadable) or the target holds something else."""


def _audit(source, target, check_mode):
    """(changed, {entries, anchor}) of copying the file log at source into the database log at target."""
    if not os.path.exists(source):
        return False, {'entries': 0, 'anchor': None, 'skipped': 'no audit log at %s' % source}
    checked = audit_verify.verify(source)
    if not checked['ok']:
        raise MigrationError('audit log %s is not intact (%s): %s; nothing copied' % (
            source, checked['problem']['kind'], checked['problem']['message']))
    anchor = dict(seq=checked['last_seq'], hash=checked['last_hash']) if checked['last_seq'] else None
    there = audit_verify.verify(target, anchor) if anchor else audit_verify.verify(target)
    if there['entries'] and there['ok'] and anchor:
        return False, {'entries': checked['entries'], 'anchor': anchor}  # copied before (and maybe written to since)
    if there['entries']:
        raise MigrationError('audit log %s already holds %d entries that are not this file\'s chain; nothing copied'
                             % (database.display(target), there['entries']))
    if not check_mode:
        audit_log_postgres.import_lines(target, (raw for _n, raw, _e in audit_log.iter_lines(source)))
        copied = audit_verify.verify(target, anchor) if anchor else audit_verify.verify(target)
        if not copied['ok'] or copied['entries'] != checked['entries']:
            raise MigrationError('the copy in %s does not verify: %s' % (database.display(target), copied['problem']))
    return bool(checked['entries']), {'entries': checked['entries'], 'anchor': anchor}


def _store(source, target, check_mode):
    """(changed, {hosts, assets}) of copying the SQLite store at source into the database store at target."""
    if not os.path.exists(source):
        return False, {'hosts': 0, 'assets': 0, 'skipped': 'no asset store at %s' % source}
    data = asset_store.read_inventory(open_store(source, create=False), include_removed=True)
    counts = {'hosts': len(data['hosts']), 'assets': len(data['assets'])}
    store = open_store(target, create=not check_mode)  # check mode creates nothing, not even empty tables
    try:
        with store.transaction() as txn:
            return _copy_store(txn, store, data, counts, source, check_mode)
    except AigovError as exc:
        if check_mode and str(exc).startswith('no asset store at'):
            return bool(counts['hosts'] or counts['assets']), counts
        raise


def _copy_store(txn, store, data, counts, source, check_mode):
    """Inside the target's transaction: copied before, refused (something else there), or copied now."""
    present = txn.read_hosts(None), txn.read_assets(None, include_removed=True)
    if present == (data['hosts'], data['assets']):
        return False, counts  # copied before
    if present[0] or present[1]:
        raise MigrationError('asset store %s already holds %d hosts and %d assets that differ from %s; nothing copied'
                             % (store.path, len(present[0]), len(present[1]), source))
    if not check_mode:
        txn.copy(data['hosts'], data['assets'])
    return bool(counts['hosts'] or counts['assets']), counts


def migrate(asset_store_path, audit_log_path, target, check_mode=False):
    """Copy both into the database at target; return (changed, result). MigrationError names what stopped it."""
    if not database.is_database(target):
        raise MigrationError('the target must be a PostgreSQL URL (postgresql://...), or set %s' % database.ENV)
    audit_changed, audit = _audit(audit_log_path, target, check_mode)
    store_changed, store = _store(asset_store_path, target, check_mode)
    return audit_changed or store_changed, {'audit_log': audit, 'asset_store': store, 'target': database.display(target)}
