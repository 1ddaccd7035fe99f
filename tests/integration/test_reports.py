"""The scan's reports on the real fleet: two real compliance_scan runs into one
directory, every format read by a real consumer (jsonschema with the official
SARIF schema, junitparser, headless Chromium), no planted secret anywhere."""

import json
import os
import pickle
import shutil

import junitparser
import pytest

from tests.chromium import chromium, png_info
from tests.conftest import ROOT
from tests.contracts import sarif_errors, validate
from tests.hosts import testhosts
from tests.integration.conftest import PLANTED_SECRETS

# A model file name as an attacker who can write to /srv/models could choose it.
HOSTILE = '<img src=x onerror=alert(1)>.pkl'
POISONED = '/srv/models/' + HOSTILE
ENV_FILE = '/srv/agent/.env'
PACK = os.path.join(ROOT, 'tests', 'fixtures', 'reports', 'pack.yml')
FILES = ['compliance-history.jsonl', 'compliance-report.html', 'compliance-report.json', 'compliance-report.junit.xml',
         'compliance-report.sarif', 'framework-coverage.json']


class RunsCommand(object):
    """Pickles to a call of os.system (never unpickled: discovery reads the opcodes)."""

    def __reduce__(self):
        return (os.system, ('touch /tmp/pwned-by-model',))


@pytest.fixture(scope='module')
def reports(ansible, fleet, tmp_path_factory):
    """Plant a poisoned pickle with a hostile name and a world-readable .env on the exposed host, scan twice."""
    work = tmp_path_factory.mktemp('reports')
    local = work / 'poisoned.pkl'
    local.write_bytes(pickle.dumps({'hook': RunsCommand()}, protocol=4))
    host = fleet.exposed
    testhosts.run_in(host, ['mkdir', '-p', '/srv/models', '/srv/agent'])
    testhosts.copy_into(host, local, POISONED)
    testhosts.run_in(host, ['sh', '-c', 'umask 022 && printf "OPENAI_API_KEY=%s\\n" > %s' % (PLANTED_SECRETS[0], ENV_FILE)])
    report_dir = work / 'out'
    runs = []
    try:
        for scan in range(2):
            # The frozen five-rule pack: these tests are about the reports, not about what the baseline flags.
            # The second scan asks for the coverage matrix on the terminal.
            proc = ansible.playbook('-i', fleet.inventory, 'aigov.core.compliance_scan', '-e', 'aigov_scan_hosts=testhosts',
                                    '-e', 'aigov_report_dir=%s' % report_dir, '-e', json.dumps({'aigov_policy_packs': [PACK]}),
                                    '-e', 'aigov_print_coverage=%s' % ('true' if scan else 'false'))
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
            runs.append(proc)
        yield report_dir, runs
    finally:
        # The fleet is shared: leave it as the other tests expect it.
        testhosts.run_in(host, ['rm', '-rf', POISONED, '/srv/agent'])


def read(report_dir, name):
    with open(str(report_dir / name), encoding='utf-8') as handle:
        return handle.read()


def test_every_format_and_the_history_are_written_and_listed(reports):
    report_dir, runs = reports
    assert sorted(name for name in os.listdir(str(report_dir)) if not name.startswith('.')) == FILES
    for name in FILES:
        assert str(report_dir / name) in runs[-1].stdout, name  # the playbook prints where everything went


def test_second_scan_makes_a_two_point_trend(reports):
    report_dir, _runs = reports
    history = [json.loads(line) for line in read(report_dir, 'compliance-history.jsonl').splitlines()]
    assert len(history) == 2 and history[0]['generated_at'] <= history[1]['generated_at']
    for record in history:
        validate(record, 'compliance-history.v1.json')
    report = json.loads(read(report_dir, 'compliance-report.json'))
    validate(report, 'compliance-report.v1.json')
    assert report['trend'] == history
    assert history[1]['by_severity'] == report['summary']['by_severity']
    assert 'Trend over the last 2 scan(s)' in read(report_dir, 'compliance-report.html')


