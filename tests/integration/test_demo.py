"""The first run a new user makes: `make demo` (hack/demo.sh) over localhost and the demo
estate (examples/demo-estate), its summary, and its HTML report as headless Chromium shows it.

localhost is this machine, whatever runs on it: what is checked of it is only that it was
scanned and counted. The demo estate is files in the checkout, so its findings are exact.
"""

import glob
import hashlib
import json
import os
import re
import subprocess
import zipfile

import pytest
import yaml

from tests.chromium import chromium, png_info, png_rows
from tests.conftest import ROOT
from tests.contracts import validate

ESTATE = os.path.join(ROOT, 'examples', 'demo-estate')
MODEL_WHEELS = os.path.join(ROOT, '.cache', 'model-wheels')
CRITICAL = (0x7b, 0x1f, 0xa2)  # report_chart.SEVERITY_COLOURS['critical']: the headline card


def fake_values():
    """Every value in the demo's .env and MCP config that the scan must show by fingerprint only."""
    with open(os.path.join(ESTATE, 'home', 'dev', '.env'), encoding='utf-8') as handle:
        values = re.findall(r'^[A-Z_]+=(.+)$', handle.read(), re.M)
    with open(os.path.join(ESTATE, 'home', 'dev', '.cursor', 'mcp.json'), encoding='utf-8') as handle:
        servers = json.load(handle)['mcpServers']
    values += [value for server in servers.values() for value in (server.get('env') or {}).values()]
    assert len(values) == 5
    return values


