"""JUnit report: read back with junitparser, the way CI servers read it."""

import junitparser
import pytest

from ansible_collections.aigov.core.plugins.module_utils.reports import report_junit

from tests.unit.plugins.module_utils import reportdata


def parse(tmp_path, document):
    path = tmp_path / 'report.junit.xml'
    path.write_text(report_junit.render_junit(document), encoding='utf-8')
    return junitparser.JUnitXml.fromfile(str(path))


def outcome(case):
    if not case.result:
        return 'passed'
    return type(case.result[0]).__name__.lower()


def cases(xml):
    return dict(((suite.name.split(' ')[0], case.name), (outcome(case), case)) for suite in xml for case in suite)


def test_one_suite_per_rule_and_a_scope_suite(tmp_path):
    document = reportdata.document()
    xml = parse(tmp_path, document)
    names = [suite.name for suite in xml]
    assert names[0] == 'scope'
    assert [name.split(' ')[0] for name in names[1:]] == sorted(rule['rule_id'] for rule in document['rules'])
    assert names[1:] == ['%s %s' % (r['rule_id'], r['title']) for r in sorted(document['rules'], key=lambda r: r['rule_id'])]


@pytest.mark.parametrize('waive, expected', [
    # (tests, failures, errors, skipped): each rule's applied assets + 4 targeted hosts, one of them missing.
    (None, (10, 4, 1, 0)),
    ('AIGOV-MA-001', (10, 3, 1, 1)),
    ('AIGOV-MS-001', (10, 2, 1, 2)),
])
def test_counts_match_the_report(tmp_path, waive, expected):
    document = reportdata.document(waive=waive)
    xml = parse(tmp_path, document)
    xml.update_statistics()  # recount from the test cases: the totals we wrote must agree
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == expected
    written = parse(tmp_path, document)._elem.attrib
    assert (int(written['tests']), int(written['failures']), int(written['errors']), int(written['skipped'])) == expected
    applied = sum(rule['applied'] for rule in document['rules'])
    assert expected[0] == applied + len(document['scope']['hosts_targeted'])


def test_cases_name_host_and_asset_and_carry_the_outcome(tmp_path):
    found = cases(parse(tmp_path, reportdata.document(waive='AIGOV-MA-001')))
    exposed = found[('AIGOV-MS-001', 'gpu-1: vllm (model_server:0000000000000001)')]
    assert exposed[0] == 'failure'
    assert found[('AIGOV-MS-001', 'gpu-2: vllm (model_server:0000000000000002)')][0] == 'passed'
    assert found[('AIGOV-MA-001', 'gpu-2: ok.pt (model_artifact:0000000000000005)')][0] == 'passed'
    assert found[('scope', 'ghost')][0] == 'error'
    assert found[('scope', 'gpu-1')][0] == 'passed'
    waived = found[('AIGOV-MA-001', 'gpu-1: evil model.pt (model_artifact:0000000000000004)')]
    assert waived[0] == 'skipped'
    assert waived[1].result[0].message == ('waived by ml-platform <lead@corp> until 2027-01-31: '
                                           'isolated lab <b>segment</b>')


def test_failure_says_what_where_why_and_how_to_fix(tmp_path):
    found = cases(parse(tmp_path, reportdata.document()))
    failure = found[('AIGOV-MS-001', 'gpu-1: vllm (model_server:0000000000000001)')][1].result[0]
    assert failure.message == 'Model server reachable from the network without authentication'
    assert failure.type == 'high'
    text = failure.text
    for expected in ('Location: gpu-1 vllm 0.0.0.0:8000', '  - listening on 0.0.0.0:8000', 'auth: none',
                     'Fix: Bind the server to 127.0.0.1', 'remediation bind_loopback', 'Reference nist-csf-2.0: PR.AA-05'):
        assert expected in text
    assert '<redacted>' not in text and 'fingerprint' not in text  # command lines and fingerprints stay out


def test_scope_problems_travel_with_the_host(tmp_path):
    found = cases(parse(tmp_path, reportdata.document()))
    assert found[('scope', 'edge-1')][1].system_out == 'cannot read /proc/77/environ: permission denied'
    assert 'not counted as compliant' in found[('scope', 'ghost')][1].result[0].text


def test_suite_properties_carry_severity_and_frameworks(tmp_path):
    suite = [s for s in parse(tmp_path, reportdata.document()) if s.name.startswith('AIGOV-MS-001')][0]
    properties = dict((p.name, p.value) for p in suite.properties())
    assert properties['severity'] == 'high'
    assert properties['nist-csf-2.0'] == 'PR.AA-05; PR.IR-01'


def test_hostile_names_stay_well_formed_text(tmp_path):
    found = cases(parse(tmp_path, reportdata.document()))
    [name] = [name for suite, name in found if suite == 'AIGOV-MS-001' and 'script' in name]
    assert name.startswith('gpu-2: <script>alert("pwn")</script>&amp;\ufffd[31m\ufffd (')


def test_without_passed_assets_only_findings_are_cases(tmp_path):
    """A check result from before rules listed passed assets still renders (its findings only)."""
    document = reportdata.document()
    for rule in document['rules']:
        del rule['passed_assets']
    xml = parse(tmp_path, document)
    xml.update_statistics()
    assert (xml.tests, xml.failures) == (4 + 4, 4)
