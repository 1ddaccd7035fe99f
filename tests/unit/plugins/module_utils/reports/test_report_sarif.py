"""SARIF report: valid against the official OASIS SARIF 2.1.0 schema, and useful to the tools that read it."""

import json

import pytest

from ansible_collections.aigov.core.plugins.module_utils.reports import report_sarif

from tests.contracts import sarif_errors
from tests.unit.plugins.module_utils import reportdata


def sarif(**kwargs):
    return json.loads(report_sarif.render_sarif(reportdata.document(**kwargs)))


def results_by_asset(log):
    return dict((r['properties']['asset_id'], r) for r in log['runs'][0]['results'])


@pytest.mark.parametrize('kwargs', [
    {},
    {'waive': 'AIGOV-MS-001'},
    {'records': []},  # nothing found: rules still described, no result
    {'records': [reportdata.server(9, 'gpu-9', 80, 'configured')]},  # everything passes
])
def test_validates_against_the_sarif_2_1_0_schema(kwargs):
    log = sarif(**kwargs)
    assert sarif_errors(log) == []
    assert log['version'] == '2.1.0' and len(log['runs']) == 1


def test_schema_check_can_fail():
    log = sarif()
    log['runs'][0]['results'][0]['level'] = 'critical'
    del log['runs'][0]['tool']['driver']['name']
    assert len(sarif_errors(log)) == 2


def test_rules_describe_every_evaluated_rule():
    log = sarif()
    rules = log['runs'][0]['tool']['driver']['rules']
    assert [r['id'] for r in rules] == ['AIGOV-CR-001', 'AIGOV-MA-001', 'AIGOV-MA-002', 'AIGOV-MS-001', 'AIGOV-VD-001']
    ms = rules[3]
    assert ms['name'] == 'ModelServerReachableFromTheNetworkWithoutAuthentication'
    assert ms['shortDescription']['text'] == 'Model server reachable from the network without authentication'
    assert 'listens on a non-loopback address' in ms['fullDescription']['text']
    assert ms['help']['text'].startswith('Fix: Bind the server to 127.0.0.1')
    assert '- nist-csf-2.0: PR.AA-05; PR.IR-01' in ms['help']['markdown']
    assert ms['defaultConfiguration'] == {'level': 'error'}
    props = ms['properties']
    assert props['severity'] == 'high' and props['security-severity'] == '8.0'
    assert props['frameworks']['owasp-llm-2025'][0].startswith('LLM10:2025')
    assert 'owasp-llm-2025' in props['tags'] and 'security' in props['tags']
    assert props['remediation'] == {'id': 'bind_loopback', 'automatable': True, 'disruptive': True}


@pytest.mark.parametrize('severity, level, score', [
    ('critical', 'error', '9.5'), ('high', 'error', '8.0'), ('medium', 'warning', '5.5'), ('low', 'note', '3.0'),
    ('info', 'note', None),
])
def test_levels_and_security_severity(severity, level, score):
    rule = {'rule_id': 'T-1', 'title': 't', 'severity': severity, 'references': {}}
    descriptor = report_sarif._descriptor(rule)
    assert descriptor['defaultConfiguration']['level'] == level
    assert descriptor['properties'].get('security-severity') == score


def test_results_point_at_files_and_servers():
    log = sarif()
    run = log['runs'][0]
    found = results_by_asset(log)
    evil = found['model_artifact:0000000000000004']
    assert evil['ruleId'] == 'AIGOV-MA-001' and evil['level'] == 'error'
    assert run['tool']['driver']['rules'][evil['ruleIndex']]['id'] == 'AIGOV-MA-001'
    [location] = evil['locations']
    assert location['physicalLocation']['artifactLocation'] == {'uri': 'file://gpu-1/srv/models/evil%20model.pt'}
    assert location['logicalLocations'] == [{'name': 'gpu-1', 'kind': 'host'}]
    cred = found['credential:0000000000000006']['locations'][0]
    assert cred['physicalLocation']['artifactLocation']['uri'] == 'file://edge-1/home/app/.env'
    server = found['model_server:0000000000000001']['locations'][0]
    assert server['logicalLocations'] == [{'name': '0.0.0.0:8000', 'kind': 'service',
                                           'fullyQualifiedName': 'gpu-1/vllm/0.0.0.0:8000'}]
    artifact = server['physicalLocation']['artifactLocation']
    assert artifact['uri'] == 'gpu-1/model_server/vllm' and artifact['uriBaseId'] == 'AIGOV_ESTATE'
    assert 'AIGOV_ESTATE' in run['originalUriBaseIds']


def test_results_are_fingerprinted_by_finding_id():
    document = reportdata.document()
    log = json.loads(report_sarif.render_sarif(document))
    fingerprints = sorted(r['partialFingerprints']['aigovFindingId/v1'] for r in log['runs'][0]['results'])
    assert fingerprints == sorted(f['id'] for f in document['findings'])


def test_message_has_the_evidence():
    text = results_by_asset(sarif())['model_server:0000000000000001']['message']['text']
    assert text.startswith('Model server reachable from the network without authentication: gpu-1 vllm 0.0.0.0:8000.')
    assert 'listening on 0.0.0.0:8000' in text and 'auth: none' in text


def test_waived_findings_are_suppressed_the_others_are_not():
    found = results_by_asset(sarif(waive='AIGOV-MS-001'))
    [suppression] = found['model_server:0000000000000001']['suppressions']
    assert suppression['kind'] == 'external' and suppression['status'] == 'accepted'
    assert suppression['justification'] == 'waived by ml-platform <lead@corp> until 2027-01-31: isolated lab <b>segment</b>'
    assert suppression['properties'] == {'owner': 'ml-platform <lead@corp>', 'reason': 'isolated lab <b>segment</b>',
                                         'expires': '2027-01-31'}
    assert found['credential:0000000000000006']['suppressions'] == []


def test_missing_hosts_are_notifications_not_silence():
    invocation = sarif()['runs'][0]['invocations'][0]
    [note] = invocation['toolExecutionNotifications']
    assert note['level'] == 'error' and 'host ghost was not scanned' in note['message']['text']
    assert invocation['properties']['complete'] is False


def test_no_fingerprints_or_command_lines():
    text = report_sarif.render_sarif(reportdata.document())
    for leak in ('hmac-sha256', 'redacted', '/usr/bin/python3'):  # fingerprint, command line, executable
        assert leak not in text
