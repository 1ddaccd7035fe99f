# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance report as JUnit XML, for CI servers and AAP.

One testsuite per rule (the control people track), one testcase per asset
the rule applied to, named after the host and the asset so a CI server
keeps each pair's history across scans (asset ids are stable). A failed
condition is a <failure> (title, evidence, fix), a waived finding a
<skipped> carrying the waiver. A first suite, "scope", has a testcase per
targeted host: an <error> when the host was not scanned, because a host
nobody looked at must not read as passing.
"""

from __future__ import annotations

import collections
from xml.etree import ElementTree

from ansible_collections.aigov.core.plugins.module_utils.reports import report_view


def xml_text(value):
    """Text that is always well-formed XML once ElementTree escapes it."""
    return report_view.printable('' if value is None else '%s' % value)


def _element(parent, tag, text=None, **attributes):
    node = ElementTree.SubElement(parent, tag, dict((key, xml_text(value)) for key, value in attributes.items()))
    if text is not None:
        node.text = xml_text(text)
    return node


def case_name(host, asset_name, asset_id):
    return '%s: %s (%s)' % (host or '?', asset_name or '?', asset_id)


def failure_text(finding, asset):
    """Title, where, evidence, fix and references: what a reader needs to act."""
    lines = [finding['title'],
             'Severity: %s. Rule %s (pack %s).' % (finding['severity'], finding['rule_id'], finding.get('pack', '?')),
             'Asset: %s %s on %s' % (finding.get('asset_kind', '?'), finding.get('asset_name') or '?',
                                     report_view.host_of(finding) or '?'),
             'Location: %s' % report_view.location_text(report_view.location(finding, asset)),
             'Evidence:']
    lines += ['  - %s' % line for line in report_view.evidence_lines(finding, asset)] or ['  (none recorded)']
    lines.append('Fix: %s' % report_view.remediation_text(finding.get('remediation')))
    for framework, controls in sorted((finding.get('references') or {}).items()):
        lines.append('Reference %s: %s' % (framework, '; '.join(controls)))
    return '\n'.join(lines) + '\n'


# outcome: passed, failure, skipped or error; output: the testcase's system-out.
Case = collections.namedtuple('Case', 'classname name outcome message kind text output')


def _case(classname, name, outcome='passed', message='', kind='', text='', output=''):
    return Case(classname, name, outcome, message, kind, text, output)


def _scope_cases(report):
    scope = report.get('scope', {})
    cases = []
    for name in scope.get('hosts_targeted', []):
        if name in scope.get('hosts_scanned', []):
            # What discovery could not see on a scanned host (e.g. permissions) travels with it.
            cases.append(_case('aigov.scope', name, output='\n'.join(scope.get('problems', {}).get(name, []))))
        else:
            cases.append(_case('aigov.scope', name, 'error', 'host was not scanned (unreachable, failed or skipped)',
                               'not_scanned', 'No discovery result for %s: it is not counted as compliant.\n' % name))
    return cases


def _rule_cases(rule, findings, assets):
    cases = []
    for finding in findings:
        name = case_name(report_view.host_of(finding), finding.get('asset_name'), finding['asset_id'])
        if finding.get('waived'):
            cases.append(_case(rule['rule_id'], name, 'skipped', report_view.waiver_text(finding)))
        else:
            cases.append(_case(rule['rule_id'], name, 'failure', finding['title'], finding['severity'],
                               failure_text(finding, assets.get(finding['asset_id']))))
    for asset_id in rule.get('passed_assets') or []:
        asset = assets.get(asset_id) or {}
        host = asset.get('inventory_hostname') or asset.get('host')
        cases.append(_case(rule['rule_id'], case_name(host, asset.get('name'), asset_id)))
    return sorted(cases, key=lambda case: case.name)


def _suite(root, name, timestamp, cases, rule=None):
    counts = dict((outcome, sum(1 for case in cases if case.outcome == outcome)) for outcome in ('failure', 'skipped', 'error'))
    suite = _element(root, 'testsuite', name=name, tests=len(cases), failures=counts['failure'], errors=counts['error'],
                     skipped=counts['skipped'], time='0', timestamp=timestamp)
    if rule:
        properties = _element(suite, 'properties')
        _element(properties, 'property', name='severity', value=rule['severity'])
        for framework, controls in sorted((rule.get('references') or {}).items()):
            _element(properties, 'property', name=framework, value='; '.join(controls))
    for case in cases:
        node = _element(suite, 'testcase', classname=case.classname, name=case.name, time='0')
        if case.outcome == 'skipped':
            _element(node, 'skipped', message=case.message)
        elif case.outcome in ('failure', 'error'):
            _element(node, case.outcome, case.text, message=case.message, type=case.kind)
        if case.output:
            _element(node, 'system-out', case.output)
    return counts


def render_junit(report):
    """The report as a JUnit XML document (text)."""
    timestamp = (report.get('generated_at') or '')[:19]  # the JUnit schema's timestamp has no zone; ours is UTC
    root = ElementTree.Element('testsuites', {'name': 'aigov.core compliance scan'})
    totals = {'tests': 0, 'failure': 0, 'error': 0, 'skipped': 0}
    assets = report_view.assets_by_id(report)
    findings_by_rule = {}
    for finding in report.get('findings', []):
        findings_by_rule.setdefault(finding['rule_id'], []).append(finding)

    suites = [('scope', _scope_cases(report), None)]
    for rule_id, rule in sorted(report_view.rules(report).items()):
        suites.append(('%s %s' % (rule_id, rule['title']), _rule_cases(rule, findings_by_rule.get(rule_id, []), assets), rule))
    for name, cases, rule in suites:
        counts = _suite(root, name, timestamp, cases, rule)
        totals['tests'] += len(cases)
        for outcome in ('failure', 'error', 'skipped'):
            totals[outcome] += counts[outcome]
    for key, attribute in (('tests', 'tests'), ('failure', 'failures'), ('error', 'errors'), ('skipped', 'skipped')):
        root.set(attribute, str(totals[key]))
    root.set('time', '0')
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding='unicode') + '\n'
