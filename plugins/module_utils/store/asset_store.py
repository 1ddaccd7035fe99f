# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The asset store: what discovery found, remembered across runs.

Backend-independent part. A scan of a host is reconciled against what the
store holds for that host: new assets are `added` (first_seen), known ones
are `seen` again (last_seen) or `updated` when what describes them changed,
and assets of a probed kind that a scan no longer finds are `removed`
(removed_at; they come back as `reappeared`). Kinds a scan did not probe
and hosts without a result are left as they are: not finding what was not
looked for is not a removal.

A backend (docs/asset-store.md) implements `transaction()`, a context manager
yielding an object with read_assets(hosts), read_hosts(hosts) and
write(changes); the whole read-reconcile-write runs inside it, so two
writers never interleave. asset_store_sqlite.py is the embedded backend.
"""

from __future__ import annotations

import hashlib
import json

STORE_SCHEMA_VERSION = 1
CHANGE_KINDS = ('added', 'updated', 'reappeared', 'removed')
# Fields that change while the asset stays the same (process ids, ages):
# refreshed in the store, never a reason to report a change.
_VOLATILE_ATTRIBUTES = ('pids', 'start_times', 'age_days', 'processes')
_VOLATILE_EVIDENCE = ('pid',)


def content_digest(asset):
    """Digest of what describes an asset, without the fields that move on their own."""
    attributes = dict((key, value) for key, value in (asset.get('attributes') or {}).items()
                      if key not in _VOLATILE_ATTRIBUTES)
    evidence = [dict((key, value) for key, value in item.items() if key not in _VOLATILE_EVIDENCE)
                for item in asset.get('evidence') or []]
    material = dict(asset, attributes=attributes, evidence=evidence)
    material.pop('inventory_hostname', None)
    material.pop('registry', None)  # the registry match is recomputed by every reader
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode('utf-8')).hexdigest()


def _row(asset, inventory_hostname, now, first_seen=None):
    record = dict(asset)
    record.pop('registry', None)
    record['inventory_hostname'] = inventory_hostname
    return {
        'id': asset['id'],
        'inventory_hostname': inventory_hostname,
        'kind': asset['kind'],
        'record': record,
        'digest': content_digest(asset),
        'first_seen': first_seen or now,
        'last_seen': now,
        'removed_at': None,
    }


def _brief(row):
    record = row['record']
    return {'id': row['id'], 'kind': row['kind'], 'name': record.get('name'), 'inventory_hostname': row['inventory_hostname']}


def reconcile(current, scans, now):
    """Compare host scans with the stored rows of those hosts.

    current: {inventory_hostname: {asset id: row}} as read from the store.
    scans: list of {inventory_hostname, host, address, probes, problems, assets}.
    Returns {'rows': rows to write, 'hosts': host rows to write, plus one
    list of brief asset descriptions per change kind}.
    """
    changes = dict((kind, []) for kind in CHANGE_KINDS)
    rows, hosts = [], []
    for scan in scans:
        name = scan['inventory_hostname']
        stored = current.get(name, {})
        found = {}
        for asset in scan['assets']:
            if asset['id'] in found:
                continue  # the same asset twice in one scan (e.g. one file reached by two roots)
            old = stored.get(asset['id'])
            row = _row(asset, name, now, old and old['first_seen'])
            found[asset['id']] = row
            if old is None:
                changes['added'].append(_brief(row))
            elif old['removed_at']:
                changes['reappeared'].append(_brief(row))
            elif old['digest'] != row['digest']:
                changes['updated'].append(_brief(row))
            rows.append(row)
        probed = set(scan['probes'])
        for asset_id, old in sorted(stored.items()):
            if asset_id in found or old['removed_at'] or old['kind'] not in probed:
                continue
            gone = dict(old, removed_at=now)
            changes['removed'].append(_brief(gone))
            rows.append(gone)
        hosts.append({'inventory_hostname': name, 'host': scan.get('host'), 'address': scan.get('address'),
                      'probes': sorted(probed), 'problems': list(scan.get('problems') or []),
                      'asset_count': len(found), 'last_scan': now})
    changes.update(rows=rows, hosts=hosts)
    return changes


def record_scans(store, scans, now, dry_run=False):
    """Reconcile scans with the store and write the result unless dry_run; return the changes."""
    names = [scan['inventory_hostname'] for scan in scans]
    with store.transaction() as txn:
        current = {}
        for row in txn.read_assets(names, include_removed=True):
            current.setdefault(row['inventory_hostname'], {})[row['id']] = row
        changes = reconcile(current, scans, now)
        if not dry_run:
            txn.write(changes)
    return changes


def changed(changes):
    """True when the scans added, updated, removed or brought back an asset."""
    return any(changes[kind] for kind in CHANGE_KINDS)


def read_inventory(store, include_removed=False):
    """Everything a reader needs, as plain data: {'hosts': [host rows], 'assets': [rows]}."""
    with store.transaction() as txn:
        return {'schema_version': STORE_SCHEMA_VERSION, 'hosts': txn.read_hosts(None),
                'assets': txn.read_assets(None, include_removed=include_removed)}
