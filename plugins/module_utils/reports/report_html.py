# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance report as one self-contained HTML page for people.

Inline CSS and SVG only: no script, no fetch, so the page opens from a mail
attachment or an artifact store as it is. Everything that comes from data
(asset names and evidence come from the scanned hosts) goes through
html.escape, and a Content-Security-Policy forbids scripts as a second wall.
"""

from __future__ import annotations

from html import escape

from ansible_collections.aigov.core.plugins.module_utils.reports import report_view
from ansible_collections.aigov.core.plugins.module_utils.reports.report_chart import SEVERITY_COLOURS, trend_svg

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
TREND_ROWS = 10  # the table under the chart: the last scans, newest first

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header .meta{opacity:.85}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e1e4e8;border-radius:6px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #eceef1}
th{background:#f0f2f5;font-weight:600}td.num,th.num{text-align:right}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{flex:1;min-width:110px;border-radius:6px;padding:10px 14px;color:#fff}
.card .n{font-size:26px;font-weight:700}.status{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600}
.ok{background:#2e7d32;color:#fff}.bad{background:#c62828;color:#fff}.warn{background:#ef6c00;color:#fff}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;white-space:nowrap}
ul.ev{margin:0;padding-left:16px}code{font-size:12px;background:#f0f2f5;padding:0 3px;border-radius:3px}
table.findings{table-layout:fixed}table.findings td{overflow-wrap:anywhere}tr.waived td{color:#777}
.small{font-size:12px;color:#555}.missing{color:#c62828;font-weight:600}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}tr.uncovered td{color:#8a1c1c}
pre{background:#f0f2f5;padding:8px 10px;border-radius:4px;overflow-x:auto}
.bar{display:inline-block;height:10px;background:#2e7d32;vertical-align:middle}
.barbg{display:inline-block;width:120px;height:10px;background:#e1e4e8;vertical-align:middle}
"""


def _e(value):
    return escape(report_view.printable('' if value is None else '%s' % value), quote=True)


def _colour(severity):
    return dict(SEVERITY_COLOURS).get(severity, '#607d8b')


def _badge(severity):
    return '<span class="sev" style="background:%s">%s</span>' % (_colour(severity), _e(severity))


def _header(report):
    summary, scope = report.get('summary', {}), report.get('scope', {})
    if summary.get('compliant'):
        status = '<span class="status ok">COMPLIANT</span>' if summary.get('complete', True) else ''
    else:
        status = '<span class="status bad">NOT COMPLIANT</span>'
    if not summary.get('complete', True):
        # Clean but incomplete is never shown as compliant: a host nobody looked at proves nothing.
        status += ' <span class="status warn">INCOMPLETE: %d host(s) not scanned</span>' % len(scope.get('hosts_missing', []))
    packs = ', '.join('%s %s' % (_e(p.get('name')), _e(p.get('version'))) for p in report.get('policy_packs', []))
    return ('<header><h1>AI compliance report</h1><div class="meta">Scan of %s &middot; %d host(s) scanned, %d not scanned '
            '&middot; %d asset(s) &middot; policy packs: %s &nbsp; %s</div></header>'
            % (_e(report.get('generated_at')), len(scope.get('hosts_scanned', [])), len(scope.get('hosts_missing', [])),
               summary.get('assets', len(report.get('assets', []))), packs or 'none', status))


def _severity_cards(report):
    counts = report_view.severity_counts(report.get('findings', []))
    waived = sum(1 for finding in report.get('findings', []) if finding.get('waived'))
    cards = ''.join('<div class="card" style="background:%s"><div class="n">%d</div>%s</div>'
                    % (_colour(severity), counts[severity], _e(severity)) for severity in report_view.SEVERITIES)
    cards += '<div class="card" style="background:#90a4ae"><div class="n">%d</div>waived</div>' % waived
    return '<section id="summary"><h2>Findings by severity</h2><div class="cards">%s</div></section>' % cards


def _count_cells(by_severity):
    return ''.join('<td class="num">%s</td>' % (by_severity[s] or '') for s in report_view.SEVERITIES)


def _severity_heads():
    return ''.join('<th class="num">%s</th>' % _e(s) for s in report_view.SEVERITIES)


def _framework_label(name, catalogues):
    catalogue = catalogues.get(name)
    if not catalogue:
        return _e(name)
    return '%s<div class="small">%s %s</div>' % (_e(name), _e(catalogue['name']), _e(catalogue['version']))


