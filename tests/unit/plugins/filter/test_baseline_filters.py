"""The role's filters: survey-shaped answers (strings) mean what they say, bad input is a clear error."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.aigov.core.plugins.filter.baseline import baseline_plan, baseline_restart

FINDING = {'id': 'f1', 'rule_id': 'R-MS-1', 'asset_id': 'model_server:1', 'asset_kind': 'model_server', 'asset_name': 'vllm',
           'inventory_hostname': 'h1', 'waived': False, 'remediation': {'id': 'bind_loopback', 'automatable': True, 'disruptive': True}}
CHECK = {'findings': [FINDING], 'assets': [{'id': 'model_server:1', 'kind': 'model_server', 'name': 'vllm', 'attributes': {'pids': [1]}}]}


@pytest.mark.parametrize('answer, runs', [('false', False), ('no', False), (False, False), ('true', True), (True, True)])
def test_allow_disruptive_survey_strings(answer, runs):
    plan = baseline_plan(CHECK, 'h1', 'enforce', allow_disruptive=answer)
    assert ('bind_loopback' in plan['remediate']) is runs


def test_rules_disabled_as_comma_separated_text():
    plan = baseline_plan(CHECK, 'h1', 'enforce', rules_disabled='R-X-1, R-MS-1', allow_disruptive=True)
    assert plan['skipped'][0]['reason'] == 'disabled'


@pytest.mark.parametrize('check, kwargs, message', [
    ({'msg': 'x'}, {}, 'expects the registered result of aigov.core.ai_policy_check'),
    (CHECK, {'allow_disruptive': 'perhaps'}, 'aigov_baseline_allow_disruptive must be a boolean'),
    (CHECK, {'mode': 'repair'}, 'aigov_baseline_mode must be one of audit, enforce'),
])
def test_bad_input(check, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        baseline_plan(check, 'h1', **kwargs)


def test_restart_waits_for_each_port_once():
    target = {'asset_id': 'a', 'name': 'vllm', 'listeners': [{'port': 8000}, {'port': 8000}, {'port': 9000}]}
    assert baseline_restart((target, [['/bin/true']]))['listeners'] == [{'port': 8000}, {'port': 9000}]
