# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the agent_secret_rotation role: rotation_agents, rotation_decision, rotation_outcome, rotation_report.

The bookkeeping lives in module_utils/secrets/secret_rotation.py; these only adapt
Ansible's variables to it and convert its errors.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.aigov.core.plugins.module_utils.store import registry as registry_lib
from ansible_collections.aigov.core.plugins.module_utils.secrets import secret_rotation
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.survey_answers import answer_list
from ansible_collections.aigov.core.plugins.plugin_utils.action import plain
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import resolve_data_file


def rotation_agents(explicit, hostvars=None, hosts=None, registry=None, force=None, leaked=None):
    """The agents to rotate: EXPLICIT, then the `aigov_agents` of each of HOSTS, with registry owner and risk tier."""
    inventory = {}
    for host in hosts or ():
        listed = hostvars[host].get('aigov_agents') if hostvars is not None else None
        if listed is not None:
            inventory[host] = plain(listed)
    try:
        reg = registry_lib.load_registry(resolve_data_file('registry', registry)) if registry else None
        return secret_rotation.agents(plain(explicit or []), inventory, reg, answer_list(force), answer_list(leaked))
    except AigovError as exc:
        raise AnsibleFilterError(str(exc))


def rotation_decision(agent, current, force=None, leaked=None):
    """Whether AGENT rotates now and why, and its overlap window (CURRENT is agent_secret's state=read result)."""
    if not isinstance(current, dict) or 'exists' not in current:
        raise AnsibleFilterError('rotation_decision expects the registered result of aigov.core.agent_secret (state=read)')
    return secret_rotation.decide(agent, plain(current), answer_list(force), answer_list(leaked))


def rotation_outcome(agent, result, before=None, after=None, message=None, reason=None):
    """AGENT's record: outcome RESULT, versions and fingerprints BEFORE and AFTER (agent_secret results)."""
    try:
        return secret_rotation.outcome(agent, result, plain(before or {}), plain(after or {}), message, reason)
    except AigovError as exc:
        raise AnsibleFilterError(str(exc))


def rotation_report(records):
    """The run's summary of the agents' records."""
    return secret_rotation.report(plain(records or []))


class FilterModule(object):
    """aigov.core secret rotation filters."""

    def filters(self):
        return {'rotation_agents': rotation_agents, 'rotation_decision': rotation_decision,
                'rotation_outcome': rotation_outcome, 'rotation_report': rotation_report}
