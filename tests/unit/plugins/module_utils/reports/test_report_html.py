"""HTML report: self-contained, everything from data escaped, the summaries people read."""

import copy
import html
import html.parser
import re

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.policy import waivers
from ansible_collections.aigov.core.plugins.module_utils.reports import report_chart, report_html, report_view
from ansible_collections.aigov.core.plugins.module_utils.store import registry

from tests.unit.plugins.module_utils import reportdata


class Page(html.parser.HTMLParser):
    """The page as a parser sees it: tags, text, and what would run or be fetched."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.texts, self.scripts, self.fetches, self.ids = [], [], [], [], {}
        self._open = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag in ('script', 'iframe', 'object', 'embed'):
            self.scripts.append(tag)
        for name, value in attrs:
            if name.startswith('on'):
                self.scripts.append(name)
            if name in ('src', 'href', 'action') or (name == 'rel' and value == 'stylesheet'):
                self.fetches.append(value)
        if 'id' in attributes:
            self.ids[attributes['id']] = tag

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self):
        return ' '.join(self.texts)


def page(**kwargs):
    return report_html.render_html(reportdata.document(**kwargs))


def test_self_contained_and_script_free():
    text = page()
    parsed = Page(text)
    assert parsed.scripts == [] and parsed.fetches == []
    assert 'url(' not in text and '@import' not in text
    assert 'content="default-src &#x27;none&#x27;;' in text  # the CSP forbids scripts and fetches even if escaping failed


def test_hostile_asset_name_is_inert_text():
    text = page()
    parsed = Page(text)
    assert '<script>' not in text
    assert '&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt;&amp;amp;' in text
    assert '<script>alert("pwn")</script>&amp;\ufffd[31m\ufffd' in parsed.text  # shown as text, control chars replaced
    assert '\x00' not in text and '\x1b' not in text


def test_waiver_text_is_escaped_too():
    text = page(waive='AIGOV-MA-001')
    assert '<b>segment</b>' not in text and 'isolated lab &lt;b&gt;segment&lt;/b&gt;' in text
    assert 'class="finding waived"' in text


def test_sections_people_read():
    parsed = Page(page())
    for section in ('summary', 'trend', 'frameworks', 'hosts', 'findings', 'sources'):
        assert parsed.ids.get(section) == 'section', section
    assert parsed.ids['findings-table'] == 'table'
    text = parsed.text
    assert 'NOT COMPLIANT' in text and 'INCOMPLETE: 1 host(s) not scanned' in text
    assert 'Scan of 2026-11-24T03:17:02+00:00' in text


def findings_rows(text):
    return re.findall(r'<tr class="finding[^"]*" id="f-([0-9a-f]{16})">', text)


@pytest.mark.parametrize('waive, first_rules', [
    (None, ['AIGOV-MA-001']),  # critical first
    ('AIGOV-MA-001', ['AIGOV-CR-001']),  # a waived finding goes last
])
def test_findings_table_worst_first(waive, first_rules):
    document = reportdata.document(waive=waive)
    text = report_html.render_html(document)
    rows = findings_rows(text)
    assert sorted(rows) == sorted(f['id'] for f in document['findings'])
    first = [f for f in document['findings'] if f['id'] == rows[0]][0]
    assert [first['rule_id']] == first_rules


def test_each_finding_shows_evidence_fix_and_host():
    text = Page(page()).text
    for expected in ('listening on 0.0.0.0:8000', 'Bind the server to 127.0.0.1', 'gpu-1 vllm 0.0.0.0:8000',
                     'file /srv/models/evil model.pt', 'quarantine_model_file', 'edge-1:/home/app/.env'):
        assert expected in text, expected


def test_summaries_by_framework_and_host():
    text = page()
    frameworks = text[text.index('id="frameworks"'):text.index('id="coverage"')]
    assert re.search(r'<td>nist-csf-2.0<div class="small">NIST Cybersecurity Framework 2.0</div></td>'
                     r'<td class="num"></td><td class="num">3</td>', frameworks)
    hosts = text[text.index('id="hosts"'):text.index('id="findings"')]
    assert re.search(r'<td>ghost</td><td><span class="missing">not scanned</span></td><td class="num">0</td>', hosts)
    assert re.search(r'<td>gpu-2</td><td>scanned</td><td class="num">3</td><td class="num"></td><td class="num">1</td>', hosts)
    assert 'cannot read /proc/77/environ: permission denied' in hosts


def history(count):
    base = reportdata.document()['trend'][0]
    records = []
    for index in range(count):
        item = copy.deepcopy(base)
        item['generated_at'] = '2026-10-%02dT03:00:00+00:00' % (index + 1)
        item['by_severity'].update(high=index, critical=0)
        records.append(item)
    return records


def test_trend_chart_has_one_bar_group_per_scan():
    text = page(history=history(3))
    trend = text[text.index('id="trend"'):text.index('id="frameworks"')]
    assert 'Trend over the last 4 scan(s)' in trend
    bars = re.findall(r'<rect [^>]*><title>([^<]*)</title></rect>', trend)
    # scan 1 has no high finding: no bar; the others one high bar each, and this scan also a critical one.
    assert bars == ['2026-10-02T03:00:00+00:00: 1 high', '2026-10-03T03:00:00+00:00: 2 high',
                    '2026-11-24T03:17:02+00:00: 3 high', '2026-11-24T03:17:02+00:00: 1 critical']


def test_trend_table_shows_the_last_scans_newest_first():
    text = page(history=history(30))
    rows = re.findall(r'<tr><td>(2026-[0-9T:+-]+)</td>', text[text.index('id="trend"'):])
    assert len(rows) == report_html.TREND_ROWS
    assert rows[0] == '2026-11-24T03:17:02+00:00' and rows[1] == '2026-10-30T03:00:00+00:00'


@pytest.mark.parametrize('top, expected', [(0, (4, 1)), (3, (4, 1)), (5, (8, 2)), (41, (80, 20)), (90000, (100000, 25000))])
def test_chart_axis_is_round_and_covers_the_data(top, expected):
    assert report_chart._nice_max(top) == expected


def test_no_findings_page():
    text = page(records=[reportdata.server(9, 'gpu-9', 80, 'configured')])
    assert 'No findings.' in text and 'No unwaived finding touches a framework control.' in text


@pytest.mark.parametrize('compliant, complete, shown', [
    (True, True, ['COMPLIANT']),
    (True, False, ['INCOMPLETE']),  # nothing found on the hosts that were scanned is not compliance
    (False, True, ['NOT COMPLIANT']),
    (False, False, ['NOT COMPLIANT', 'INCOMPLETE']),
])
def test_status(compliant, complete, shown):
    document = reportdata.document()
    document['summary'].update(compliant=compliant, complete=complete)
    header = report_html._header(document)
    assert re.findall(r'class="status \w+">([A-Z ]+)', header) == shown


def test_shadow_ai_section_lists_unclaimed_services_only():
    document = reportdata.document()
    document['assets'][1]['registry'] = dict(document['assets'][1]['registry'], registered=True, shadow=False)
    parsed = Page(report_html.render_html(document))
    assert parsed.ids.get('shadow') == 'section'
    text = report_html.render_html(document)
    shadow = text[text.index('<section id="shadow">'):text.index('<section id="findings">')]
    # gpu-1's vllm and the hostile-named server; not gpu-2's registered vllm, not the model files or the key.
    assert 'Shadow AI (2)' in shadow and shadow.count('<tr><td>') == 2
    assert 'gpu-1 vllm 0.0.0.0:8000' in shadow and '8001' not in shadow
    assert '&lt;script&gt;' in shadow and '<script>' not in shadow and '.env' not in shadow and 'evil model' not in shadow


def test_waive_section_gives_a_waiver_the_validator_accepts_and_that_covers_the_least_severe_finding():
    document = reportdata.document(waive='AIGOV-CR-001')
    text = report_html.render_html(document)
    section = text[text.index('<section id="waive">'):]
    assert '1 finding(s) of this scan are waived' in section
    first = [f for f in report_view.sorted_findings(document) if not f['waived']][-1]  # the least severe open one
    assert first['severity'] != 'critical'
    example = report_view.waiver_example(first)
    assert html.escape(example, quote=True) in section
    entry = yaml.safe_load(example.replace('<YYYY-MM-DD, when it is looked at again>', '2099-12-31'))
    problems = []
    [waiver] = waivers.check_waivers(entry, 'example', problems)
    assert problems == [] and waiver['rule'] == first['rule_id']
    asset = report_view.assets_by_id(document)[first['asset_id']]
    assert waivers.find([waiver], asset, '2026-12-06') is waiver
    others = [a for a in document['assets'] if a['id'] != asset['id']]
    assert all(waivers.find([waiver], other, '2026-12-06') is None for other in others)


def test_waiver_example_of_a_name_with_glob_characters_matches_it_alone():
    finding = {'rule_id': 'AIGOV-GV-001', 'inventory_hostname': 'h[1]', 'asset_name': 'a*?', 'asset_id': 'mcp_server:01'}
    [selector] = yaml.safe_load(report_view.waiver_example(finding).replace('<YYYY', 'x'))[0]['assets']
    assert registry.selector_matches(selector, {'inventory_hostname': 'h[1]', 'name': 'a*?', 'id': 'mcp_server:01'})
    assert not registry.selector_matches(selector, {'inventory_hostname': 'h1', 'name': 'a*?', 'id': 'mcp_server:01'})
