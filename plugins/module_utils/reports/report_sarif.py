# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compliance report as SARIF 2.1.0, for security tooling (GitHub code
scanning, DefectDojo, any SARIF viewer).

Each policy rule is a reportingDescriptor; each finding a result whose
partialFingerprints carry the stable finding id, so tools track it across
scans. Files (model files, credential files, MCP configs) are physical
locations with a file URI naming the host; servers are logical locations
host/product/address:port, with a HOST/KIND/NAME artifact relative to
AIGOV_ESTATE because some consumers need a physical location. Waived findings carry an accepted external
suppression; the others an empty suppressions list (waivers were evaluated).
"""

from __future__ import annotations

import json
from urllib.parse import quote

from ansible_collections.aigov.core.plugins.module_utils.reports import report_view

SARIF_VERSION = '2.1.0'
SARIF_SCHEMA = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json'
INFORMATION_URI = 'https://github.com/aigov/aigov.core'
FINGERPRINT_KEY = 'aigovFindingId/v1'
ESTATE_BASE = 'AIGOV_ESTATE'

LEVELS = {'critical': 'error', 'high': 'error', 'medium': 'warning', 'low': 'note', 'info': 'note'}
# GitHub code scanning ranks security alerts by this CVSS-like score
# (>= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low). An info rule
# gets none: it is not a vulnerability and should not be ranked as one.
SECURITY_SEVERITY = {'critical': '9.5', 'high': '8.0', 'medium': '5.5', 'low': '3.0'}


def file_uri(host, path):
    """file://HOST/PATH (RFC 8089): the same path on two hosts is two artifacts."""
    return 'file://%s%s' % (quote(host or '', safe=''), quote(path if path.startswith('/') else '/' + path, safe='/'))


def _rule_name(title):
    """A reportingDescriptor name: the title in PascalCase (SARIF recommends an identifier-like name)."""
    words = ''.join(c if c.isalnum() else ' ' for c in title).split()
    return ''.join(word[:1].upper() + word[1:] for word in words) or 'Rule'


def _descriptor(rule):
    remediation = rule.get('remediation')
    guidance = report_view.remediation_text(remediation)
    references = rule.get('references') or {}
    reference_lines = ['- %s: %s' % (framework, '; '.join(controls)) for framework, controls in sorted(references.items())]
    properties = {
        'severity': rule['severity'],
        'frameworks': references,
        'tags': ['security', 'ai-governance'] + sorted(references),
        'precision': 'high',
    }
    if rule['severity'] in SECURITY_SEVERITY:
        properties['security-severity'] = SECURITY_SEVERITY[rule['severity']]
    if remediation:
        properties['remediation'] = dict((key, remediation[key]) for key in ('id', 'automatable', 'disruptive') if key in remediation)
    full = ' '.join(text.strip() for text in (rule.get('description'), rule.get('rationale')) if text) or rule['title']
    help_text = 'Fix: %s' % guidance
    markdown = '**Fix:** %s' % guidance
    if reference_lines:
        help_text += '\nReferences:\n' + '\n'.join(reference_lines)
        markdown += '\n\n**References**\n\n' + '\n'.join(reference_lines)
    return {
        'id': rule['rule_id'],
        'name': _rule_name(rule['title']),
        'shortDescription': {'text': rule['title']},
        'fullDescription': {'text': full},
        'help': {'text': help_text, 'markdown': markdown},
        'defaultConfiguration': {'level': LEVELS[rule['severity']]},
        'properties': properties,
    }


