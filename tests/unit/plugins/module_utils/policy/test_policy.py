"""Policy packs: validation with precise errors, evaluation, summaries."""

import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.policy import policy
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError

from tests.contracts import validate

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')
DEFAULT_PACK = os.path.join(ROOT, 'policies', 'default.yml')

GOOD_RULE = """
  - id: TEST-RULE-001
    title: t
    description: d
    rationale: r
    severity: high
    applies_to: "kind == 'model_server'"
    condition: "attributes.auth == 'configured'"
    references: {owasp-llm-2025: ["LLM10:2025"]}
"""


def asset(asset_id, exposed=True, auth='none', **extra):
    record = {'schema_version': 1, 'id': 'model_server:%016x' % asset_id, 'kind': 'model_server', 'name': 'vllm',
              'host': 'h', 'confidence': 'inferred', 'evidence': [],
              'attributes': {'exposed': exposed, 'auth': auth}}
    record.update(extra)
    return record


def write_pack(tmp_path, rules, header='schema_version: 1\nname: t\nversion: "1"\n'):
    path = tmp_path / 'pack.yml'
    path.write_text(header + 'rules:\n' + rules)
    return str(path)


def test_default_pack_loads():
    pack = policy.load_pack(DEFAULT_PACK)
    assert pack['name'] == 'default'
    assert [rule['id'] for rule in pack['rules']][:5] == ['AIGOV-MS-001', 'AIGOV-MA-001', 'AIGOV-MA-002', 'AIGOV-CR-001', 'AIGOV-VD-001']


@pytest.mark.parametrize('mutation, message', [
    (('applies_to: "kind == \'model_server\'"', 'applies_to: "kind == ("'), 'applies_to is not a valid JMESPath expression'),
    (('severity: high', 'severity: urgent'), "severity must be one of info, low, medium, high, critical, got 'urgent'"),
    (('owasp-llm-2025', 'owasp-llm-1999'), "unknown framework 'owasp-llm-1999'"),
    (('id: TEST-RULE-001', 'id: bad id'), 'id must look like AIGOV-MS-001'),
    (('title: t', 'titel: t'), "unknown key 'titel'"),
    (('rationale: r', 'rationale: ""'), 'rationale must be a non-empty string'),
])
def test_broken_rule_names_file_rule_and_problem(tmp_path, mutation, message):
    path = write_pack(tmp_path, GOOD_RULE.replace(*mutation))
    with pytest.raises(DataFileError) as caught:
        policy.load_pack(path)
    text = str(caught.value)
    assert path in text and 'rules[0]' in text and message in text


def test_duplicate_rule_ids_across_packs_are_refused(tmp_path):
    first = write_pack(tmp_path, GOOD_RULE)
    second_dir = tmp_path / 'b'
    second_dir.mkdir()
    second = write_pack(second_dir, GOOD_RULE)
    with pytest.raises(DataFileError, match='duplicate rule id'):
        policy.load_packs([first, second])


@pytest.mark.parametrize('content, message', [
    ('rules: [', 'not valid YAML'),
    ('- a\n- b\n', 'top level of the policy pack file must be a mapping'),
    ('schema_version: 9\nname: t\nversion: "1"\nrules: []\n', 'schema_version must be one of 1'),
])
def test_broken_pack_file(tmp_path, content, message):
    path = tmp_path / 'pack.yml'
    path.write_text(content)
    with pytest.raises(DataFileError, match=message):
        policy.load_pack(str(path))


def test_missing_pack_file(tmp_path):
    with pytest.raises(DataFileError, match='cannot read policy pack file'):
        policy.load_pack(str(tmp_path / 'nope.yml'))


