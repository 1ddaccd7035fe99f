"""The rotation role's filters: inventory agents read from hostvars, survey-style names, clear errors."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aigov.core.plugins.filter.secret_rotation import rotation_agents, rotation_decision

AGENT = dict(name='bot', env_file='/etc/bot/env', env_var='K', restart_command=['true'], verify_url='http://127.0.0.1:1/')


def test_inventory_agents_and_comma_separated_names():
    hostvars = {'h1': {'aigov_agents': [AGENT]}, 'h2': {}}
    found = rotation_agents([], hostvars, ['h1', 'h2'], '', 'bot', 'bot, ')
    assert [(a['name'], a['host'], a['source']) for a in found] == [('bot', 'h1', 'inventory')]


def test_bundled_registry_and_bad_input():
    assert rotation_agents([dict(AGENT, host='h1')], registry='default')[0]['risk_tier'] is None
    with pytest.raises(AnsibleFilterError, match='no bundled registry named'):
        rotation_agents([], registry='nosuch')
    with pytest.raises(AnsibleFilterError, match='names no known agent: ghost'):
        rotation_agents([dict(AGENT, host='h1')], leaked=['ghost'])
    with pytest.raises(AnsibleFilterError, match='expects the registered result of aigov.core.agent_secret'):
        rotation_decision(dict(AGENT, host='h1'), {'msg': 'x'})
