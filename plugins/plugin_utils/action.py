# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the collection's action plugins."""

from __future__ import annotations

import abc
import json
import os
import re

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED_NAME = re.compile(r'^[a-z0-9][a-z0-9_-]*$')
BUNDLED_DIRS = {'policy pack': 'policies', 'registry': 'registry'}


def bundled_names(kind):
    """Names of the data files of a kind that ship with the collection."""
    directory = os.path.join(COLLECTION_ROOT, BUNDLED_DIRS[kind])
    return sorted(name[:-4] for name in os.listdir(directory) if name.endswith('.yml'))


def collection_version():
    """This collection's version: from MANIFEST.json when installed, else galaxy.yml of a checkout."""
    manifest = os.path.join(COLLECTION_ROOT, 'MANIFEST.json')
    if os.path.isfile(manifest):
        with open(manifest) as handle:
            return json.load(handle)['collection_info']['version']
    with open(os.path.join(COLLECTION_ROOT, 'galaxy.yml')) as handle:
        found = re.search(r'^version:\s*(\S+)', handle.read(), re.MULTILINE)
    return found.group(1) if found else 'unknown'


def resolve_data_file(kind, value, loader):
    """Turn a bundled name (`default`) or a path into an absolute path.

    A bare name that is not an existing file names a file shipped with the
    collection; anything else is a path, relative to the playbook directory.
    """
    if BUNDLED_NAME.match(value) and not os.path.exists(loader.path_dwim(value)):
        path = os.path.join(COLLECTION_ROOT, BUNDLED_DIRS[kind], value + '.yml')
        if not os.path.isfile(path):
            raise AnsibleActionFail('no bundled %s named %r (bundled: %s); give a path to use your own file'
                                    % (kind, value, ', '.join(bundled_names(kind))))
        return path
    return loader.path_dwim(value)


def collect_assets(assets, hosts, task_vars):
    """Return (assets, scope): the assets given, or those each host's ai_asset_facts run set.

    Each asset carries the inventory_hostname it came through. Targeted hosts
    without a discovery result (unreachable, failed, never scanned) are listed
    in scope.hosts_missing: they are never taken for hosts without AI.
    """
    if assets is not None:
        assets = plain(assets)
        names = sorted(set(asset.get('inventory_hostname') or asset.get('host') or '' for asset in assets) - {''})
        return assets, dict(hosts_targeted=names, hosts_scanned=names, hosts_missing=[], problems={})
    targeted = hosts if hosts is not None else list(task_vars['groups']['all'])
    collected, scanned, missing, problems = [], [], [], {}
    for host in targeted:
        if host not in task_vars['hostvars']:
            raise AnsibleActionFail("host '%s' is not in the inventory" % host)
        facts = plain(task_vars['hostvars'][host].get('ansible_facts', {}))
        if 'ai_discovery' not in facts:
            missing.append(host)
            continue
        scanned.append(host)
        if facts['ai_discovery'].get('problems'):
            problems[host] = facts['ai_discovery']['problems']
        collected.extend(dict(asset, inventory_hostname=host) for asset in facts.get('ai_assets', []))
    return collected, dict(hosts_targeted=list(targeted), hosts_scanned=scanned, hosts_missing=missing, problems=problems)


def plain(data):
    """A plain-Python deep copy of templated variable data (no lazy or tagged types)."""
    return json.loads(json.dumps(data, default=to_text))


class ControllerAction(ActionBase):
    """Base of actions that run only on the controller.

    Subclasses set ARGUMENT_SPEC and implement run_on_controller(args,
    task_vars, result). Engine errors become task failures here, once.
    """

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerAction, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        try:
            return self.run_on_controller(args, task_vars, result)
        except AigovError as exc:
            raise AnsibleActionFail(str(exc))

    @abc.abstractmethod
    def run_on_controller(self, args, task_vars, result):
        """Do the action's work with validated args; return the updated result."""
