# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action table: which remediation an alert proposes, and what that remediation is.

One source of truth (data: the bundled actions/default.yml or a user's copy) for the event
source, which decides on the proposed action (guardrails.decide(action=propose(...))), and for
the plan, the approval queue and the remediation role that carry it out:

  remediations  name -> {kinds: asset kinds it acts on, disruptive: bool, hosts: how many hosts}
  actions       [{alertname, labels (optional, exact values), remediation}], first match wins

A table is validated in full before it is used; DataFileError names the file and every problem.
"""

from __future__ import annotations

import re

from ansible_collections.aigov.core.plugins.module_utils.audit.audit_log import recordable
from ansible_collections.aigov.core.plugins.module_utils.common.data_file_loader import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError

ACTION_TABLE_SCHEMA_VERSIONS = (1,)
# The asset kinds of schemas/asset.v1.json (a test keeps them equal).
ASSET_KINDS = ('model_server', 'vector_db', 'model_artifact', 'credential', 'ai_package', 'gpu', 'mcp_server', 'agent')
# A remediation's name is a task file of the ai_remediation role: a plain name, never a path.
REMEDIATION_NAME = re.compile(r'^[a-z][a-z0-9_]{0,62}$')
_TOP_KEYS = ('schema_version', 'name', 'description', 'remediations', 'actions')
_REMEDIATION_KEYS = ('kinds', 'disruptive', 'hosts')
_ACTION_KEYS = ('alertname', 'labels', 'remediation')


def _plain_string(value):
    return isinstance(value, str) and bool(value)


def _check_remediations(remediations, problems):
    if not isinstance(remediations, dict) or not remediations:
        problems.append('remediations must map each remediation name to its kinds, disruptive and hosts')
        return
    for name, props in remediations.items():
        where = 'remediations.%s' % name
        if not isinstance(name, str) or not REMEDIATION_NAME.match(name):
            problems.append('%s: a remediation name is lower case letters, digits and _ (a task file of the '
                            'ai_remediation role)' % where)
        if not isinstance(props, dict):
            problems.append('%s must be a mapping of %s' % (where, ', '.join(_REMEDIATION_KEYS)))
            continue
        for key in sorted(set(_REMEDIATION_KEYS) - set(props)):
            problems.append('%s.%s is required' % (where, key))
        for key in sorted(set(props) - set(_REMEDIATION_KEYS)):
            problems.append('%s.%s is not a key of a remediation (keys: %s)' % (where, key, ', '.join(_REMEDIATION_KEYS)))
        kinds = props.get('kinds', ['model_server'])
        if not isinstance(kinds, list) or not kinds or not all(kind in ASSET_KINDS for kind in kinds):
            problems.append('%s.kinds must be a non-empty list of asset kinds (%s), got %r' % (where, ', '.join(ASSET_KINDS), kinds))
        if not isinstance(props.get('disruptive', False), bool):
            problems.append('%s.disruptive must be true or false, got %r' % (where, props['disruptive']))
        hosts = props.get('hosts', 1)
        if isinstance(hosts, bool) or not isinstance(hosts, int) or hosts < 1:
            problems.append('%s.hosts must be a whole number of at least 1, got %r' % (where, hosts))


def _check_actions(actions, remediations, problems):
    if not isinstance(actions, list):
        problems.append('actions must be a list of {alertname, labels, remediation}')
        return
    known = set(remediations) if isinstance(remediations, dict) else set()
    for index, entry in enumerate(actions):
        where = 'actions[%d]' % index
        if not isinstance(entry, dict):
            problems.append('%s must be a mapping of %s' % (where, ', '.join(_ACTION_KEYS)))
            continue
        for key in sorted(set(entry) - set(_ACTION_KEYS)):
            problems.append('%s.%s is not a key of an action (keys: %s)' % (where, key, ', '.join(_ACTION_KEYS)))
        if not _plain_string(entry.get('alertname')):
            problems.append('%s.alertname must be a non-empty string, got %r' % (where, entry.get('alertname')))
        labels = entry.get('labels', {})
        if not isinstance(labels, dict) or not all(_plain_string(key) and isinstance(value, str)
                                                   for key, value in labels.items()):
            problems.append('%s.labels must map label names to exact string values, got %r' % (where, labels))
        if entry.get('remediation') not in known:
            problems.append('%s.remediation %r is not one of the table\'s remediations (%s)'
                            % (where, entry.get('remediation'), ', '.join(sorted(known)) or 'none'))


def check_table(data, where):
    """The action table `data` (a mapping, as read from a file), validated and compiled for propose().

    where: what DataFileError names (the file's path). Raises DataFileError with every problem.
    """
    problems = []
    if not isinstance(data, dict):
        raise DataFileError(where, ['an action table is a mapping of %s' % ', '.join(_TOP_KEYS)])
    check_schema_version(data, ACTION_TABLE_SCHEMA_VERSIONS, problems)
    if not _plain_string(data.get('name')):
        problems.append('name must be a non-empty string')
    _check_remediations(data.get('remediations'), problems)
    _check_actions(data.get('actions'), data.get('remediations'), problems)
    unknown = sorted(str(key) for key in set(data) - set(_TOP_KEYS))
    if unknown:
        problems.append('unknown key(s): %s' % ', '.join(unknown))
    if problems:
        raise DataFileError(where, problems)
    by_name = {}
    for entry in data['actions']:
        by_name.setdefault(entry['alertname'], []).append((tuple(sorted((entry.get('labels') or {}).items())),
                                                          entry['remediation']))
    return dict(data, path=where, _by_name=by_name)


def load_actions(path):
    """Load and fully validate an action table file; raise DataFileError listing every problem."""
    data, digest = load_yaml_mapping(path, 'action table')
    return dict(check_table(data, path), sha256=digest)


def from_mapping(mapping, base, where='the action mapping'):
    """The older form, {alert name: remediation}, as a table with base's remediations (and their properties)."""
    if not isinstance(mapping, dict) or not mapping:
        raise DataFileError(where, ['the action mapping must map alert names to remediations'])
    table = {'schema_version': 1, 'name': 'mapping', 'remediations': base['remediations'],
             'actions': [{'alertname': name, 'remediation': remediation} for name, remediation in mapping.items()]}
    return check_table(table, where)


def propose(table, alert):
    """The action the table proposes for a normalized alert ({name, labels}), what the guardrails decide on:

    {alert: the alert name as the audit log records it, remediation: a name or None (nothing is mapped),
    disruptive, hosts}. The first entry of the alert's name whose labels all match wins.
    """
    labels = alert.get('labels') if isinstance(alert.get('labels'), dict) else {}
    name = alert.get('name')
    remediation = None
    for selectors, candidate in table['_by_name'].get(name, ()) if isinstance(name, str) else ():
        if all(labels.get(key) == value for key, value in selectors):
            remediation = candidate
            break
    props = table['remediations'].get(remediation) or {}
    return {'alert': recordable(name), 'remediation': remediation, 'disruptive': bool(props.get('disruptive')),
            'hosts': props.get('hosts', 1)}


def proposed_remediation(table, event):
    """The remediation an event's decision proposed (decision.remediation), or None.

    A decision made before decisions named their remediation has no such key: the alert's name
    is looked up in the table then (without labels: the payload carries none).
    """
    decision = event.get('decision') if isinstance(event.get('decision'), dict) else {}
    if 'remediation' in decision:
        return decision['remediation'] if isinstance(decision['remediation'], str) else None
    alert = event.get('alert') if isinstance(event.get('alert'), dict) else {}
    return propose(table, {'name': alert.get('name')})['remediation']
