"""Print a short, human summary of a compliance report (used by `make demo` and `make scan`).

Usage: print_summary.py REPORT_JSON [--next]   (--next: end with how to scan real hosts)

The counts, fixes, frameworks, shadow AI and waiver text come from the collection's own
report view (plugins/module_utils/reports/report_view.py, imported from the installed
collection on ANSIBLE_COLLECTIONS_PATH), so the terminal says what the HTML report says.
"""

import json
import os
import sys
import textwrap

for _path in reversed(os.environ.get('ANSIBLE_COLLECTIONS_PATH', '').split(os.pathsep)):
    if _path:
        sys.path.insert(0, _path)
from ansible_collections.aigov.core.plugins.module_utils.reports import report_view  # noqa: E402  pylint: disable=wrong-import-position

SHOWN = 12  # findings listed; the HTML report has all of them
NEXT = 'make scan INVENTORY=path/to/inventory.yml'


def _wrap(text, indent):
    return textwrap.fill(text, width=110, initial_indent=indent, subsequent_indent=indent)


def _counts(by_severity):
    return ', '.join('%s %d' % (severity, by_severity[severity]) for severity in report_view.SEVERITIES if by_severity.get(severity))


def _findings(report):
    findings = report_view.sorted_findings(report)
    open_findings = [f for f in findings if not f.get('waived')]
    counts = _counts(report_view.severity_counts(findings))
    waived = len(findings) - len(open_findings)
    print('  findings: %d%s%s' % (len(open_findings), ' (%s)' % counts if counts else '', ', waived: %d' % waived if waived else ''))
    assets = report_view.assets_by_id(report)
    for finding in open_findings[:SHOWN]:
        where = report_view.location_text(report_view.location(finding, assets.get(finding['asset_id'])))
        print('    [%s] %s %s: %s' % (finding['severity'], finding['rule_id'], finding['title'], where))
    if len(open_findings) > SHOWN:
        print('    ... and %d more in the HTML report' % (len(open_findings) - SHOWN))
    if open_findings:
        first = open_findings[0]
        print(_wrap('how to fix the first: %s' % report_view.remediation_text(first.get('remediation')), '      '))
    return findings


def _shadow(report):
    shadow = report_view.shadow_assets(report)
    print('  shadow AI (services and agents no use case of the registry claims): %d' % len(shadow))
    for asset in shadow:
        where = report_view.location_text(report_view.location(
            {'inventory_hostname': asset.get('inventory_hostname'), 'asset_name': asset.get('name')}, asset))
        print('    %s %s: %s' % (asset['kind'], asset.get('name'), where))


def _frameworks(report):
    table = report_view.by_framework(report)
    if not table:
        return
    print('  frameworks the open findings map to:')
    width = max(len(name) for name in table)
    for name, row in table.items():
        controls = ', '.join(row['controls'][:4]) + (', ...' if len(row['controls']) > 4 else '')
        print('    %s  %s  (%d control(s): %s)' % (name.ljust(width), _counts(row['by_severity']), len(row['controls']), controls))


def _waivers(findings):
    waived = [f for f in findings if f.get('waived')]
    for finding in waived:
        print('  waived: %s on %s (%s): %s' % (finding['rule_id'], finding.get('asset_name'), report_view.host_of(finding),
                                               report_view.waiver_text(finding)))
    candidate = report_view.waiver_candidate({'findings': findings})
    if candidate:
        print('  to waive a finding (accept its risk), e.g. %s on %s, add an entry like this to an exceptions file' % (
            candidate['rule_id'], candidate.get('asset_name')))
        print("  and pass it with -e aigov_exceptions='[\"/path/exceptions.yml\"]' (format: docs/policy-packs.md):")
        print(textwrap.indent(report_view.waiver_example(candidate), '      '))


def main(path, show_next=False):
    with open(path) as handle:
        report = json.load(handle)
    summary, scope = report['summary'], report['scope']
    print('\naigov.core compliance scan, %s' % report['generated_at'])
    print('  hosts scanned: %d (%s; without a result: %s)' % (
        summary['hosts_scanned'], ', '.join(scope['hosts_scanned']) or 'none', ', '.join(scope['hosts_missing']) or 'none'))
    kinds = {}
    for asset in report['assets']:
        kinds[asset['kind']] = kinds.get(asset['kind'], 0) + 1
    by_kind = ', '.join('%s %d' % item for item in sorted(kinds.items()))
    print('  AI assets found: %d%s' % (summary['assets'], ' (%s)' % by_kind if by_kind else ''))
    findings = _findings(report)
    _shadow(report)
    _frameworks(report)
    _waivers(findings)
    trend = report.get('trend') or []
    if len(trend) > 1:
        print('  trend: %s (findings over the last %d scans)' % (' -> '.join(str(item['findings']) for item in trend[-5:]), len(trend)))
    folder = os.path.dirname(os.path.abspath(path))
    for name in sorted(os.listdir(folder)):
        if name.startswith('compliance-') or name == 'framework-coverage.json':
            print('  written: %s' % os.path.join(folder, name))
    print('  open the HTML report in a browser: file://%s' % os.path.join(folder, 'compliance-report.html'))
    if show_next:
        print('\nNext, scan your own hosts (any Ansible inventory, reached over SSH; reports in reports/):\n    %s' % NEXT)


if __name__ == '__main__':
    main(sys.argv[1], show_next='--next' in sys.argv[2:])
