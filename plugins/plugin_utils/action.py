# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side helpers shared by the collection's action plugins."""

from __future__ import annotations

import abc
import getpass
import json

import yaml

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError


def host_scans(hosts, task_vars):
    """Return (targeted, scans, missing) from each host's ai_asset_facts result.

    A scan is {inventory_hostname, host, address, probes, problems, assets};
    each asset carries the inventory_hostname it came through. Targeted hosts
    without a discovery result (unreachable, failed, never scanned) are
    listed in missing: they are never taken for hosts without AI.
    """
    targeted = list(hosts) if hosts is not None else list(task_vars['groups']['all'])
    scans, missing = [], []
    for name in targeted:
        if name not in task_vars['hostvars']:
            raise AnsibleActionFail("host '%s' is not in the inventory" % name)
        hostvars = task_vars['hostvars'][name]
        facts = plain(hostvars.get('ansible_facts', {}))
        discovery = facts.get('ai_discovery')
        if discovery is None:
            missing.append(name)
            continue
        scans.append(dict(
            inventory_hostname=name, host=discovery.get('host'), address=plain(hostvars.get('ansible_host')),
            probes=discovery.get('probes', []), problems=discovery.get('problems', []),
            assets=[dict(asset, inventory_hostname=name) for asset in facts.get('ai_assets', [])]))
    return targeted, scans, missing


def collect_assets(assets, hosts, task_vars):
    """Return (assets, scope): the assets given, or those of every host's discovery result."""
    if assets is not None:
        assets = plain(assets)
        names = sorted(set(asset.get('inventory_hostname') or asset.get('host') or '' for asset in assets) - {''})
        return assets, dict(hosts_targeted=names, hosts_scanned=names, hosts_missing=[], problems={})
    targeted, scans, missing = host_scans(hosts, task_vars)
    collected = [asset for scan in scans for asset in scan['assets']]
    problems = dict((scan['inventory_hostname'], scan['problems']) for scan in scans if scan['problems'])
    return collected, dict(hosts_targeted=targeted, hosts_scanned=[scan['inventory_hostname'] for scan in scans],
                           hosts_missing=missing, problems=problems)


def store_assets(path):
    """Return (assets, scope) of the current assets in an asset store, in collect_assets' shape."""
    data = asset_store.read_inventory(open_store(path, create=False))
    names = [host['inventory_hostname'] for host in data['hosts']]
    problems = dict((host['inventory_hostname'], host['problems']) for host in data['hosts'] if host['problems'])
    return ([row['record'] for row in data['assets']],
            dict(hosts_targeted=names, hosts_scanned=names, hosts_missing=[], problems=problems))


# AAP puts the launching user and job id in these variables.
AAP_USER_VARS = ('awx_user_name', 'tower_user_name')
AAP_JOB_VARS = ('awx_job_id', 'tower_job_id')
# The audit_log option of every controller-side module that records or reads decisions (doc fragment aigov.core.audit_log).
# Its value, $AIGOV_AUDIT_LOG or the default are chosen by paths.resolve() in ControllerAction.run (SHARED_PATHS).
AUDIT_LOG_OPTION = dict(type='path')
# Options that name a shared file, resolved by paths.resolve() whatever the action calls them.
SHARED_PATHS = dict(audit_log=paths.AUDIT_LOG)
# An audit entry known from an earlier run that must still be in the chain (doc fragment aigov.core.audit_log.anchor).
AUDIT_ANCHOR_OPTION = dict(type='dict', options=dict(seq=dict(type='int', required=True), hash=dict(type='str', required=True)))
# The file of the keys that seal decisions and approvals (doc fragment aigov.core.audit_log.decision_key).
DECISION_KEY_OPTION = dict(type='path', no_log=False, fallback=(env_fallback, [decision_keys.ENV_FILE]))


def actor(task_vars):
    """Who runs this: the AAP user that launched the job, else the controller's user."""
    for name in AAP_USER_VARS:
        if task_vars.get(name):
            return str(task_vars[name])
    return getpass.getuser()


def aap_job(task_vars):
    """{awx_job_id: ...} of an AAP job, or None."""
    jobs = dict((name, str(task_vars[name])) for name in AAP_JOB_VARS if task_vars.get(name))
    return jobs or None


def plain(data):
    """A plain-Python deep copy of templated variable data (no lazy or tagged types)."""
    return json.loads(json.dumps(data, default=to_text))


def sequences_from_text(spec, args):
    """args, with a list option given as the text of a sequence ('["a.yml", "b.yml"]', "['a.yml']", "[a, b]") as that
    sequence. `-e key=value` on the command line and a text field of an AAP survey pass text, which Ansible would split
    at its commas into '["a.yml"' and ' "b.yml"]'. Other text stays as Ansible takes it: one item, or items between
    commas."""
    found = dict(args)
    for name, option in spec.items():
        text = found.get(name)
        if option.get('type') != 'list' or not isinstance(text, str):
            continue
        text = str(text).strip()
        if not (text.startswith('[') and text.endswith(']')):
            continue
        try:
            sequence = yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError):  # not a sequence, or nested past the parser's depth
            continue  # Ansible's own reading, and its error if the items are wrong
        if isinstance(sequence, list):
            found[name] = sequence
    return found


class ControllerAction(ActionBase):
    """Base of actions that run only on the controller.

    Subclasses set ARGUMENT_SPEC (and MUTUALLY_EXCLUSIVE, REQUIRED_IF, REQUIRED_ONE_OF, SHARED_PATHS) and
    implement run_on_controller(args, task_vars, result). Options that name a shared file (SHARED_PATHS, plus
    audit_log) arrive as absolute paths chosen by paths.resolve(). Engine errors become task failures here, once.
    """

    TRANSFERS_FILES = False
    _requires_connection = False
    ARGUMENT_SPEC = {}
    MUTUALLY_EXCLUSIVE = None  # e.g. [('assets', 'hosts', 'store')]
    SHARED_PATHS = {}  # option name -> paths.SharedFile, e.g. dict(path=paths.ASSET_STORE)
    REQUIRED_IF = None  # e.g. [('state', 'requested', ('payload',))]
    REQUIRED_ONE_OF = None

    def run(self, tmp=None, task_vars=None):
        result = super(ControllerAction, self).run(tmp, task_vars)
        self._task.args = sequences_from_text(self.ARGUMENT_SPEC, self._task.args)
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC,
                                                        mutually_exclusive=self.MUTUALLY_EXCLUSIVE,
                                                        required_if=self.REQUIRED_IF, required_one_of=self.REQUIRED_ONE_OF)
        shared = dict(SHARED_PATHS, **self.SHARED_PATHS)
        for name in [name for name in shared if name in self.ARGUMENT_SPEC]:
            args[name] = paths.resolve(shared[name], args[name], audit_log=args.get('audit_log'))
        try:
            return self.run_on_controller(args, task_vars, result)
        except AigovError as exc:
            raise AnsibleActionFail(str(exc))

    @abc.abstractmethod
    def run_on_controller(self, args, task_vars, result):
        """Do the action's work with validated args; return the updated result."""