def _location(finding, asset):
    """A physical location for every result (GitHub code scanning refuses results without one).

    A file is file://HOST/PATH. Anything else (a server, a package, a GPU) is
    no file: its physical location is relative to ESTATE_BASE, HOST/KIND/NAME,
    and its logical location says what it is (host/product/address:port).
    """
    loc = report_view.location(finding, asset)
    host = loc['host'] or 'unknown-host'
    if 'path' in loc:
        return {'physicalLocation': {'artifactLocation': {'uri': file_uri(host, loc['path'])}},
                'logicalLocations': [{'name': host, 'kind': 'host'}]}
    kind = finding.get('asset_kind') or 'asset'
    name = loc.get('product') or loc.get('name') or finding.get('asset_id', '')
    physical = {'artifactLocation': {'uri': '/'.join(quote(part, safe='') for part in (host, kind, name)),
                                     'uriBaseId': ESTATE_BASE,
                                     'description': {'text': report_view.location_text(loc)}}}
    if 'port' in loc:
        endpoint = '%s:%s' % (loc['address'], loc['port'])
        logical = {'name': endpoint, 'kind': 'service', 'fullyQualifiedName': '%s/%s/%s' % (host, loc['product'], endpoint)}
    else:
        logical = {'name': loc['name'], 'kind': kind, 'fullyQualifiedName': '%s/%s' % (host, loc['name'])}
    return {'physicalLocation': physical, 'logicalLocations': [logical]}


def _result(finding, asset, rule_index):
    loc_text = report_view.location_text(report_view.location(finding, asset))
    evidence = report_view.evidence_lines(finding, asset)
    text = '%s: %s.' % (finding['title'], loc_text)
    if evidence:
        text += ' Evidence: %s.' % '; '.join(evidence)
    result = {
        'ruleId': finding['rule_id'],
        'ruleIndex': rule_index,
        'kind': 'fail',
        'level': LEVELS[finding['severity']],
        'message': {'text': text},
        'locations': [_location(finding, asset)],
        'partialFingerprints': {FINGERPRINT_KEY: finding['id']},
        'properties': {
            'severity': finding['severity'],
            'asset_id': finding['asset_id'],
            'asset_kind': finding.get('asset_kind'),
            'asset_name': finding.get('asset_name'),
            'host': finding.get('host'),
            'inventory_hostname': finding.get('inventory_hostname'),
            'pack': finding.get('pack'),
        },
        'suppressions': [],
    }
    if finding.get('waived'):
        waiver = finding.get('waiver') or {}
        suppression = {'kind': 'external', 'status': 'accepted', 'justification': report_view.waiver_text(finding)}
        suppression['properties'] = dict((key, waiver[key]) for key in ('owner', 'reason', 'expires') if key in waiver)
        result['suppressions'] = [suppression]
    return result


def build_sarif(report):
    """The report as a SARIF 2.1.0 log (a dict)."""
    rules = [rule for _rule_id, rule in sorted(report_view.rules(report).items())]
    index = dict((rule['rule_id'], position) for position, rule in enumerate(rules))
    assets = report_view.assets_by_id(report)
    scope = report.get('scope', {})
    run = {
        'tool': {'driver': {'name': 'aigov.core', 'fullName': 'aigov.core AI governance compliance scan',
                            'informationUri': INFORMATION_URI, 'rules': [_descriptor(rule) for rule in rules]}},
        'automationDetails': {'id': 'aigov.core/compliance-scan/'},
        'originalUriBaseIds': {ESTATE_BASE: {'description': {
            'text': 'The scanned estate, not a file tree: HOST/KIND/NAME names a server, package or other asset on a host.'}}},
        'invocations': [{
            'executionSuccessful': True,
            'endTimeUtc': report.get('generated_at'),
            # A host that was not scanned is a tool notification, never a silent pass.
            'toolExecutionNotifications': [
                {'level': 'error', 'message': {'text': 'host %s was not scanned; it is not counted as compliant' % name}}
                for name in scope.get('hosts_missing', [])],
            'properties': {'hosts_scanned': scope.get('hosts_scanned', []), 'hosts_missing': scope.get('hosts_missing', []),
                           'complete': report.get('summary', {}).get('complete')},
        }],
        'results': [_result(finding, assets.get(finding['asset_id']), index[finding['rule_id']])
                    for finding in report_view.sorted_findings(report)],
        'columnKind': 'unicodeCodePoints',
    }
    return {'$schema': SARIF_SCHEMA, 'version': SARIF_VERSION, 'runs': [run]}


def render_sarif(report):
    return json.dumps(build_sarif(report), indent=2, sort_keys=True) + '\n'
