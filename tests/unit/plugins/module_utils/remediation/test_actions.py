"""The action table: the bundled file, its validation, what it proposes, and its tie to the remediation role."""

import copy
import json
import os
import re

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import load_action_table
from tests.conftest import ROOT

BUNDLED = os.path.join(ROOT, 'actions', 'default.yml')
ROLE_TASKS = os.path.join(ROOT, 'roles', 'ai_remediation', 'tasks')


def bundled_data():
    with open(BUNDLED) as handle:
        return yaml.safe_load(handle)


def test_the_bundled_table_loads_and_names_every_remediation_with_its_properties():
    table = actions.load_actions(BUNDLED)
    assert sorted(table['remediations']) == ['quarantine_agent', 'rebind_loopback', 'restart_model_server',
                                             'rollback_model', 'rotate_agent_secret', 'stop_gpu_process']
    assert all(props['hosts'] == 1 for props in table['remediations'].values())
    assert [name for name, props in sorted(table['remediations'].items()) if not props['disruptive']] == ['restart_model_server']


def test_asset_kinds_are_the_asset_schema_kinds():
    with open(os.path.join(ROOT, 'schemas', 'asset.v1.json')) as handle:
        assert list(actions.ASSET_KINDS) == json.load(handle)['properties']['kind']['enum']


@pytest.mark.parametrize('change, problems', [
    (lambda d: d.update(schema_version=9), ['schema_version must be one of 1, got 9']),
    (lambda d: d.update(extra=1), ['unknown key(s): extra']),
    (lambda d: d['actions'][2].update(remediation='reboot'),
     ["actions[2].remediation 'reboot' is not one of the table's remediations"]),
    (lambda d: d['actions'][0].pop('alertname'), ['actions[0].alertname must be a non-empty string, got None']),
    (lambda d: d['actions'][1].update(labels={'severity': 3}), ['actions[1].labels must map label names to exact string values']),
    (lambda d: d['actions'][4].update(when='always'), ['actions[4].when is not a key of an action']),
    (lambda d: d['remediations']['rollback_model'].update(hosts=0),
     ['remediations.rollback_model.hosts must be a whole number of at least 1, got 0']),
    (lambda d: d['remediations']['stop_gpu_process'].update(disruptive='yes'),
     ["remediations.stop_gpu_process.disruptive must be true or false, got 'yes'"]),
    (lambda d: d['remediations']['quarantine_agent'].update(kinds=['agnet']),
     ['remediations.quarantine_agent.kinds must be a non-empty list of asset kinds']),
    (lambda d: d['remediations']['rebind_loopback'].pop('disruptive'), ['remediations.rebind_loopback.disruptive is required']),
    (lambda d: d['remediations'].update({'../../etc/x': {'kinds': ['gpu'], 'disruptive': True, 'hosts': 1}}),
     ['remediations.../../etc/x: a remediation name is lower case letters, digits and _']),
    # several problems at once: every one is named
    (lambda d: (d['actions'][3].update(remediation=None), d['remediations']['rotate_agent_secret'].update(hosts=-1)),
     ['remediations.rotate_agent_secret.hosts must be a whole number', "actions[3].remediation None is not one of"]),
])
def test_a_broken_table_names_the_file_the_entry_and_the_key(tmp_path, change, problems):
    data = bundled_data()
    change(data)
    path = tmp_path / 'actions.yml'
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DataFileError) as raised:
        actions.load_actions(str(path))
    assert str(path) in str(raised.value)
    assert len(raised.value.problems) == len(problems), raised.value.problems
    for expected in problems:
        assert any(problem.startswith(expected) for problem in raised.value.problems), (expected, raised.value.problems)


def test_labels_select_and_the_first_match_wins():
    data = bundled_data()
    data['actions'].insert(0, {'alertname': 'GpuProcessRunaway', 'labels': {'team': 'research', 'env': 'lab'},
                               'remediation': 'rotate_agent_secret'})
    table = actions.check_table(data, 'test')
    assert actions.propose(table, {'name': 'GpuProcessRunaway', 'labels': {'team': 'research', 'env': 'lab', 'x': '1'}}) == {
        'alert': 'GpuProcessRunaway', 'remediation': 'rotate_agent_secret', 'disruptive': True, 'hosts': 1}
    # one selector differs: the next entry of that name
    assert actions.propose(table, {'name': 'GpuProcessRunaway', 'labels': {'team': 'research'}})['remediation'] == 'stop_gpu_process'
    assert actions.propose(table, {'name': 'ModelServerDown', 'labels': {}})['disruptive'] is False


def test_an_alert_no_entry_maps_proposes_nothing():
    table = actions.load_actions(BUNDLED)
    assert actions.propose(table, {'name': 'GpuMemoryHigh', 'labels': {}}) == {
        'alert': 'GpuMemoryHigh', 'remediation': None, 'disruptive': False, 'hosts': 1}
    assert actions.propose(table, {'name': None})['remediation'] is None


def test_the_older_mapping_form_is_accepted_with_the_bundled_remediations(tmp_path):
    table = load_action_table({'CapacityLow': 'restart_model_server'}, str(tmp_path))
    assert actions.propose(table, {'name': 'CapacityLow'})['remediation'] == 'restart_model_server'
    assert actions.propose(table, {'name': 'ModelServerDown'})['remediation'] is None  # it replaces the table
    assert table['remediations'] == actions.load_actions(BUNDLED)['remediations']
    with pytest.raises(DataFileError, match=r"actions\[0\].remediation 'rm -rf /' is not one of"):
        load_action_table({'ModelServerDown': 'rm -rf /'}, str(tmp_path))
    assert load_action_table(None, str(tmp_path))['name'] == 'default'


def test_every_remediation_of_the_table_is_a_task_file_the_role_dispatches_and_vice_versa():
    table = actions.load_actions(BUNDLED)
    with open(os.path.join(ROLE_TASKS, 'main.yml')) as handle:
        main = yaml.safe_load(handle)
    [known] = [task['vars']['ai_remediation_known'] for task in main if 'ai_remediation_known' in task.get('vars', {})]
    [dispatch] = [task['ansible.builtin.include_tasks'] for task in main if 'ansible.builtin.include_tasks' in task]
    assert dispatch == ("{{ ai_remediation_plan.remediation if ai_remediation_plan.remediation in ai_remediation_known "
                        "else 'unknown' }}.yml")
    files = set(name[:-4] for name in os.listdir(ROLE_TASKS) if name.endswith('.yml')) - {'main', 'unknown'}
    # the files other task files include are helpers, not remediations
    helpers = set()
    for name in files:
        with open(os.path.join(ROLE_TASKS, name + '.yml')) as handle:
            helpers.update(re.findall(r'include_tasks:\s*(\w+)\.yml', handle.read()))
    assert sorted(known) == sorted(table['remediations'])
    assert sorted(files - helpers) == sorted(table['remediations'])


def test_the_table_given_as_a_whole_mapping_is_validated_the_same_way(tmp_path):
    data = bundled_data()
    assert load_action_table(copy.deepcopy(data), str(tmp_path))['_by_name']['ModelServerDown'] == [((), 'restart_model_server')]
    data['remediations']['rollback_model']['kinds'] = []
    with pytest.raises(DataFileError, match='remediations.rollback_model.kinds must be a non-empty list'):
        load_action_table(data, str(tmp_path))
