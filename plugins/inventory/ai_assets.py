# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ai_assets
short_description: The machines that run AI, from the aigov.core asset store
version_added: 0.1.0
description:
  - Builds an inventory from the asset store that M(aigov.core.ai_asset_store) writes, with one host per
    machine that was scanned and its AI assets as host variables.
  - Every asset is matched against the registry of AI use cases (owners, risk tier, environment;
    unregistered assets are shadow AI), and the policy packs are evaluated, on every run, so an
    edited registry or pack shows at once.
  - "Groups: C(aigov_kind_<kind>) (model_server, model_artifact, credential, ...), C(aigov_risk_<tier>),
    C(aigov_owner_<owner>), C(aigov_env_<environment>), C(aigov_shadow) (hosts with at least one
    unregistered asset), C(aigov_compliant) and C(aigov_noncompliant) (unless O(policy_packs) is empty).
    Names are lower-cased and characters other than letters, digits and C(_) become C(_)."
  - "Host variables: C(ai_assets) (asset records with C(registry), C(first_seen), C(last_seen)),
    C(aigov_asset_counts), C(aigov_risk_tiers), C(aigov_owners), C(aigov_environments), C(aigov_use_cases),
    C(aigov_shadow_assets), C(aigov_findings), C(aigov_findings_by_severity), C(aigov_compliant),
    C(aigov_host), C(aigov_last_scan), C(aigov_scan_problems), and C(ansible_host) when the scan
    recorded the address the host was reached at."
  - The configuration file name must end in C(ai_assets.yml) or C(ai_assets.yaml).
  - An asset's region for data-residency rules is its own, else the host variable C(aigov_region) of its host
    when an inventory source listed before this one sets it (as M(aigov.core.ai_policy_check) reads it).
  - With caching on, the raw store contents are cached; registry matching, policy evaluation and
    the constructed groups are rebuilt from them on every run.
author:
  - aigov.core maintainers (@aigov)
extends_documentation_fragment:
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin; set it to use this plugin.
    type: str
    required: true
    choices: [aigov.core.ai_assets]
  store:
    description:
      - Path of the asset store. A relative path is relative to the current directory, as for
        M(aigov.core.ai_asset_store), so that both find the same default store (in AAP, the project directory).
      - Or a PostgreSQL URL for the store in PostgreSQL (docs/asset-store.md), C(postgresql://USER@HOST:PORT/DB), or
        C(postgresql://) alone for the libpq environment variables (PGHOST, PGUSER, PGPASSWORD and the others).
        A password belongs in PGPASSWORD or a passfile, never in the URL.
      - When neither this option nor E(AIGOV_ASSET_STORE) is set, E(AIGOV_DATABASE) when set, else
        C(aigov-data/assets.sqlite3) (docs/architecture.md, "Paths").
    type: str
    env:
      - name: AIGOV_ASSET_STORE
  registry:
    description:
      - The registry of AI use cases. The name of a registry shipped with the collection (C(default))
        or the path of a registry file, relative to the directory of the configuration file.
    type: str
    default: default
  policy_packs:
    description:
      - Policy packs evaluated to sort hosts into C(aigov_compliant) and C(aigov_noncompliant).
        Bundled pack names or paths. An empty list skips the evaluation.
    type: list
    elements: str
    default: [default]
  parameters:
    description:
      - Values for the policy packs' parameters (name to value), as for M(aigov.core.ai_policy_check).
    type: dict
    default: {}
  exceptions:
    description:
      - Exceptions (waiver) files, besides the waivers in the packs, as for M(aigov.core.ai_policy_check). Paths
        relative to the directory of the configuration file. A waived finding is listed in C(aigov_findings) with
        C(waived=true) and does not make its host non-compliant.
    type: list
    elements: str
    default: []
  include_removed:
    description:
      - Also list assets that the latest scan of their host no longer found, with C(removed_at).
        They are listed only; they do not count towards groups, counts or findings.
    type: bool
    default: false
"""

EXAMPLES = r"""
# inventory/aigov.ai_assets.yml -- `ansible-inventory -i inventory/aigov.ai_assets.yml --graph`
plugin: aigov.core.ai_assets
store: /var/lib/aigov/assets.sqlite3
registry: ../registry/ai-use-cases.yml

# Only the bundled registry, no compliance evaluation, plus groups of your own:
# plugin: aigov.core.ai_assets
# policy_packs: []
# groups:
#   exposed_model_servers: >-
#     ai_assets | selectattr('kind', 'eq', 'model_server')
#     | selectattr('attributes.exposed') | list | length > 0
# keyed_groups:
#   - key: aigov_use_cases
#     prefix: use_case
# compose:
#   gpu_count: aigov_asset_counts.gpu | default(0)

# Cache the store reads for an hour:
# plugin: aigov.core.ai_assets
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: /tmp/aigov-inventory-cache
# cache_timeout: 3600
"""

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable

from ansible_collections.aigov.core.plugins.module_utils.policy import policy
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.store import asset_inventory, asset_store, registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import resolve_data_file

SUFFIXES = ('ai_assets.yml', 'ai_assets.yaml')


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    """Hosts and groups from the aigov.core asset store."""

    NAME = 'aigov.core.ai_assets'

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(SUFFIXES)

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        base_dir = os.path.dirname(os.path.abspath(path))
        try:
            reg = registry.load_registry(resolve_data_file('registry', self.get_option('registry'), base_dir))
            packs = policy.load_packs([resolve_data_file('policy pack', name, base_dir)
                                       for name in self.get_option('policy_packs')], self.get_option('parameters'))
            waivers = policy.load_waivers(packs, [paths.local_path(name, base_dir) for name in self.get_option('exceptions')])
            data = self._store_data(path, cache)
            built = asset_inventory.build(data, reg, packs, waivers, self._regions(data))
        except AigovError as exc:
            raise AnsibleParserError('%s: %s' % (path, exc))
        self._populate(built)

    def _store_data(self, path, cache):
        """The raw store contents, from the inventory cache when allowed and present."""
        cache_key = self.get_cache_key(path)
        use_cache = self.get_option('cache') and cache
        if use_cache:
            try:
                return self._cache[cache_key]
            except KeyError:
                pass
        store = open_store(paths.resolve(paths.ASSET_STORE, self.get_option('store')), create=False)
        data = asset_store.read_inventory(store, include_removed=self.get_option('include_removed'))
        if self.get_option('cache'):
            self._cache[cache_key] = data
        return data

    def _regions(self, data):
        """aigov_region of the store's hosts, where an inventory source parsed before this one set it."""
        regions = {}
        for host in data['hosts']:
            known = self.inventory.get_host(host['inventory_hostname'])
            region = known.get_vars().get('aigov_region') if known else None
            if isinstance(region, str) and region:
                regions[host['inventory_hostname']] = str(region)
        return regions

    def _populate(self, built):
        strict = self.get_option('strict')
        for name, hostvars, groups in built:
            self.inventory.add_host(name)
            for key, value in hostvars.items():
                self.inventory.set_variable(name, key, value)
            for group in groups:
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            self._set_composite_vars(self.get_option('compose'), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option('groups'), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option('keyed_groups'), hostvars, name, strict=strict)
