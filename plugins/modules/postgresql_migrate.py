#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/postgresql_migrate.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgresql_migrate
short_description: Copy the embedded asset store and the file audit log into PostgreSQL
version_added: 0.2.0
description:
  - Moves an installation that used the embedded defaults (a SQLite asset store, a JSON-lines audit log) to the
    PostgreSQL backend (C(docs/fleet-scale.md) in the collection).
  - The audit log is verified first; a broken chain is not copied. Its lines are copied byte for byte, in one
    transaction, into an empty database log, so the chain in the database is the file's, end to end, and the first
    entry written there afterwards has the file's last hash as its C(prev_hash). RV(audit_log.anchor) is that head;
    M(aigov.core.audit_verify) of the database with it as O(aigov.core.audit_verify#module:anchor) says C(intact).
  - The asset store's hosts and assets are copied with their first and last seen, removals and first scans, in one
    transaction, into an empty database store.
  - A second run finds both copied and changes nothing. A database that holds other entries or assets is refused,
    never merged. A missing source is skipped and said so.
author:
  - aigov.core maintainers (@aigov)
options:
  store_file:
    description:
      - The SQLite asset store to copy. When unset, E(AIGOV_ASSET_STORE) when set, else C(aigov-data/assets.sqlite3)
        (C(docs/architecture.md), "Paths"; E(AIGOV_DATABASE) is not looked at for it).
    type: path
  audit_log_file:
    description:
      - The JSON-lines audit log to copy. When unset, E(AIGOV_AUDIT_LOG) when set, else C(aigov-data/audit.jsonl).
    type: path
  database:
    description:
      - The PostgreSQL URL to copy into, C(postgresql://USER@HOST:PORT/DB), or C(postgresql://) alone for the libpq
        environment variables (PGHOST, PGUSER, PGPASSWORD and the others). When unset, E(AIGOV_DATABASE).
      - A password belongs in PGPASSWORD or a passfile, never in the URL; results show the URL with any password masked.
    type: str
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Reads and verifies both sources and the target, says whether it would copy, and writes nothing.
  diff_mode:
    support: none
    description: No diff.
seealso:
  - module: aigov.core.audit_verify
"""

EXAMPLES = r"""
- name: Copy the embedded state into PostgreSQL (AIGOV_DATABASE and PG* set by the credential)
  aigov.core.postgresql_migrate:
    store_file: /var/lib/aigov/assets.sqlite3
    audit_log_file: /var/lib/aigov/audit.jsonl
  register: aigov_migrated

- name: Verify the chain in the database against the file's head
  aigov.core.audit_verify:
    anchor: "{{ aigov_migrated.audit_log.anchor }}"
"""

RETURN = r"""
target:
  description: The database copied into, any password masked.
  returned: always
  type: str
  sample: postgresql://aigov@db.example.net:5432/aigov
audit_log:
  description: C(entries) copied (or found copied), the C(anchor) (seq and hash of the file's last entry), and
    C(skipped) when there was no file.
  returned: always
  type: dict
  sample: {entries: 412, anchor: {seq: 412, hash: 3f1c0e...}}
  contains:
    entries:
      description: Entries of the file log, copied now or before.
      type: int
    anchor:
      description: C(seq) and C(hash) of the file's last entry (null for an empty log); keep it outside the database.
      type: dict
    skipped:
      description: Why nothing was read, when there was no file.
      type: str
      returned: when there was no audit log file
asset_store:
  description: C(hosts) and C(assets) copied (or found copied), and C(skipped) when there was no store file.
  returned: always
  type: dict
  sample: {hosts: 120, assets: 1480}
"""
