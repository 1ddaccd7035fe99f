# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A read-only view of a report document (schemas/compliance-report.v1.json)
shared by the renderers: where a finding is, what shows it, how to fix it,
and the counts by severity, framework and host. Plain data in, plain text
out; escaping is each renderer's job."""

from __future__ import annotations

import json
import re

SEVERITIES = ('critical', 'high', 'medium', 'low', 'info')  # worst first, as people read them

# Asset attributes shown next to a finding's evidence: short, never secret
# (no command lines, no fingerprints), enough to see why the rule failed.
FACT_KEYS = ('product_name', 'version', 'model', 'auth', 'exposed', 'dev_mode', 'format', 'size', 'sha256', 'mode',
             'owner', 'world_writable', 'executes_code_on_load', 'provider', 'variable', 'source', 'age_days', 'client',
             'transport', 'plaintext_credentials', 'package', 'category', 'vendor')


# The kinds of asset that are shadow AI when no use case claims them (what rule AIGOV-GV-001 holds
# to account): services and agents. Files, keys and packages are not counted: they belong to one.
SHADOW_KINDS = ('model_server', 'vector_db', 'agent', 'mcp_server')

# Characters XML 1.0 cannot carry even escaped, and C0 controls HTML treats as
# parse errors; text from hosts may contain them (an asset name, a path).
_UNPRINTABLE = re.compile(u'[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def printable(text):
    """text with every character XML and HTML cannot carry replaced by U+FFFD."""
    return _UNPRINTABLE.sub(u'\ufffd', text)


def assets_by_id(report):
    return dict((asset['id'], asset) for asset in report.get('assets', []))


def host_of(finding):
    """The inventory name people know the host by, else the host's own name."""
    return finding.get('inventory_hostname') or finding.get('host') or ''


def file_path(asset):
    """The file a finding is about (model file, credential file, MCP config), or None."""
    if asset is None:
        return None
    attributes = asset.get('attributes') or {}
    if asset.get('kind') == 'model_artifact' and attributes.get('path'):
        return attributes['path']
    if asset.get('kind') == 'mcp_server' and attributes.get('config'):
        return attributes['config']
    for item in asset.get('evidence') or []:
        if item.get('type') == 'file' and item.get('path'):
            return item['path']
    return None


def location(finding, asset):
    """Where to look: {'host', 'path'} for a file, else {'host', 'product', 'address', 'port'} or {'host', 'name'}."""
    host = host_of(finding)
    path = file_path(asset)
    if path:
        return {'host': host, 'path': path}
    attributes = (asset or {}).get('attributes') or {}
    listeners = attributes.get('listeners') or []
    if listeners:
        # The exposed address first: that is the one the rule is usually about.
        first = sorted(listeners, key=lambda item: (item.get('loopback', False), item.get('port', 0)))[0]
        return {'host': host, 'product': attributes.get('product') or finding.get('asset_name') or '',
                'address': first.get('address', ''), 'port': first.get('port')}
    return {'host': host, 'name': finding.get('asset_name') or finding.get('asset_id', '')}


def location_text(loc):
    if 'path' in loc:
        return '%s:%s' % (loc['host'], loc['path'])
    if 'port' in loc:
        return '%s %s %s:%s' % (loc['host'], loc['product'], loc['address'], loc['port'])
    return '%s %s' % (loc['host'], loc['name'])


def _evidence_item(item):
    kind = item.get('type', '?')
    if kind == 'process':
        text = 'process pid %s' % item['pid'] if 'pid' in item else 'process %s' % item.get('program', '?')
        return text + (' (uid %s)' % item['uid'] if 'uid' in item else '')
    if kind == 'socket':
        return 'listening on %s:%s' % (item.get('address', '?'), item.get('port', '?'))
    if kind in ('file', 'package'):
        return '%s %s' % (kind, item.get('path', '?'))
    if kind == 'env':
        return 'environment variable %s' % item.get('variable', '?')
    rest = ', '.join('%s=%s' % (key, item[key]) for key in sorted(item) if key != 'type')
    return '%s %s' % (kind, rest)


def evidence_lines(finding, asset):
    """What shows the finding: each evidence item, then the asset's telling attributes."""
    lines = [_evidence_item(item) for item in finding.get('evidence') or []]
    attributes = (asset or {}).get('attributes') or {}
    facts = []
    for key in FACT_KEYS:
        value = attributes.get(key)
        if value is None or value == [] or value == '':
            continue
        if isinstance(value, list):
            value = ', '.join(str(item) for item in value)
        elif isinstance(value, bool):
            value = 'true' if value else 'false'
        facts.append('%s: %s' % (key, value))
    if facts:
        lines.append('; '.join(facts))
    return lines


def remediation_text(remediation):
    """The fix in words, with how it can be applied."""
    if not remediation:
        return 'No remediation is defined for this rule.'
    text = (remediation.get('guidance') or '').strip() or 'No guidance text.'
    how = []
    if remediation.get('id'):
        how.append('remediation %s' % remediation['id'])
    if remediation.get('automatable'):
        how.append('automatable')
    if remediation.get('disruptive'):
        how.append('disruptive')
    return '%s (%s)' % (text, ', '.join(how)) if how else text


def waiver_text(finding):
    """'waived by OWNER until DATE: REASON' for a waived finding, else ''."""
    if not finding.get('waived'):
        return ''
    waiver = finding.get('waiver') or {}
    text = 'waived'
    if waiver.get('owner'):
        text += ' by %s' % waiver['owner']
    if waiver.get('expires'):
        text += ' until %s' % waiver['expires']
    return text + (': %s' % waiver['reason'] if waiver.get('reason') else '')


def rules(report):
    """The report's rules by id, text filled in from a finding when the check result lacks it."""
    found = dict((rule['rule_id'], dict(rule)) for rule in report.get('rules', []))
    for finding in report.get('findings', []):
        rule = found.setdefault(finding['rule_id'], {
            'rule_id': finding['rule_id'], 'title': finding['title'], 'severity': finding['severity'],
            'references': finding.get('references', {}), 'applied': 0, 'failed': 0})
        rule.setdefault('rationale', finding.get('rationale'))
        rule.setdefault('remediation', finding.get('remediation'))
    return found


def severity_counts(findings):
    counts = dict((severity, 0) for severity in SEVERITIES)
    for finding in findings:
        if not finding.get('waived'):
            counts[finding['severity']] += 1
    return counts


def by_framework(report):
    """Per framework: unwaived findings by severity and the controls they touch."""
    table = {}
    for finding in report.get('findings', []):
        if finding.get('waived'):
            continue
        for framework, controls in sorted((finding.get('references') or {}).items()):
            row = table.setdefault(framework, {'by_severity': dict((s, 0) for s in SEVERITIES), 'controls': set()})
            row['by_severity'][finding['severity']] += 1
            row['controls'].update(controls)
    return dict((name, {'by_severity': row['by_severity'], 'controls': sorted(row['controls'])})
                for name, row in sorted(table.items()))


def by_host(report):
    """Per targeted host: scanned or not, its assets, its unwaived findings by severity, its problems."""
    scope = report.get('scope', {})
    names = list(scope.get('hosts_targeted', []))
    names += [name for name in scope.get('hosts_scanned', []) if name not in names]
    table = dict((name, {'scanned': name in scope.get('hosts_scanned', []), 'assets': 0,
                         'by_severity': dict((s, 0) for s in SEVERITIES),
                         'problems': list(scope.get('problems', {}).get(name, []))}) for name in names)
    empty = {'scanned': True, 'assets': 0, 'problems': []}
    for asset in report.get('assets', []):
        name = asset.get('inventory_hostname') or asset.get('host') or ''
        table.setdefault(name, dict(empty, by_severity=dict((s, 0) for s in SEVERITIES)))['assets'] += 1
    for finding in report.get('findings', []):
        if not finding.get('waived'):
            name = host_of(finding)
            table.setdefault(name, dict(empty, by_severity=dict((s, 0) for s in SEVERITIES)))
            table[name]['by_severity'][finding['severity']] += 1
    return table


def sorted_findings(report):
    """Worst first, unwaived before waived, then by rule and host."""
    rank = dict((severity, index) for index, severity in enumerate(SEVERITIES))

    def key(finding):
        return (bool(finding.get('waived')), rank[finding['severity']], finding['rule_id'], host_of(finding),
                finding.get('asset_id', ''))
    return sorted(report.get('findings', []), key=key)


def shadow_assets(report):
    """The services and agents no use case of the registry claims, by host then kind and name."""
    found = [asset for asset in report.get('assets', []) if asset.get('kind') in SHADOW_KINDS
             and (asset.get('registry') or {}).get('shadow')]
    return sorted(found, key=lambda a: (a.get('inventory_hostname') or a.get('host') or '', a['kind'], a.get('name') or ''))


def _literal(value):
    """VALUE as a selector that matches it alone: glob characters bracketed, quoted as a YAML flow scalar."""
    return json.dumps(''.join('[%s]' % char if char in '*?[' else char for char in '%s' % value))


def waiver_candidate(report):
    """The finding a waiver example is written for: the least severe open one (a waiver accepts a risk
    someone can own; the example should not suggest accepting the worst). None when all are waived."""
    open_findings = [finding for finding in sorted_findings(report) if not finding.get('waived')]
    return open_findings[-1] if open_findings else None


def waiver_example(finding):
    """An exceptions-file entry that would waive FINDING: the rule, a selector of its asset, the fields to fill in."""
    # The id alone would do (ids are stable across scans); host and name say which asset it is.
    selector = ', '.join('%s: %s' % (key, _literal(finding[field])) for key, field in (
        ('inventory_hostname', 'inventory_hostname'), ('name', 'asset_name'), ('id', 'asset_id')) if finding.get(field))
    return ('- rule: %s\n  assets: [{%s}]\n  owner: <who accepts the risk>\n  reason: <why it is acceptable>\n'
            '  expires: <YYYY-MM-DD, when it is looked at again>' % (finding['rule_id'], selector))
