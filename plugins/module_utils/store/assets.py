# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The asset record: the versioned shape every discovery probe returns.

Contract: schemas/asset.v1.json. An asset id depends only on what identifies
the asset (its host and its identity inside that host), never on a pid or the
time of the scan, so the same asset keeps its id across runs.
"""

from __future__ import annotations

import hashlib
import json
import socket

ASSET_SCHEMA_VERSION = 1
CONFIDENCE = ('declared', 'inferred', 'unresolved')


def host_identity(machine_id_path='/etc/machine-id'):
    """Return (hostname, machine_id or None) for this host.

    The hostname is part of the identity as well as the machine id: cloned
    VMs and containers built from one image often share a machine id.
    """
    try:
        with open(machine_id_path) as handle:
            machine_id = handle.read().strip() or None
    except (IOError, OSError):
        machine_id = None
    return socket.gethostname(), machine_id


def asset_id(kind, host, machine_id, identity):
    """Stable id: `<kind>:<16 hex>` over host, machine id and the kind's identity tuple."""
    material = json.dumps([kind, host, machine_id or '', list(identity)], sort_keys=True)
    return '%s:%s' % (kind, hashlib.sha256(material.encode('utf-8')).hexdigest()[:16])


def make_asset(kind, host, machine_id, identity, name, attributes, evidence, confidence='inferred'):
    """Build one asset record in the v1 shape."""
    if confidence not in CONFIDENCE:
        raise ValueError('confidence must be one of %s, got %r' % (', '.join(CONFIDENCE), confidence))
    return {
        'schema_version': ASSET_SCHEMA_VERSION,
        'id': asset_id(kind, host, machine_id, identity),
        'kind': kind,
        'name': name,
        'host': host,
        'confidence': confidence,
        'attributes': attributes,
        'evidence': evidence,
    }