def _frameworks(report):
    table = report_view.by_framework(report)
    if not table:
        return '<section id="frameworks"><h2>By framework</h2><p>No unwaived finding touches a framework control.</p></section>'
    catalogues = dict((c['framework'], c) for c in report.get('frameworks') or [])
    rows = ''.join('<tr><td>%s</td>%s<td class="small">%s</td></tr>' % (
        _framework_label(name, catalogues), _count_cells(row['by_severity']), _e('; '.join(row['controls'])))
        for name, row in table.items())
    return ('<section id="frameworks"><h2>By framework</h2><table><tr><th>Framework</th>%s<th>Controls affected</th></tr>'
            '%s</table></section>' % (_severity_heads(), rows))


def _coverage_detail(entry):
    rows = ''.join('<tr class="%s"><td><code>%s</code></td><td>%s</td><td>%s</td></tr>' % (
        'covered' if control['rules'] else 'uncovered', _e(control['id']), _e(control['title']),
        _e(', '.join(control['rules'])) if control['rules'] else '<span class="missing">not covered</span>')
        for control in entry['controls'])
    return ('<details id="coverage-%s"><summary>%s %s: %d of %d covered</summary><p class="small">Source: %s (%s)</p>'
            '<table><tr><th>Control</th><th>Title</th><th>Rules</th></tr>%s</table></details>'
            % (_e(entry['framework']), _e(entry['name']), _e(entry['version']), entry['covered'], entry['total'],
               _e(entry.get('publication')), _e(entry.get('source')), rows))


def _coverage(report):
    matrix = report.get('coverage')
    if not matrix:
        return ''
    rows = ''.join('<tr><td>%s<div class="small">%s %s</div></td><td class="num">%d</td><td class="num">%d</td>'
                   '<td class="num">%d</td><td><span class="barbg"><span class="bar" style="width:%dpx"></span></span></td></tr>'
                   % (_e(e['framework']), _e(e['name']), _e(e['version']), e['covered'], e['total'] - e['covered'],
                      e['total'], round(120.0 * e['covered'] / e['total']) if e['total'] else 0) for e in matrix)
    return ('<section id="coverage"><h2>Framework coverage</h2><p class="small">Which controls of each framework the '
            'rules of this scan cite, and which none does: what the baseline does not address.</p>'
            '<table id="coverage-table"><tr><th>Framework</th><th class="num">Covered</th><th class="num">Not covered</th>'
            '<th class="num">Controls</th><th></th></tr>%s</table>%s</section>'
            % (rows, ''.join(_coverage_detail(entry) for entry in matrix)))


def _hosts(report):
    rows = []
    for name, row in sorted(report_view.by_host(report).items()):
        state = 'scanned' if row['scanned'] else '<span class="missing">not scanned</span>'
        problems = '<br>'.join(_e(problem) for problem in row['problems'])
        rows.append('<tr><td>%s</td><td>%s</td><td class="num">%d</td>%s<td class="small">%s</td></tr>'
                    % (_e(name), state, row['assets'], _count_cells(row['by_severity']), problems))
    return ('<section id="hosts"><h2>By host</h2><table><tr><th>Host</th><th>Scan</th><th class="num">Assets</th>%s'
            '<th>What could not be seen</th></tr>%s</table></section>' % (_severity_heads(), ''.join(rows)))


def _trend(report):
    records = report.get('trend') or []
    if not records:
        return ''
    rows = ''.join('<tr><td>%s</td>%s<td class="num">%d</td><td>%s</td><td class="num">%d / %d</td></tr>' % (
        _e(item['generated_at']), _count_cells(dict((s, item['by_severity'].get(s, 0)) for s in report_view.SEVERITIES)),
        item.get('waived', 0), 'yes' if item.get('compliant') else 'no', item.get('hosts_scanned', 0),
        item.get('hosts_scanned', 0) + item.get('hosts_missing', 0)) for item in reversed(records[-TREND_ROWS:]))
    return ('<section id="trend"><h2>Trend over the last %d scan(s)</h2>%s<table><tr><th>Scan</th>%s'
            '<th class="num">waived</th><th>Compliant</th><th class="num">Hosts scanned</th></tr>%s</table></section>'
            % (len(records), trend_svg(records), _severity_heads(), rows))


def _finding_row(finding, asset):
    evidence = ''.join('<li>%s</li>' % _e(line) for line in report_view.evidence_lines(finding, asset))
    references = '; '.join('%s: %s' % (framework, ', '.join(controls))
                           for framework, controls in sorted((finding.get('references') or {}).items()))
    waiver = report_view.waiver_text(finding)
    return ('<tr class="finding%s" id="f-%s"><td>%s</td><td><code>%s</code><br>%s<div class="small">%s</div></td>'
            '<td>%s<div class="small">%s<br><code>%s</code></div></td><td>%s</td><td><ul class="ev">%s</ul></td>'
            '<td>%s</td><td>%s</td></tr>' % (
                ' waived' if waiver else '', _e(finding['id']), _badge(finding['severity']), _e(finding['rule_id']),
                _e(finding['title']), _e(references), _e(finding.get('asset_name')), _e(finding.get('asset_kind')),
                _e(report_view.location_text(report_view.location(finding, asset))), _e(report_view.host_of(finding)),
                evidence, _e(report_view.remediation_text(finding.get('remediation'))), _e(waiver) or '&ndash;'))