@pytest.fixture(scope='module')
def demo(ansible_env, tmp_path_factory):
    """hack/demo.sh exactly as `make demo` runs it, into a report folder of the test's."""
    reports = tmp_path_factory.mktemp('demo') / 'reports'
    proc = subprocess.run([os.path.join(ROOT, 'hack', 'demo.sh'), str(reports)], env=ansible_env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    with open(str(reports / 'compliance-report.json'), encoding='utf-8') as handle:
        report = json.load(handle)
    return proc, reports, report


def estate_findings(report):
    return sorted((f['rule_id'], f['asset_name'], f['waived']) for f in report['findings']
                  if f['inventory_hostname'] == 'demo-estate' and f['rule_id'] != 'AIGOV-CR-001')


def test_demo_estate_findings_are_exactly_what_its_files_show(demo):
    _proc, reports, report = demo
    validate(report, 'compliance-report.v1.json')
    assert report['scope']['hosts_scanned'] == ['localhost', 'demo-estate']
    credentials = ['anthropic', 'huggingface', 'mcp:github', 'openai', 'openai']
    assert estate_findings(report) == sorted(
        [('AIGOV-MA-001', 'sentiment-classifier.pkl', False), ('AIGOV-MA-002', 'zfnet512.onnx', False),
         ('AIGOV-MC-001', 'github', False), ('AIGOV-MC-001', 'research', False),
         ('AIGOV-GV-001', 'github', False), ('AIGOV-GV-001', 'research', False)]
        + [('AIGOV-CR-002', name, name == 'huggingface') for name in credentials])
    # CR-001 follows the files' mode as the checkout made them (umask): checked against the files themselves.
    readable = [f for f in report['findings'] if f['rule_id'] == 'AIGOV-CR-001' and f['inventory_hostname'] == 'demo-estate']
    env_mode = os.stat(os.path.join(ESTATE, 'home', 'dev', '.env')).st_mode
    assert len([f for f in readable if f['asset_name'] in ('anthropic', 'huggingface')]) == (2 if env_mode & 0o004 else 0)
    estate = dict((a['name'], a) for a in report['assets'] if a['inventory_hostname'] == 'demo-estate')
    assert estate['alexnet.onnx']['registry']['model_approved'] is True  # registered by digest: no finding
    assert not [f for f in report['findings'] if f['asset_name'] == 'alexnet.onnx']
    assert estate['filesystem']['registry']['registered'] is True and estate['filesystem']['attributes']['client'] == 'cursor'
    assert sorted(f['severity'] for f in report['findings'] if f['inventory_hostname'] == 'demo-estate')[0] == 'critical'
    # Nothing written for the estate outside the checkout: its digests are cached next to the reports.
    assert (reports / '.demo-estate-hashes.json').is_file()


def test_demo_models_are_the_onnx_packages_files_and_the_registry_names_the_digest():
    wheels = glob.glob(os.path.join(MODEL_WHEELS, 'onnx-*.whl'))
    assert wheels, 'the onnx wheel is missing from %s: run make test (it downloads hack/requirements/model-wheels.txt)' % MODEL_WHEELS
    with zipfile.ZipFile(wheels[0]) as wheel:
        for name, member in (('alexnet.onnx', 'light_bvlc_alexnet.onnx'), ('zfnet512.onnx', 'light_zfnet512.onnx')):
            with open(os.path.join(ESTATE, 'models', name), 'rb') as handle:
                assert handle.read() == wheel.read('onnx/backend/test/data/light/' + member), name
    with open(os.path.join(ESTATE, 'registry.yml'), encoding='utf-8') as handle:
        registry = yaml.safe_load(handle)
    [use_case] = [u for u in registry['use_cases'] if u['id'] == 'demo-image-classification']
    with open(os.path.join(ESTATE, 'models', 'alexnet.onnx'), 'rb') as handle:
        assert [m['sha256'] for m in use_case['approved_models']] == [hashlib.sha256(handle.read()).hexdigest()]


def test_summary_tells_a_new_user_what_was_found_and_what_to_do_next(demo):
    proc, reports, report = demo
    summary = proc.stdout[proc.stdout.index('aigov.core compliance scan, '):]
    open_findings = [f for f in report['findings'] if not f['waived']]
    by_severity = [(s, sum(f['severity'] == s for f in open_findings)) for s in ('critical', 'high', 'medium', 'low', 'info')]
    counts = ', '.join('%s %d' % (s, n) for s, n in by_severity if n)
    assert '  findings: %d (%s), waived: 1\n' % (len(open_findings), counts) in summary
    assert '[critical] AIGOV-MA-001 Model file runs code when it is loaded: demo-estate:%s/models/sentiment-classifier.pkl' \
        % ESTATE in summary
    assert 'how to fix the first: Move the file out of the serving path' in summary
    shadow = summary[summary.index('  shadow AI'):summary.index('  frameworks the open findings map to:')]
    assert 'mcp_server github: demo-estate:' in shadow and 'mcp_server research: demo-estate:' in shadow
    assert 'filesystem' not in shadow  # registered
    for framework in ('owasp-llm-2025', 'nist-ai-rmf', 'eu-ai-act', 'owasp-agentic-2026'):
        assert re.search(r'\n    %s +critical|\n    %s +high' % (framework, framework), summary), framework
    assert 'waived: AIGOV-CR-002 on huggingface (demo-estate): waived by security-office until 2099-12-31' in summary
    # The waiver example is for the least severe open finding, never the critical pickle.
    rank = dict((s, i) for i, s in enumerate(('critical', 'high', 'medium', 'low', 'info')))
    least = max(open_findings, key=lambda f: (rank[f['severity']], f['rule_id'], f['inventory_hostname'], f['asset_id']))
    assert least['severity'] != 'critical'
    assert '      - rule: %s\n        assets: [{inventory_hostname: "%s", name: "%s", id: "%s"}]\n        owner: <who accepts the risk>' % (
        least['rule_id'], least['inventory_hostname'], least['asset_name'], least['asset_id']) in summary
    assert summary.rstrip().endswith('make scan INVENTORY=path/to/inventory.yml')
    assert 'file://%s' % (reports / 'compliance-report.html') in summary


def test_no_fake_key_in_any_output_or_report(demo):
    proc, reports, report = demo
    texts = [proc.stdout, proc.stderr]
    for name in os.listdir(str(reports)):
        with open(str(reports / name), encoding='utf-8', errors='replace') as handle:
            texts.append(handle.read())
    for value in fake_values():
        assert not [text for text in texts if value in text], value
    # What is shown instead: a fingerprint, the same for the key copied into the .env and the MCP config.
    keys = [a['attributes'] for a in report['assets'] if a['kind'] == 'credential' and a['inventory_hostname'] == 'demo-estate']
    assert len(keys) == 5 and all(re.match(r'^hmac-sha256:[0-9a-f]{16,}$', key['fingerprint']) for key in keys)
    openai = [key for key in keys if key['provider'] == 'openai']
    assert sorted(key['source'] for key in openai) == ['env_file', 'mcp_config'] and len({key['fingerprint'] for key in openai}) == 1


def cards(dom):
    """The headline counts as rendered: {label: number} of the severity cards."""
    section = dom[dom.index('<section id="summary">'):]
    section = section[:section.index('</section>')]
    return dict((label, int(number)) for number, label in re.findall(r'<div class="n">(\d+)</div>([a-z]+)</div>', section))


def test_html_report_shows_a_person_the_counts_the_fix_shadow_ai_and_how_to_waive(demo, tmp_path):
    _proc, reports, report = demo
    page = 'file://%s' % (reports / 'compliance-report.html')
    proc = chromium(tmp_path, '--dump-dom', page)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout.decode('utf-8')
    open_findings = [f for f in report['findings'] if not f['waived']]
    expected = dict((s, sum(f['severity'] == s for f in open_findings)) for s in ('critical', 'high', 'medium', 'low', 'info'))
    expected['waived'] = 1
    assert cards(dom) == expected and expected['critical'] >= 1 and expected['high'] >= 1 and expected['medium'] >= 1
    assert '%d host(s) scanned' % 2 in dom and 'NOT COMPLIANT' in dom
    table = dom[dom.index('id="findings-table"'):]
    table = table[:table.index('</table>')]
    assert table.count('<tr class="finding') == len(report['findings'])
    [pickle_row] = [row for row in table.split('<tr class="finding')[1:] if 'sentiment-classifier.pkl' in row]
    assert 'AIGOV-MA-001' in pickle_row and 'Move the file out of the serving path' in pickle_row
    assert 'executes_code_on_load: true' in pickle_row
    shadow = dom[dom.index('<section id="shadow">'):dom.index('<section id="findings">')]
    assert '>github<' in shadow and '>research<' in shadow and '>filesystem<' not in shadow
    frameworks = dom[dom.index('<section id="frameworks">'):dom.index('<section id="coverage">')]
    assert 'OWASP Top 10 for LLM Applications' in frameworks and 'LLM03:2025 Supply Chain' in frameworks
    waive = dom[dom.index('<section id="waive">'):]
    assert '1 finding(s) of this scan are waived' in waive and '- rule: AIGOV-' in waive and '- rule: AIGOV-MA-001' not in waive

    shot = tmp_path / 'demo-report.png'
    proc = chromium(tmp_path, '--screenshot=%s' % shot, '--window-size=1280,1600', page)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    data = shot.read_bytes()
    width, height, distinct_rows = png_info(data)
    assert (width, height) == (1280, 1600) and 20000 < len(data) < 5000000
    assert distinct_rows > 300, 'the screenshot looks blank (%d distinct rows)' % distinct_rows
    # The headline cards are on screen without scrolling: the critical card's colour fills a block near the top.
    top = png_rows(data, 400)
    assert sum(row.count(CRITICAL) for row in top) > 5000, 'no critical card in the first 400 rows'
    keep = os.environ.get('AIGOV_SCREENSHOT_DIR')
    if keep:
        with open(os.path.join(keep, 'demo-report.png'), 'wb') as handle:
            handle.write(data)


def test_make_scan_is_the_next_step_and_refuses_no_inventory():
    """The one command the summary names exists: without INVENTORY it says how to use it."""
    proc = subprocess.run(['make', '-s', '-C', ROOT, 'scan'], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and 'usage: make scan INVENTORY=path/to/inventory.yml' in proc.stderr