def findings_by_rule(report_dir):
    report = json.loads(read(report_dir, 'compliance-report.json'))
    return dict((f['rule_id'], f) for f in report['findings']), report


def test_planted_violations_are_in_the_json_report(reports, fleet):
    found, report = findings_by_rule(reports[0])
    assert sorted(found) == ['AIGOV-CR-001', 'AIGOV-MA-001', 'AIGOV-MS-001']
    assert found['AIGOV-MA-001']['asset_name'] == HOSTILE
    assert all(f['inventory_hostname'] == fleet.exposed.name for f in found.values())


def test_sarif_validates_and_points_at_files_and_servers(reports, fleet):
    log = json.loads(read(reports[0], 'compliance-report.sarif'))
    assert sarif_errors(log) == []
    results = dict((r['ruleId'], r) for r in log['runs'][0]['results'])
    assert sorted(results) == ['AIGOV-CR-001', 'AIGOV-MA-001', 'AIGOV-MS-001']
    host = fleet.exposed.name
    pickle_uri = results['AIGOV-MA-001']['locations'][0]['physicalLocation']['artifactLocation']['uri']
    assert pickle_uri == 'file://%s/srv/models/%%3Cimg%%20src%%3Dx%%20onerror%%3Dalert%%281%%29%%3E.pkl' % host
    env_uri = results['AIGOV-CR-001']['locations'][0]['physicalLocation']['artifactLocation']['uri']
    assert env_uri == 'file://%s%s' % (host, ENV_FILE)
    [server] = results['AIGOV-MS-001']['locations'][0]['logicalLocations']
    assert server['fullyQualifiedName'] == '%s/vllm/0.0.0.0:8000' % host
    found, _report = findings_by_rule(reports[0])
    assert dict((rule, r['partialFingerprints']['aigovFindingId/v1']) for rule, r in results.items()) == \
        dict((rule, f['id']) for rule, f in found.items())


def test_junit_parses_and_counts_match(reports, fleet):
    report_dir = reports[0]
    xml = junitparser.JUnitXml.fromfile(str(report_dir / 'compliance-report.junit.xml'))
    _found, report = findings_by_rule(report_dir)
    applied = sum(rule['applied'] for rule in report['rules'])
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (applied + 2, 3, 0, 0)
    outcomes = {}
    for suite in xml:
        for case in suite:
            outcomes[(suite.name.split(' ')[0], case.name)] = type(case.result[0]).__name__ if case.result else 'passed'
    assert outcomes[('scope', fleet.exposed.name)] == outcomes[('scope', fleet.guarded.name)] == 'passed'
    failed = sorted(key for key, value in outcomes.items() if value == 'Failure')
    assert [rule for rule, _name in failed] == ['AIGOV-CR-001', 'AIGOV-MA-001', 'AIGOV-MS-001']
    passed_servers = [name for (rule, name), value in outcomes.items() if rule == 'AIGOV-MS-001' and value == 'passed']
    assert passed_servers == ['%s: vllm (%s)' % (fleet.guarded.name, a['id']) for a in report['assets']
                              if a['kind'] == 'model_server' and a['inventory_hostname'] == fleet.guarded.name
                              and a['attributes']['exposed']]