def _findings(report):
    findings = report_view.sorted_findings(report)
    if not findings:
        return '<section id="findings"><h2>Findings</h2><p>No findings.</p></section>'
    assets = report_view.assets_by_id(report)
    rows = ''.join(_finding_row(finding, assets.get(finding['asset_id'])) for finding in findings)
    columns = (('Severity', '84px'), ('Rule', '20%'), ('Asset', '14%'), ('Host', '8%'), ('Evidence', '24%'),
               ('How to fix', '22%'), ('Waiver', '12%'))
    colgroup = ''.join('<col style="width:%s">' % width for _name, width in columns)
    heads = ''.join('<th>%s</th>' % name for name, _width in columns)
    return ('<section id="findings"><h2>Findings (%d)</h2><table id="findings-table" class="findings">'
            '<colgroup>%s</colgroup><tr>%s</tr>%s</table></section>' % (len(findings), colgroup, heads, rows))


def _shadow(report):
    assets = report_view.shadow_assets(report)
    if not assets:
        return ('<section id="shadow"><h2>Shadow AI (0)</h2><p>Every model server, vector database, agent and MCP server '
                'found belongs to a use case of the registry.</p></section>')
    rows = ''.join('<tr><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>' % (
        _e(asset.get('inventory_hostname') or asset.get('host')), _e(asset['kind']), _e(asset.get('name')),
        _e(report_view.location_text(report_view.location({'inventory_hostname': asset.get('inventory_hostname'),
                                                           'asset_name': asset.get('name')}, asset))))
        for asset in assets)
    return ('<section id="shadow"><h2>Shadow AI (%d)</h2><p class="small">Services and agents that no use case of the '
            'registry claims: nobody owns them, assessed their risk or approved their models. Claim them in the registry '
            '(docs/registry.md) or remove them.</p><table><tr><th>Host</th><th>Kind</th><th>Name</th><th>Where</th></tr>%s'
            '</table></section>' % (len(assets), rows))


def _waiving(report):
    findings = report_view.sorted_findings(report)
    waived = sum(1 for finding in findings if finding.get('waived'))
    candidate = report_view.waiver_candidate(report)
    example = ('<p>For example, to accept the %s finding %s on %s, add to an exceptions file:</p><pre><code>%s</code></pre>'
               % (_e(candidate['severity']), _e(candidate['rule_id']), _e(candidate.get('asset_name')),
                  _e(report_view.waiver_example(candidate)))) if candidate else ''
    return ('<section id="waive"><h2>How to waive a finding</h2><p>%d finding(s) of this scan are waived. A waiver accepts '
            'one rule on some assets, with an owner, a reason and an end date; the finding stays in the report, marked '
            'waived, and is not counted until the date passes. Waivers live in an exceptions file passed to the scan with '
            '<code>-e aigov_exceptions=\'["/path/exceptions.yml"]\'</code> (format: docs/policy-packs.md).</p>%s</section>'
            % (waived, example))


def _sources(report):
    packs = ''.join('<li>policy pack %s %s: <code>%s</code> sha256 <code>%s</code></li>' % (
        _e(p.get('name')), _e(p.get('version')), _e(p.get('path')), _e(p.get('sha256'))) for p in report.get('policy_packs', []))
    reg = report.get('registry') or {}
    packs += '<li>registry <code>%s</code> sha256 <code>%s</code> (%s use case(s))</li>' % (
        _e(reg.get('path')), _e(reg.get('sha256')), _e(reg.get('use_cases')))
    return '<section id="sources" class="small"><h2>What was applied</h2><ul>%s</ul></section>' % packs


def escape_text(value):
    """value as HTML text: what every page of the collection does to data before it is shown."""
    return _e(value)


def page(title, body):
    """One self-contained HTML document: inline CSS, no script, a CSP that forbids scripts and fetches."""
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="%s">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<title>%s</title><style>%s</style></head><body>%s</body></html>\n'
            % (_e(CSP), _e(title), CSS, body))


def render_html(report):
    """The report as one HTML document (text)."""
    body = ''.join((_header(report), '<main>', _severity_cards(report), _trend(report), _frameworks(report),
                    _coverage(report), _hosts(report), _shadow(report), _findings(report), _waiving(report),
                    _sources(report), '</main>'))
    return page('AI compliance report %s' % report.get('generated_at'), body)