def test_evaluate_default_rule():
    pack = policy.load_pack(DEFAULT_PACK)
    assets = [asset(1), asset(2, auth='configured'), asset(3, exposed=False), asset(4, exposed=None)]
    findings, results = policy.evaluate([pack], assets)
    assert [f['asset_id'] for f in findings if f['rule_id'] == 'AIGOV-MS-001'] == [assets[0]['id']]
    assert results[1]['rule_id'] == 'AIGOV-MA-001' and results[1]['applied'] == 0
    rule = pack['rules'][0]
    assert results[0] == dict(rule_id='AIGOV-MS-001', title=rule['title'], severity='high', references=rule['references'],
                              applied=2, failed=1, waived=0, passed_assets=[assets[1]['id']],
                              description=rule['description'], rationale=rule['rationale'],
                              remediation=rule['remediation'])
    for finding in findings:
        validate(finding, 'finding.v1.json')
    assert [f['id'] for f in findings] == [f['id'] for f in policy.evaluate([pack], assets)[0]]  # stable


def test_jmespath_truthiness_zero_is_true(tmp_path):
    rules = GOOD_RULE.replace("attributes.auth == 'configured'", 'attributes.count')
    pack = policy.load_pack(write_pack(tmp_path, rules))
    zero = asset(1)
    zero['attributes']['count'] = 0
    empty = asset(2)
    empty['attributes']['count'] = []
    findings = policy.evaluate([pack], [zero, empty])[0]
    assert [f['asset_id'] for f in findings] == [empty['id']]


def test_disabled_rule_is_not_evaluated(tmp_path):
    pack = policy.load_pack(write_pack(tmp_path, GOOD_RULE + '    enabled: false\n'))
    assert policy.evaluate([pack], [asset(1)]) == ([], [])


def test_runtime_expression_error_names_rule_and_asset(tmp_path):
    rules = GOOD_RULE.replace("attributes.auth == 'configured'", 'length(attributes.missing)')
    pack = policy.load_pack(write_pack(tmp_path, rules))
    with pytest.raises(Exception, match='rule TEST-RULE-001: condition failed on asset model_server:0000000000000001'):
        policy.evaluate([pack], [asset(1)])


@pytest.mark.parametrize('fail_on, exceeded', [(None, False), ('critical', False), ('high', True), ('info', True)])
def test_summarize_threshold(fail_on, exceeded):
    findings = [{'severity': 'high', 'waived': False}, {'severity': 'critical', 'waived': True}]
    summary = policy.summarize(findings, [1, 2], fail_on)
    assert summary['threshold_exceeded'] is exceeded
    assert summary['findings'] == 1 and summary['by_severity']['high'] == 1 and summary['by_severity']['critical'] == 0
    assert summary['compliant'] is False


def test_default_dangerous_pickle_rule():
    pack = policy.load_pack(DEFAULT_PACK)
    evil = {'schema_version': 1, 'id': 'model_artifact:00000000000000aa', 'kind': 'model_artifact', 'name': 'evil.pt',
            'attributes': {'pickle': {'imports': ['posix.system'], 'dangerous': ['posix.system'], 'error': None},
                           'executes_code_on_load': True}}
    benign = dict(evil, id='model_artifact:00000000000000bb', attributes={
        'pickle': {'imports': ['collections.OrderedDict'], 'dangerous': [], 'error': None}, 'executes_code_on_load': False})
    findings = policy.evaluate([pack], [evil, benign])[0]
    assert [(f['rule_id'], f['severity'], f['asset_id']) for f in findings if f['rule_id'] == 'AIGOV-MA-001'] == [
        ('AIGOV-MA-001', 'critical', evil['id'])]


def test_default_world_readable_credential_rule():
    pack = policy.load_pack(DEFAULT_PACK)

    def cred(ident, **attributes):
        return {'schema_version': 1, 'id': 'credential:%016x' % ident, 'kind': 'credential', 'name': 'openai',
                'attributes': dict({'source': 'env_file'}, **attributes)}
    assets = [cred(1, world_readable=True), cred(2, world_readable=False), cred(3)]  # 3: a process environment
    findings = policy.evaluate([pack], assets)[0]
    assert [(f['rule_id'], f['asset_id']) for f in findings if f['rule_id'] == 'AIGOV-CR-001'] == [('AIGOV-CR-001', assets[0]['id'])]
