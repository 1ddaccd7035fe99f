# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy packs: load and validate them, evaluate them against assets.

A pack is data (docs/policy-packs.md): each rule selects assets with a JMESPath
`applies_to` expression and holds when its JMESPath `condition` is true. A
selected asset for which the condition is false is a finding. Every pack is
validated in full, expressions compiled, before any asset is looked at, so a
broken pack fails with its file, rule and problem and touches nothing.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.aigov.core.plugins.module_utils.datafiles import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError, DataFileError

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

PACK_SCHEMA_VERSIONS = (1,)
FINDING_SCHEMA_VERSION = 1
SEVERITIES = ('info', 'low', 'medium', 'high', 'critical')
FRAMEWORKS = ('nist-ai-rmf', 'nist-csf-2.0', 'owasp-llm-2025', 'owasp-agentic-2026', 'eu-ai-act', 'iso-42001')
RULE_ID = re.compile(r'^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$')
_REQUIRED_TEXT = ('title', 'description', 'rationale')
_RULE_KEYS = frozenset(('id', 'severity', 'applies_to', 'condition', 'references', 'remediation', 'enabled') + _REQUIRED_TEXT)
_REMEDIATION_KEYS = {'id': str, 'automatable': bool, 'disruptive': bool, 'guidance': str}


def severity_rank(severity):
    """Position of a severity in SEVERITIES (info=0 ... critical=4)."""
    return SEVERITIES.index(severity)


def _truthy(value):
    """JMESPath truthiness: false, null and empty string/list/object are false; 0 is true."""
    return not (value is None or value is False or value in ('', [], {}))


def _compile(expression, where, field, problems):
    if not isinstance(expression, str) or not expression.strip():
        problems.append('%s: %s must be a non-empty JMESPath expression string' % (where, field))
        return None
    try:
        return jmespath.compile(expression)
    except JMESPathError as exc:
        problems.append('%s: %s is not a valid JMESPath expression (%r): %s' % (where, field, expression, exc))
        return None


def _check_references(rule, where, problems):
    references = rule.get('references')
    if not isinstance(references, dict) or not references:
        problems.append('%s: references must map at least one framework (%s) to a list of controls' % (where, ', '.join(FRAMEWORKS)))
        return
    for framework, controls in references.items():
        if framework not in FRAMEWORKS:
            problems.append('%s: unknown framework %r in references (known: %s)' % (where, framework, ', '.join(FRAMEWORKS)))
        if not isinstance(controls, list) or not controls or not all(isinstance(c, str) and c for c in controls):
            problems.append('%s: references.%s must be a non-empty list of control ids' % (where, framework))


def _check_remediation(rule, where, problems):
    remediation = rule.get('remediation')
    if remediation is None:
        return
    if not isinstance(remediation, dict):
        problems.append('%s: remediation must be a mapping' % where)
        return
    for key, value in remediation.items():
        expected = _REMEDIATION_KEYS.get(key)
        if expected is None:
            problems.append('%s: unknown key remediation.%s (known: %s)' % (where, key, ', '.join(sorted(_REMEDIATION_KEYS))))
        elif not isinstance(value, expected):
            problems.append('%s: remediation.%s must be a %s' % (where, key, expected.__name__))


def _validate_rule(rule, index, seen_ids, problems):
    """Validate one rule; return it with compiled expressions, or None if invalid."""
    if not isinstance(rule, dict):
        problems.append('rules[%d]: must be a mapping' % index)
        return None
    before = len(problems)
    rule_id = rule.get('id')
    where = 'rules[%d] (id %s)' % (index, rule_id)
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        problems.append('%s: id must look like AIGOV-MS-001 (upper-case words joined by dashes)' % where)
    elif rule_id in seen_ids:
        problems.append('%s: duplicate rule id (first defined in %s)' % (where, seen_ids[rule_id]))
    for key in sorted(set(rule) - _RULE_KEYS):
        problems.append('%s: unknown key %r (known: %s)' % (where, key, ', '.join(sorted(_RULE_KEYS))))
    for key in _REQUIRED_TEXT:
        if not isinstance(rule.get(key), str) or not rule[key].strip():
            problems.append('%s: %s must be a non-empty string' % (where, key))
    if rule.get('severity') not in SEVERITIES:
        problems.append('%s: severity must be one of %s, got %r' % (where, ', '.join(SEVERITIES), rule.get('severity')))
    if not isinstance(rule.get('enabled', True), bool):
        problems.append('%s: enabled must be true or false' % where)
    applies_to = _compile(rule.get('applies_to'), where, 'applies_to', problems)
    condition = _compile(rule.get('condition'), where, 'condition', problems)
    _check_references(rule, where, problems)
    _check_remediation(rule, where, problems)
    if len(problems) > before:
        return None
    compiled = dict(rule, _applies_to=applies_to, _condition=condition)
    compiled.setdefault('enabled', True)
    return compiled


