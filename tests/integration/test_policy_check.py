"""aigov.core.ai_policy_check through the real ansible-playbook, reading an asset store (no host is
contacted): waivers from an exceptions file, parameter overrides, observed regions from host
variables, and refusals that name the file, the index and the problem."""

import json
import os
import shutil

import pytest
import yaml

from tests.fixtures.inventory import estate

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'fixtures', 'inventory')
GPU_VLLM = 'model_server:1000000000000001'
WS_OLLAMA = 'model_server:4000000000000001'
CLOUD_KEY = 'credential:2000000000000002'
CLOUD_LITELLM = 'model_server:2000000000000001'
EXCEPTIONS = {'schema_version': 1, 'exceptions': [
    {'rule': 'AIGOV-MS-001', 'assets': [{'inventory_hostname': 'gpu-onprem-1', 'name': 'vllm'}], 'owner': 'ml-platform',
     'reason': 'Behind the cluster ingress with mTLS', 'expires': '2999-12-31'},
    {'rule': 'AIGOV-MS-001', 'assets': [{'id': WS_OLLAMA}], 'owner': 'dev-lead', 'reason': 'Demo week',
     'expires': '2020-01-31'},
]}


@pytest.fixture
def workdir(tmp_path):
    from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
    from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(str(tmp_path / 'assets.sqlite3')), json.loads(json.dumps(scans)), when)
    with open(os.path.join(FIXTURES, 'registry.yml')) as handle:
        registry = yaml.safe_load(handle)
    registry['use_cases'][1]['allowed_regions'] = ['eu-west-1']  # support-assistant, on cloud-vm-1
    (tmp_path / 'registry.yml').write_text(yaml.safe_dump(registry))
    (tmp_path / 'exceptions.yml').write_text(yaml.safe_dump(EXCEPTIONS))
    (tmp_path / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': {
        'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
        'cloud-vm-1': {'aigov_region': 'us-east-1'}}}}))
    return tmp_path


def run_check(ansible, workdir, cli=(), **options):
    task = dict({'store': 'assets.sqlite3', 'registry': 'registry.yml'}, **options)
    play = [{'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'aigov.core.ai_policy_check': task, 'register': 'check'},
        {'ansible.builtin.copy': {'content': '{{ check | to_json }}', 'dest': str(workdir / 'result.json')}}]}]
    (workdir / 'play.yml').write_text(yaml.safe_dump(play))
    proc = ansible.playbook('-i', 'inventory.yml', 'play.yml', *cli, cwd=str(workdir))
    result = json.loads((workdir / 'result.json').read_text()) if proc.returncode == 0 else None
    return proc, result


def findings(result, rule_id):
    return dict((f['asset_id'], f) for f in result['findings'] if f['rule_id'] == rule_id)


def test_store_waivers_parameters_and_regions(ansible, workdir):
    proc, result = run_check(ansible, workdir, exceptions=['exceptions.yml'], parameters={'credential_max_age_days': 1})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exposed = findings(result, 'AIGOV-MS-001')
    assert exposed[GPU_VLLM]['waived'] is True and exposed[GPU_VLLM]['waiver']['owner'] == 'ml-platform'
    assert exposed[WS_OLLAMA]['waived'] is False and exposed[WS_OLLAMA]['waiver']['expired'] is True
    assert [(w['status'], w['findings']) for w in result['waivers']] == [('active', 1), ('expired', 1)]
    assert result['summary']['waived'] == 1 and result['summary']['waivers_expired'] == 1
    assert CLOUD_KEY in findings(result, 'AIGOV-CR-003')  # 3 days old, maximum age set to 1 for this run
    assert set(findings(result, 'AIGOV-GV-005')) == {CLOUD_KEY, CLOUD_LITELLM, 'mcp_server:2000000000000003'}
    assert result['summary']['hosts_scanned'] == 4 and result['policy_packs'][0]['parameters']['credential_max_age_days'] == 1


# key=value ends at a space: the forms a command line can carry
@pytest.mark.parametrize('given', ['["exceptions.yml","more.yml"]', "['exceptions.yml','more.yml']", 'exceptions.yml,more.yml'])
def test_a_list_of_files_given_as_text_on_the_command_line_is_that_list(ansible, workdir, given):
    """-e key=value passes text: the JSON form the scan's own summary and HTML report advise was split at its commas
    into '["exceptions.yml"' and ' "more.yml"]', and the scan refused a file by that name."""
    shutil.copy(str(workdir / 'exceptions.yml'), str(workdir / 'more.yml'))
    proc, result = run_check(ansible, workdir, cli=('-e', 'aigov_exceptions=' + given), exceptions='{{ aigov_exceptions }}')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [w['source'].split('#')[0] for w in result['waivers']] == [
        str(workdir / name) for name in ('exceptions.yml', 'exceptions.yml', 'more.yml', 'more.yml')]


def test_default_parameters_and_no_region_no_residency_finding(ansible, workdir):
    (workdir / 'inventory.yml').write_text(yaml.safe_dump({'all': {'hosts': {
        'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}}}))
    proc, result = run_check(ansible, workdir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert findings(result, 'AIGOV-CR-003') == {} and findings(result, 'AIGOV-GV-005') == {}
    assert findings(result, 'AIGOV-MS-001')[GPU_VLLM]['waived'] is False


@pytest.mark.parametrize('options, message', [
    ({'hosts': ['cloud-vm-1']}, 'parameters are mutually exclusive: assets|hosts|store'),
    ({'exceptions': ['broken.yml']}, 'exceptions[1] (rule AIGOV-MS-001): expires must be an ISO date (YYYY-MM-DD)'),
    ({'exceptions': ['unknown-rule.yml']}, 'exceptions[0] (rule AIGOV-XX-001): no loaded policy pack defines this rule'),
    ({'parameters': {'credential_max_age': 30}}, 'parameters.credential_max_age: no loaded policy pack declares this parameter'),
])
def test_bad_calls_are_refused_before_anything_is_evaluated(ansible, workdir, options, message):
    broken = json.loads(json.dumps(EXCEPTIONS))
    broken['exceptions'][1]['expires'] = 'end of January'
    (workdir / 'broken.yml').write_text(yaml.safe_dump(broken))
    unknown = {'schema_version': 1, 'exceptions': [dict(EXCEPTIONS['exceptions'][0], rule='AIGOV-XX-001')]}
    (workdir / 'unknown-rule.yml').write_text(yaml.safe_dump(unknown))
    proc, _result = run_check(ansible, workdir, **options)
    assert proc.returncode != 0
    output = proc.stdout.replace('\\n', '\n')
    assert message in output, output
    if 'exceptions' in options:
        assert str(workdir / options['exceptions'][0]) in output
        assert 'refused before evaluating anything' in output


def test_missing_store_is_a_clear_failure(ansible, workdir):
    shutil.move(str(workdir / 'assets.sqlite3'), str(workdir / 'moved.sqlite3'))
    proc, _result = run_check(ansible, workdir)
    assert proc.returncode != 0 and 'assets.sqlite3' in proc.stdout
