"""Print a short, human summary of a compliance report (used by `make demo`)."""

import json
import os
import sys


def main(path):
    with open(path) as handle:
        report = json.load(handle)
    summary = report['summary']
    scope = report['scope']
    print('\naigov.core compliance scan, %s' % report['generated_at'])
    print('  hosts scanned: %d (without a result: %s)' % (summary['hosts_scanned'], ', '.join(scope['hosts_missing']) or 'none'))
    print('  AI assets found: %d' % summary['assets'])
    counts = ', '.join('%s %d' % (sev, n) for sev, n in sorted(summary['by_severity'].items(), key=lambda kv: -kv[1]) if n)
    print('  findings: %d%s' % (summary['findings'], ' (%s)' % counts if counts else ''))
    for finding in report['findings'][:10]:
        print('    [%s] %s: %s on %s' % (finding['severity'], finding['rule_id'], finding['title'], finding['inventory_hostname']))
    trend = report.get('trend') or []
    if len(trend) > 1:
        print('  trend: %s (findings over the last %d scans)' % (' -> '.join(str(item['findings']) for item in trend[-5:]), len(trend)))
    folder = os.path.dirname(os.path.abspath(path))
    for name in sorted(os.listdir(folder)):
        if name.startswith('compliance-'):
            print('  written: %s' % os.path.join(folder, name))


if __name__ == '__main__':
    main(sys.argv[1])