def test_html_report_renders_in_headless_chromium(reports, tmp_path):
    page = 'file://%s' % (reports[0] / 'compliance-report.html')
    shot = tmp_path / 'report.png'
    proc = chromium(tmp_path, '--screenshot=%s' % shot, '--window-size=1280,2000', page)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    width, height, distinct_rows = png_info(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    assert distinct_rows > 300, 'the screenshot looks blank (%d distinct rows)' % distinct_rows

    dom = chromium(tmp_path, '--dump-dom', page).stdout.decode('utf-8')
    table = dom[dom.index('id="findings-table"'):]
    assert table.count('<tr class="finding') == 3
    # The hostile file name is text in the rendered DOM, not an element.
    assert '&lt;img src=x onerror=alert(1)&gt;.pkl' in table and '<img' not in dom
    for expected in ('listening on 0.0.0.0:8000', 'Bind the server to 127.0.0.1', '/srv/agent/.env'):
        assert expected in table


def test_coverage_is_printed_on_request_only(reports):
    _report_dir, runs = reports
    assert 'not covered:' not in runs[0].stdout
    out = runs[1].stdout
    assert 'Show the framework coverage matrix' in out
    for line in ('owasp-llm-2025 (OWASP Top 10 for LLM Applications 2025): ', 'nist-csf-2.0 (NIST Cybersecurity Framework 2.0): '):
        assert line in out
    assert 'not covered: ' in out and 'LLM01:2025' in out


def test_coverage_matrix_agrees_with_catalogue_json_and_html(reports, tmp_path):
    report_dir, _runs = reports
    report = json.loads(read(report_dir, 'compliance-report.json'))
    coverage = json.loads(read(report_dir, 'framework-coverage.json'))
    validate(coverage, 'framework-coverage.v1.json')
    assert coverage['frameworks'] == report['coverage']
    catalogues = dict((c['framework'], c) for c in report['frameworks'])
    assert sorted(catalogues) == ['eu-ai-act', 'iso-42001', 'nist-ai-rmf', 'nist-csf-2.0', 'owasp-agentic-2026',
                                  'owasp-llm-2025']
    matrix = dict((entry['framework'], entry) for entry in report['coverage'])
    for key, catalogue in catalogues.items():
        assert [c['id'] for c in matrix[key]['controls']] == [c['id'] for c in catalogue['controls']]
    # "By framework" (controls touched by unwaived findings) only names controls the matrix shows covered.
    for finding in report['findings']:
        for key, references in finding['references'].items():
            for reference in references:
                ident = next(c['id'] for c in matrix[key]['controls'] if reference == c['id'] or reference.startswith(c['id'] + ' '))
                assert finding['rule_id'] in next(c['rules'] for c in matrix[key]['controls'] if c['id'] == ident)

    # What a person sees: the coverage table and, once opened, every control with its rules or "not covered".
    page = 'file://%s' % (report_dir / 'compliance-report.html')
    dom = chromium(tmp_path, '--dump-dom', page).stdout.decode('utf-8')
    section = dom[dom.index('<section id="coverage">'):]
    section = section[:section.index('</section>')]
    for entry in report['coverage']:
        assert '%s %s: %d of %d covered' % (entry['name'], entry['version'], entry['covered'], entry['total']) in section
    assert section.count('<tr class="uncovered">') == sum(e['total'] - e['covered'] for e in report['coverage'])
    assert 'Users, services, and hardware are authenticated' in section  # titles from the catalogue, as published
    frameworks_section = dom[dom.index('<section id="frameworks">'):dom.index('<section id="coverage">')]
    assert 'NIST Cybersecurity Framework 2.0' in frameworks_section

    # A screenshot of the section with one framework opened, kept for people to look at.
    opened = tmp_path / 'coverage.html'
    html = read(report_dir, 'compliance-report.html')
    html = html.replace('<details id="coverage-owasp-llm-2025">', '<details id="coverage-owasp-llm-2025" open>')
    opened.write_text(html, encoding='utf-8')
    shot = tmp_path / 'coverage.png'
    proc = chromium(tmp_path, '--screenshot=%s' % shot, '--window-size=1280,2400', 'file://%s' % opened)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    width, height, distinct_rows = png_info(shot.read_bytes())
    assert (width, height) == (1280, 2400) and distinct_rows > 300
    keep = os.environ.get('AIGOV_SCREENSHOT_DIR')
    if keep:
        shutil.copy(str(shot), os.path.join(keep, 'coverage.png'))


def test_no_planted_secret_in_any_file_or_output(reports):
    report_dir, runs = reports
    texts = [proc.stdout + proc.stderr for proc in runs]
    texts += [read(report_dir, name) for name in FILES]
    for text in texts:
        for secret in PLANTED_SECRETS:
            assert secret not in text, 'a planted secret leaked'
    assert 'hmac-sha256:' in read(report_dir, 'compliance-report.json')  # the .env key is there, by fingerprint only
