"""roles/ai_baseline: argument specs, defaults, task files and the engine agree (docs never drift from code)."""

import os
import re

import yaml

from ansible_collections.aigov.core.plugins.module_utils.policy.baseline import MODES, REMEDIATIONS
from tests.conftest import ROOT

ROLE = os.path.join(ROOT, 'roles', 'ai_baseline')


def load(*parts):
    with open(os.path.join(ROLE, *parts)) as handle:
        return yaml.safe_load(handle)


SPECS = load('meta', 'argument_specs.yml')['argument_specs']['main']['options']
DEFAULTS = load('defaults', 'main.yml')


def test_every_default_is_documented_with_the_same_value():
    assert set(SPECS) == set(DEFAULTS)
    for name, spec in SPECS.items():
        assert spec['description'] and spec['type'], name
        assert spec.get('default') == DEFAULTS[name], name


def test_choices_are_the_engine_s():
    assert SPECS['aigov_baseline_mode']['choices'] == list(MODES)
    assert sorted(SPECS['aigov_baseline_remediations_disabled']['choices']) == sorted(REMEDIATIONS)


def test_every_remediation_has_its_tasks_and_is_included():
    main = open(os.path.join(ROLE, 'tasks', 'main.yml')).read()
    services = open(os.path.join(ROLE, 'tasks', 'remediate', 'services.yml')).read()
    for remediation in REMEDIATIONS:
        if remediation in ('bind_loopback', 'disable_dev_mode'):
            assert 'fix: %s' % remediation in services
            assert "'%s' in aigov_baseline_plan.remediate" % remediation in main
        else:
            assert os.path.isfile(os.path.join(ROLE, 'tasks', 'remediate', remediation + '.yml'))
            assert 'remediate/%s.yml' % remediation in main


def test_the_task_touching_secret_values_has_no_log():
    tasks = load('tasks', 'remediate', 'move_plaintext_secret.yml')
    [move] = [task for task in tasks if 'aigov.core.ai_secret_move' in task]
    assert move['no_log'] is True


def test_galaxy_namespace_for_molecule():
    assert load('meta', 'main.yml')['galaxy_info']['namespace'] == 'aigov'


def test_playbook_survey_vars_are_the_role_s():
    with open(os.path.join(ROOT, 'playbooks', 'enforce_baseline.yml')) as handle:
        header = re.findall(r'^#\s+(aigov_baseline_[a-z_]+)\s', handle.read(), re.M)
    assert set(header) - {'aigov_baseline_hosts'} <= set(SPECS)
