#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/ai_asset_store.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_asset_store
short_description: Record discovered AI assets in the asset store
version_added: 0.1.0
description:
  - Records the C(ai_assets) facts that M(aigov.core.ai_asset_facts) set on each host in O(hosts) in the
    asset store, an embedded SQLite file on the controller that needs no set-up.
  - Each asset keeps the time it was first and last seen. An asset that a host's scan finds for the first
    time is C(added); one whose description changed (bind address, digest, auth, ...) is C(updated);
    one of a probed kind that a scan no longer finds is C(removed) (kept, with C(removed_at)); a removed
    asset found again has C(reappeared). Process ids and ages change on their own and are refreshed
    without counting as a change, so a second run over an unchanged estate reports no change.
  - Hosts without a discovery result (unreachable, failed) and kinds a scan did not probe are left
    as they are, never taken for removals. They are listed in RV(hosts_missing).
  - Writers are serialised by SQLite's file lock, so parallel runs on one control node are safe.
  - The C(aigov.core.ai_assets) inventory plugin and M(aigov.core.ai_bom) read the store.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description:
      - Path of the store file; created with its directory (mode 0600) when missing.
      - A relative path is relative to the current directory (the project directory of an AAP job), the rule of
        every aigov.core path (C(docs/architecture.md), "Paths").
        On AAP, point it at persistent storage, since a job's project directory does not outlive the job.
      - The environment variable E(AIGOV_ASSET_STORE) is used when the option is not set.
    type: path
    default: aigov-data/assets.sqlite3
  hosts:
    description:
      - Inventory hosts whose discovery results are recorded. Defaults to every host in the inventory.
    type: list
    elements: str
  registry:
    description:
      - The registry of AI use cases, used to list the recorded assets that no use case claims (shadow AI)
        in RV(shadow). The name of a registry shipped with the collection (C(default)) or the path of a
        registry file, relative to the current directory (docs/architecture.md, "Paths"). The store itself keeps no registry match;
        readers match against the registry they are given.
    type: str
    default: default
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Computes the same changes and writes nothing.
  diff_mode:
    support: full
    description: One line per added, updated, removed or reappeared asset.
notes:
  - The store's tables and the interface a multi-writer backend implements are described in
    C(docs/asset-store.md) in the collection.
seealso:
  - module: aigov.core.ai_asset_facts
  - module: aigov.core.ai_policy_check
"""

EXAMPLES = r"""
- name: Discover AI assets
  hosts: all
  tasks:
    - name: Discover AI assets on the host
      aigov.core.ai_asset_facts:

- name: Remember them
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Record the discovery of every host in the store
      aigov.core.ai_asset_store:
        path: /var/lib/aigov/assets.sqlite3
        hosts: "{{ groups['all'] }}"
      register: aigov_store

    - name: Show what disappeared
      ansible.builtin.debug:
        msg: "{{ aigov_store.removed | map(attribute='name') | list }}"
"""

RETURN = r"""
path:
  description: Absolute path of the store.
  returned: always
  type: str
  sample: /var/lib/aigov/assets.sqlite3
added:
  description: Assets seen for the first time, each as C(id), C(kind), C(name) and C(inventory_hostname).
  returned: always
  type: list
  elements: dict
  sample: [{id: "model_server:5d41402abc4b2a76", kind: model_server, name: vllm, inventory_hostname: gpu-1}]
updated:
  description: Assets whose description changed since the last scan.
  returned: always
  type: list
  elements: dict
removed:
  description: Assets of a probed kind that the latest scan of their host no longer found.
  returned: always
  type: list
  elements: dict
reappeared:
  description: Assets found again after they had been removed.
  returned: always
  type: list
  elements: dict
counts:
  description: Number of assets per change.
  returned: always
  type: dict
  sample: {added: 3, updated: 0, removed: 1, reappeared: 0}
shadow:
  description: Recorded assets that no use case in O(registry) claims (shadow AI), whether new or not.
  returned: always
  type: list
  elements: dict
hosts_recorded:
  description: Hosts whose discovery result was recorded.
  returned: always
  type: list
  elements: str
hosts_missing:
  description: Targeted hosts without a discovery result; nothing of theirs was changed.
  returned: always
  type: list
  elements: str
"""
