#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/ai_bom.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_bom
short_description: Export the AI inventory as a CycloneDX 1.6 AI-BOM
version_added: 0.1.0
description:
  - Writes the AI assets found by M(aigov.core.ai_asset_facts) as a CycloneDX 1.6 JSON document
    (an AI bill of materials) on the controller.
  - Model files become C(machine-learning-model) components (with their sha256), AI packages
    C(library) components with a C(pkg:pypi) package URL, GPUs and hosts C(device) components;
    model servers, vector databases and MCP servers become services with their endpoints,
    whether they are authenticated and whether they cross a trust boundary. Every component and
    service depends on its host's component, and a model server on the model files it serves.
    The mapping is described in C(docs/ai-bom.md) in the collection.
  - Each asset is matched against the O(registry); its use case, risk tier, owners and shadow state
    are recorded as C(aigov:) properties.
  - Credentials are never exported, not even by fingerprint; a host only carries their count.
  - The file is written atomically, and only when its content changes; two BOMs of the same assets
    differ only in C(serialNumber) and C(metadata.timestamp).
author:
  - aigov.core maintainers (@aigov)
options:
  assets:
    description:
      - Asset records to export (C(schemas/asset.v1.json)). Mutually exclusive with O(hosts) and O(store).
      - When none of O(assets), O(hosts) and O(store) is given, the assets of every host in the inventory are read
        from their facts.
    type: list
    elements: dict
  hosts:
    description:
      - Inventory hosts whose C(ansible_facts.ai_assets), set by M(aigov.core.ai_asset_facts), are exported.
        Hosts without a discovery result are listed in the BOM's metadata as missing.
      - Mutually exclusive with O(assets).
    type: list
    elements: str
  store:
    description:
      - Path of an asset store written by M(aigov.core.ai_asset_store). The BOM then covers every asset the
        store holds (the whole estate as last seen, removed assets left out), not only the hosts of this play.
      - Mutually exclusive with O(assets) and O(hosts).
    type: path
  registry:
    description:
      - Registry of use cases to match the assets against, as for M(aigov.core.ai_policy_check), given
        as the name of a registry shipped with the collection or a path to a registry file.
    type: str
    default: default
  dest:
    description:
      - Path of the JSON file to write. Its directory is created if missing. A relative path is
        relative to the directory ansible-playbook runs in.
    type: path
    required: true
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the task reports whether the file would change.
  diff_mode:
    support: full
    description: Shows the components and services (kind, bom-ref, name) before and after, not the whole document.
seealso:
  - module: aigov.core.ai_asset_facts
  - module: aigov.core.ai_policy_check
"""

EXAMPLES = r"""
- name: Discover AI assets
  hosts: ai_hosts
  tasks:
    - name: Discover AI assets on the host
      aigov.core.ai_asset_facts:

- name: Export the AI-BOM
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the CycloneDX AI-BOM of the scanned hosts
      aigov.core.ai_bom:
        hosts: "{{ groups['ai_hosts'] }}"
        registry: registry/ai-registry.yml
        dest: reports/ai-bom.cdx.json
"""

RETURN = r"""
dest:
  description: Absolute path of the AI-BOM file.
  returned: always
  type: str
  sample: /srv/aigov/reports/ai-bom.cdx.json
components:
  description: Number of components in the BOM (hosts, model files, AI packages, GPUs).
  returned: always
  type: int
  sample: 7
services:
  description: Number of services in the BOM (model servers, vector databases, MCP servers).
  returned: always
  type: int
  sample: 2
msg:
  description: What was done.
  returned: always
  type: str
  sample: AI-BOM written to /srv/aigov/reports/ai-bom.cdx.json (7 component(s), 2 service(s))
"""
