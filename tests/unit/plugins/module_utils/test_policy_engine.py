"""Waivers, pack parameters, custom functions, fleet context and the kind pre-filter."""

import jmespath
import pytest

from ansible_collections.aigov.core.plugins.module_utils.policy import fleet, policy, policy_functions
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError, DataFileError

from tests.contracts import validate
from tests.fixtures import policy_assets as pa

HEADER = 'schema_version: 1\nname: t\nversion: "1"\n'
RULE = """rules:
  - id: TEST-MS-001
    title: t
    description: d
    rationale: r
    severity: high
    applies_to: "kind == 'model_server'"
    condition: "attributes.auth == 'configured'"
    references: {owasp-llm-2025: ["LLM10:2025"]}
"""
WAIVER = """  - rule: TEST-MS-001
    assets: [{host: "gpu-*", name: vllm}]
    owner: ml-platform
    reason: Behind the cluster ingress with mTLS
    expires: 2026-12-31
"""


def write(tmp_path, text, name='pack.yml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def exposed(host='gpu-1'):
    return pa.server(address='0.0.0.0', auth='none', host=host)


def test_pack_waiver_applies_until_its_expiry_date_then_stops(tmp_path):
    packs = policy.load_packs([write(tmp_path, HEADER + RULE + 'exceptions:\n' + WAIVER)])
    covered, other = exposed('gpu-1'), exposed('cpu-1')
    findings = policy.evaluate(packs, [covered, other], today='2026-12-31')[0]
    by_asset = dict((f['asset_id'], f) for f in findings)
    assert by_asset[covered['id']]['waived'] is True and by_asset[other['id']]['waived'] is False
    assert by_asset[covered['id']]['waiver'] == {'owner': 'ml-platform', 'reason': 'Behind the cluster ingress with mTLS',
                                                 'expires': '2026-12-31', 'expired': False,
                                                 'source': packs[0]['path'] + '#exceptions[0]'}
    for finding in findings:
        validate(finding, 'finding.v1.json')
    summary = policy.summarize(findings, [covered, other], 'high')
    assert summary['findings'] == 1 and summary['waived'] == 1 and summary['threshold_exceeded'] is True

    later = policy.evaluate(packs, [covered], today='2027-01-01')[0][0]
    assert later['waived'] is False and later['waiver']['expired'] is True
    assert policy.summarize([later], [covered], 'high')['threshold_exceeded'] is True


def test_waived_findings_do_not_trip_fail_on(tmp_path):
    packs = policy.load_packs([write(tmp_path, HEADER + RULE + 'exceptions:\n' + WAIVER)])
    findings, results = policy.evaluate(packs, [exposed()], today='2026-01-01')
    assert policy.summarize(findings, [1], 'info')['threshold_exceeded'] is False
    assert results[0]['failed'] == 1 and results[0]['waived'] == 1


def test_exceptions_file_and_status(tmp_path):
    packs = policy.load_packs([write(tmp_path, HEADER + RULE)])
    path = write(tmp_path, 'schema_version: 1\nexceptions:\n' + WAIVER + WAIVER.replace('2026-12-31', '2020-01-01'),
                 'exceptions.yml')
    waivers = policy.load_waivers(packs, [path])
    findings = policy.evaluate(packs, [exposed()], waivers, today='2026-06-01')[0]
    assert findings[0]['waived'] is True  # the active waiver wins over the expired one
    from ansible_collections.aigov.core.plugins.module_utils.policy import waivers as waiver_rules
    assert [(w['status'], w['findings']) for w in waiver_rules.status(waivers, findings, '2026-06-01')] == [
        ('active', 1), ('expired', 0)]


@pytest.mark.parametrize('mutation, message', [
    (('expires: 2026-12-31', 'expires: next year'), "expires must be an ISO date (YYYY-MM-DD), got 'next year'"),
    (('owner: ml-platform', 'owner: ""'), 'owner must be a non-empty string'),
    (('assets: [{host: "gpu-*", name: vllm}]', 'assets: [{hostname: gpu-1}]'), "unknown selector key 'hostname'"),
    (('assets: [{host: "gpu-*", name: vllm}]', 'assets: []'), 'assets must be a non-empty list of selectors'),
    (('reason: Behind', 'why: Behind'), "unknown key 'why'"),
])
def test_broken_waiver_names_file_index_and_problem(tmp_path, mutation, message):
    path = write(tmp_path, 'schema_version: 1\nexceptions:\n' + WAIVER.replace(*mutation), 'exceptions.yml')
    with pytest.raises(DataFileError) as caught:
        policy.load_waivers([], [path])
    assert path in str(caught.value) and 'exceptions[0] (rule TEST-MS-001)' in str(caught.value)
    assert message in str(caught.value)


def test_waiver_of_an_unknown_rule_is_refused(tmp_path):
    packs = policy.load_packs([write(tmp_path, HEADER + RULE)])
    path = write(tmp_path, 'schema_version: 1\nexceptions:\n' + WAIVER.replace('TEST-MS-001', 'TEST-MS-999'), 'x.yml')
    with pytest.raises(DataFileError, match=r'exceptions\[0\] \(rule TEST-MS-999\): no loaded policy pack defines this rule'):
        policy.load_waivers(packs, [path])
    with pytest.raises(DataFileError, match='no loaded policy pack defines this rule'):
        policy.load_packs([write(tmp_path, HEADER + RULE + 'exceptions:\n' + WAIVER.replace('TEST-MS-001', 'TEST-X-1'))])


PARAM_RULE = RULE.replace("attributes.auth == 'configured'", "attributes.uid != param('forbidden_uid')")


def test_parameters_default_and_override(tmp_path):
    path = write(tmp_path, HEADER + 'parameters: {forbidden_uid: 0}\n' + PARAM_RULE)
    root, user = pa.server(uid=0), pa.server(uid=1000)
    assert [f['asset_id'] for f in policy.evaluate(policy.load_packs([path]), [root, user])[0]] == [root['id']]
    overridden = policy.load_packs([path], {'forbidden_uid': 1000})
    assert overridden[0]['parameters'] == {'forbidden_uid': 1000}
    assert [f['asset_id'] for f in policy.evaluate(overridden, [root, user])[0]] == [user['id']]


@pytest.mark.parametrize('parameters, message', [
    ({'nope': 1}, 'parameters.nope: no loaded policy pack declares this parameter'),
    ({'forbidden_uid': 'zero'}, "parameters.forbidden_uid must be a int like the default of pack t (0), got 'zero'"),
    ({'forbidden_uid': True}, 'parameters.forbidden_uid must be a int'),
])
def test_bad_parameter_override_is_refused(tmp_path, parameters, message):
    path = write(tmp_path, HEADER + 'parameters: {forbidden_uid: 0}\n' + PARAM_RULE)
    with pytest.raises(AigovError) as caught:
        policy.load_packs([path], parameters)
    assert message in str(caught.value)


@pytest.mark.parametrize('condition, message', [
    ("attributes.uid != param('undeclared')", "uses param('undeclared'), which the pack does not declare"),
    ("version_gt(attributes.version, '1')", 'calls unknown function version_gt()'),
    ("version_lt(attributes.version)", 'calls version_lt() with 1 argument(s), expected 2'),
    ("param(attributes.name)", 'param() takes a literal name'),
    ("attributes.version != null", 'uses a field named null; write the literal as `null` (in backticks)'),
])
def test_bad_function_calls_fail_at_load(tmp_path, condition, message):
    path = write(tmp_path, HEADER + RULE.replace("attributes.auth == 'configured'", condition))
    with pytest.raises(DataFileError) as caught:
        policy.load_packs([path])
    assert 'rules[0] (id TEST-MS-001): condition' in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize('version, bound, expected', [
    ('0.1.33', '0.1.34', True), ('0.1.34', '0.1.34', False), ('0.1.4', '0.1.34', True), ('v0.10.0', '0.11.0', True),
    ('0.11', '0.11.0', False), ('0.11.0rc1', '0.11.0', True), ('0.11.0.post1', '0.11.0', False),
    ('0.7.0.dev3+cu124', '0.7.0', True), ('0.6.6.post1', '0.7.0', True), ('2.17.0', '2.9.2', False),
    (None, '1.0', False), ('unknown', '1.0', False), ('1.0', 'garbage', False),
])
def test_version_lt(version, bound, expected):
    assert policy_functions.version_lt(version, bound) is expected


def test_functions_inside_jmespath():
    interpreter = policy_functions.interpreter({'limit': 2})
    expression = "version_lt(v, '1.2') && has_flag(argv, ['--tools', '--props']) && n <= param('limit')"
    parsed = jmespath.compile(expression).parsed
    assert interpreter.visit(parsed, {'v': '1.1.9', 'argv': ['srv', '--props=1'], 'n': 2}) is True
    assert interpreter.visit(parsed, {'v': '1.1.9', 'argv': ['srv', '--tool'], 'n': 2}) is False
    assert interpreter.visit(jmespath.compile('!version_lt(v, `"1"`)').parsed, {}) is True  # null-safe


@pytest.mark.parametrize('expression, kinds', [
    ("kind == 'model_server'", {'model_server'}),
    ("kind == 'model_server' && attributes.exposed", {'model_server'}),
    ("'vector_db' == kind || kind == 'model_server'", {'vector_db', 'model_server'}),
    ("contains(['agent', 'mcp_server'], kind)", {'agent', 'mcp_server'}),
    ("kind == 'agent' || attributes.exposed", None),
    ("kind != 'gpu'", None),
    ("registry.risk_tier == 'high'", None),
])
def test_kind_prefilter_reads_only_what_is_certain(expression, kinds):
    found = policy_functions.applies_to_kinds(jmespath.compile(expression))
    assert (set(found) if found is not None else None) == kinds


def test_fleet_context():
    shared = 'hmac-sha256:00000000000000aa'
    estate = [pa.credential(fingerprint=shared, host='a', location='agent-1'),
              pa.credential(fingerprint=shared, host='a', source='env_file'),
              pa.credential(fingerprint=shared, host='b', location='agent-1'),
              pa.credential(fingerprint='hmac-sha256:00000000000000bb', host='c'),
              pa.model_file(sha256='a' * 64, host='a'), pa.model_file(sha256='b' * 64, host='b'),
              pa.model_file(sha256='c' * 64, host='b', registry=pa.registry_match()),
              pa.server(version='0.7.0', host='a'), pa.gpu()]
    fleet.annotate(estate)
    assert [asset['fleet'] for asset in estate] == [
        {'credential_hosts': 2, 'credential_consumers': 2}, {'credential_hosts': 2, 'credential_consumers': 2},
        {'credential_hosts': 2, 'credential_consumers': 2}, {'credential_hosts': 1, 'credential_consumers': 1},
        {'digest_variants': 2}, {'digest_variants': 2}, {'digest_variants': 1}, {'version_variants': 1}, {}]
    for asset in estate:
        validate(asset, 'asset.v1.json')


def test_ordering_a_string_against_a_number_names_the_rule_and_asset(tmp_path):
    path = write(tmp_path, HEADER + RULE.replace("attributes.auth == 'configured'", 'attributes.version < `1`'))
    server = pa.server(version='0.7.0')
    with pytest.raises(AigovError, match='rule TEST-MS-001: condition failed on asset %s' % server['id']):
        policy.evaluate(policy.load_packs([path]), [server])


IMAGE_RULE = RULE.replace("applies_to: \"kind == 'model_server'\"",
                          "applies_to: \"kind == 'model_server' && attributes.container.image != `null`\"").replace(
    "condition: \"attributes.auth == 'configured'\"",
    "condition: \"starts_with_any(attributes.container.image, param('approved_registries'))\"")


def test_a_rule_flags_images_not_from_the_approved_registries(tmp_path):
    pack = policy.load_packs([write(tmp_path, HEADER + 'parameters: {approved_registries: [registry.example.com/, nvcr.io/]}\n'
                                    + IMAGE_RULE)])
    servers = [pa.server(port=port) for port in (1, 2, 3)]
    for server, image in zip(servers, ('registry.example.com/vllm:1', 'docker.io/vllm/vllm-openai:v0.6.3', None)):
        if image:
            server['attributes']['container'] = {'image': image}
    assert [finding['asset_id'] for finding in policy.evaluate(pack, servers)[0]] == [servers[1]['id']]


@pytest.mark.parametrize('text, prefixes, expected', [
    ('registry.example.com/x', ['docker.io/', 'registry.example.com/'], True), ('x', 'x', True),
    ('docker.io/x', ['registry.example.com/'], False), (None, ['x'], False), ('x', [], False), ('x', ['', None], False)])
def test_starts_with_any(text, prefixes, expected):
    assert policy_functions.starts_with_any(text, prefixes) is expected