def load_pack(path, seen_ids=None):
    """Load and fully validate one policy pack; raise DataFileError listing every problem."""
    if not HAS_JMESPATH:
        raise DataFileError(path, ['the jmespath Python library is required on the controller to evaluate policy packs'])
    data, digest = load_yaml_mapping(path, 'policy pack')
    problems = []
    check_schema_version(data, PACK_SCHEMA_VERSIONS, problems)
    for key in ('name', 'version'):
        if not isinstance(data.get(key), str) or not data[key]:
            problems.append('%s must be a non-empty string' % key)
    rules = data.get('rules')
    if not isinstance(rules, list) or not rules:
        problems.append('rules must be a non-empty list')
        rules = []
    seen_ids = {} if seen_ids is None else seen_ids
    compiled = []
    for index, rule in enumerate(rules):
        checked = _validate_rule(rule, index, seen_ids, problems)
        if checked is not None:
            seen_ids[checked['id']] = path
            compiled.append(checked)
    if problems:
        raise DataFileError(path, problems)
    return {'name': data['name'], 'version': data['version'], 'path': path, 'sha256': digest, 'rules': compiled}


def load_packs(paths):
    """Load several packs; rule ids must be unique across all of them."""
    seen_ids = {}
    return [load_pack(path, seen_ids) for path in paths]


def _finding(rule, asset, pack):
    material = json.dumps([rule['id'], asset['id']])
    return {
        'schema_version': FINDING_SCHEMA_VERSION,
        'id': hashlib.sha256(material.encode('utf-8')).hexdigest()[:16],
        'rule_id': rule['id'],
        'title': rule['title'],
        'severity': rule['severity'],
        'pack': pack['name'],
        'asset_id': asset['id'],
        'asset_kind': asset['kind'],
        'asset_name': asset.get('name'),
        'host': asset.get('host'),
        'inventory_hostname': asset.get('inventory_hostname'),
        'references': rule['references'],
        'rationale': rule['rationale'],
        'remediation': rule.get('remediation'),
        'evidence': asset.get('evidence', []),
        'registry': asset.get('registry'),
        'waived': False,
    }


def _search(compiled, rule, asset, field):
    try:
        return compiled.search(asset)
    except JMESPathError as exc:
        raise AigovError('rule %s: %s failed on asset %s: %s' % (rule['id'], field, asset.get('id'), exc))


def evaluate(packs, assets):
    """Evaluate every enabled rule against every asset; return (findings, results).

    Expressions see the asset record as given, including what the caller
    added to it (its `registry` match). results counts, per rule, the assets
    it applied to and those that failed, the ids of the assets that passed
    (reports list them as passing test cases) and the rule's text.
    """
    findings, results = [], []
    for pack in packs:
        for rule in pack['rules']:
            if not rule['enabled']:
                continue
            applied, failed, passed = 0, 0, []
            for asset in assets:
                if not _truthy(_search(rule['_applies_to'], rule, asset, 'applies_to')):
                    continue
                applied += 1
                if _truthy(_search(rule['_condition'], rule, asset, 'condition')):
                    passed.append(asset['id'])
                else:
                    failed += 1
                    findings.append(_finding(rule, asset, pack))
            results.append({'rule_id': rule['id'], 'title': rule['title'], 'severity': rule['severity'],
                            'references': rule['references'], 'applied': applied, 'failed': failed,
                            'passed_assets': passed, 'description': rule['description'],
                            'rationale': rule['rationale'], 'remediation': rule.get('remediation')})
    findings.sort(key=lambda item: (-severity_rank(item['severity']), item['rule_id'], item['asset_id']))
    return findings, results


def summarize(findings, assets, fail_on=None):
    """Counts by severity and whether any unwaived finding reaches fail_on."""
    by_severity = dict((severity, 0) for severity in SEVERITIES)
    for finding in findings:
        if not finding['waived']:
            by_severity[finding['severity']] += 1
    threshold_hit = fail_on is not None and any(
        count for severity, count in by_severity.items() if severity_rank(severity) >= severity_rank(fail_on))
    return {
        'assets': len(assets),
        'findings': sum(by_severity.values()),
        'by_severity': by_severity,
        'compliant': not any(by_severity.values()),
        'fail_on': fail_on,
        'threshold_exceeded': threshold_hit,
    }
