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
import os
import re

from ansible_collections.aigov.core.plugins.module_utils.policy import fleet, frameworks, policy_compiler, policy_functions
from ansible_collections.aigov.core.plugins.module_utils.policy import waivers as waiver_rules
from ansible_collections.aigov.core.plugins.module_utils.common.data_file_loader import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError, DataFileError

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

PACK_SCHEMA_VERSIONS = (1,)
FINDING_SCHEMA_VERSION = 1
SEVERITIES = ('info', 'low', 'medium', 'high', 'critical')
RULE_ID = re.compile(r'^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$')
_REQUIRED_TEXT = ('title', 'description', 'rationale')
_RULE_KEYS = frozenset(('id', 'severity', 'applies_to', 'condition', 'references', 'remediation', 'enabled') + _REQUIRED_TEXT)
_PACK_KEYS = frozenset(('schema_version', 'name', 'version', 'description', 'parameters', 'rules', 'exceptions', 'catalogues'))
PARAMETER_NAME = re.compile(r'^[a-z][a-z0-9_]*$')
_NUMBERS = (int, float)
_SCALARS = (str, int, float, bool)
_REMEDIATION_KEYS = {'id': str, 'automatable': bool, 'disruptive': bool, 'guidance': str}


def severity_rank(severity):
    """Position of a severity in SEVERITIES (info=0 ... critical=4)."""
    return SEVERITIES.index(severity)


def _truthy(value):
    """JMESPath truthiness: false, null and empty string/list/object are false; 0 is true."""
    return not (value is None or value is False or value in ('', [], {}))


def _compile(expression, where, field, problems, parameters):
    if not isinstance(expression, str) or not expression.strip():
        problems.append('%s: %s must be a non-empty JMESPath expression string' % (where, field))
        return None
    try:
        parsed = jmespath.compile(expression)
    except JMESPathError as exc:
        problems.append('%s: %s is not a valid JMESPath expression (%r): %s' % (where, field, expression, exc))
        return None
    before = len(problems)
    policy_functions.check_calls(parsed, parameters, field, problems, where)
    return parsed if len(problems) == before else None


def _load_catalogues(data, path, problems):
    """The pack's own catalogues (`catalogues:` paths, relative to the pack's directory), merged over the bundled ones."""
    paths = data.get('catalogues', [])
    if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
        problems.append('catalogues must be a list of catalogue file paths (relative to the pack)')
        paths = []
    own = []
    for value in paths:
        full = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(value)))
        try:
            own.append(frameworks.load_catalogue(full))
        except DataFileError as exc:
            problems.extend('catalogues: %s' % problem for problem in str(exc).splitlines())
    try:
        return frameworks.merge(frameworks.bundled(), own), own
    except DataFileError as exc:
        problems.extend('catalogues: %s' % problem for problem in str(exc).splitlines())
        return frameworks.bundled(), []


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


def _validate_rule(rule, index, seen_ids, problems, parameters, catalogues):
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
    applies_to = _compile(rule.get('applies_to'), where, 'applies_to', problems, parameters)
    condition = _compile(rule.get('condition'), where, 'condition', problems, parameters)
    frameworks.check_references(rule.get('references'), catalogues, where, problems)
    _check_remediation(rule, where, problems)
    if len(problems) > before:
        return None
    compiled = dict(rule, _applies_to=applies_to.parsed, _condition=condition.parsed,
                    _kinds=policy_functions.applies_to_kinds(applies_to))
    compiled.setdefault('enabled', True)
    return compiled


def _check_parameters(data, problems):
    """A pack's parameters: name -> a scalar or a list of scalars, referenced as param('name')."""
    parameters = data.get('parameters', {})
    if not isinstance(parameters, dict):
        problems.append('parameters must be a mapping of name to value')
        return {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            problems.append('parameters: name %r must be lower-case letters, digits and underscores' % (name,))
        elif not (isinstance(value, _SCALARS) or (isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value))):
            problems.append('parameters.%s must be a string, number, boolean or a list of them' % name)
    return parameters


def load_pack(path, seen_ids=None):
    """Load and fully validate one policy pack; raise DataFileError listing every problem."""
    if not HAS_JMESPATH:
        raise DataFileError(path, ['the jmespath Python library is required on the controller to evaluate policy packs'])
    data, digest = load_yaml_mapping(path, 'policy pack')
    problems = []
    check_schema_version(data, PACK_SCHEMA_VERSIONS, problems)
    for key in sorted(set(data) - _PACK_KEYS, key=str):
        problems.append('unknown key %r (known: %s)' % (key, ', '.join(sorted(_PACK_KEYS))))
    for key in ('name', 'version'):
        if not isinstance(data.get(key), str) or not data[key]:
            problems.append('%s must be a non-empty string' % key)
    parameters = _check_parameters(data, problems)
    catalogues, own_catalogues = _load_catalogues(data, path, problems)
    rules = data.get('rules')
    if not isinstance(rules, list) or not rules:
        problems.append('rules must be a non-empty list')
        rules = []
    seen_ids = {} if seen_ids is None else seen_ids
    compiled = []
    for index, rule in enumerate(rules):
        checked = _validate_rule(rule, index, seen_ids, problems, parameters, catalogues)
        if checked is not None:
            seen_ids[checked['id']] = path
            compiled.append(checked)
    exceptions = waiver_rules.check_waivers(data.get('exceptions'), path, problems)
    if problems:
        raise DataFileError(path, problems)
    return {'name': data['name'], 'version': data['version'], 'path': path, 'sha256': digest, 'rules': compiled,
            'parameters': dict(parameters), 'exceptions': exceptions, 'catalogues': own_catalogues}


def catalogues_of(packs):
    """Every catalogue the packs were checked against: the bundled ones and those the packs bring."""
    try:
        return frameworks.merge(frameworks.bundled(), [c for pack in packs for c in pack.get('catalogues', ())])
    except DataFileError as exc:
        raise AigovError('policy packs bring conflicting framework catalogues: %s' % exc)


def _override(packs, parameters):
    """Apply run-time parameter values to the packs that declare them (same type as the default)."""
    problems = []
    for name, value in sorted((parameters or {}).items()):
        declaring = [pack for pack in packs if name in pack['parameters']]
        if not declaring:
            problems.append('parameters.%s: no loaded policy pack declares this parameter' % name)
        for pack in declaring:
            default = pack['parameters'][name]
            same = isinstance(value, bool) == isinstance(default, bool) and (
                isinstance(value, type(default)) or (isinstance(value, _NUMBERS) and isinstance(default, _NUMBERS)))
            if not same:
                problems.append('parameters.%s must be a %s like the default of pack %s (%r), got %r'
                                % (name, type(default).__name__, pack['name'], default, value))
            else:
                pack['parameters'][name] = value
    if problems:
        raise AigovError('policy parameters are invalid:\n  - %s' % '\n  - '.join(problems))


def load_packs(paths, parameters=None):
    """Load several packs and apply run-time parameter values.

    Rule ids must be unique across all packs, and every waiver in a pack
    must name a loaded rule. Every problem is raised before anything is evaluated.
    """
    seen_ids = {}
    packs = [load_pack(path, seen_ids) for path in paths]
    catalogues_of(packs)
    _override(packs, parameters)
    waiver_rules.check_rule_ids([waiver for pack in packs for waiver in pack['exceptions']], seen_ids)
    for pack in packs:
        _prepare(pack)
    return packs


def _prepare(pack):
    """Compile the pack's expressions into closures once, bound to its parameters."""
    if '_interpreter' not in pack:
        interpreter = policy_functions.interpreter(pack.get('parameters'))
        for rule in pack['rules']:
            rule['_applies_fn'] = policy_compiler.build(rule['_applies_to'], interpreter)
            rule['_condition_fn'] = policy_compiler.build(rule['_condition'], interpreter)
        pack['_interpreter'] = interpreter


def load_waivers(packs, exception_files=()):
    """Every waiver: those in the packs plus those of exceptions files, each naming a loaded rule."""
    extra = [waiver for path in exception_files for waiver in waiver_rules.load_exceptions(path)]
    waiver_rules.check_rule_ids(extra, set(rule['id'] for pack in packs for rule in pack['rules']))
    return [waiver for pack in packs for waiver in pack['exceptions']] + extra


def make_finding(rule, asset, pack):
    """One finding (schemas/finding.v1.json) of a rule on an asset; also used by agent_secret_findings."""
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
        'waiver': None,
    }


def _fail(rule, asset, field, exc):
    raise AigovError('rule %s: %s failed on asset %s: %s' % (rule['id'], field, asset.get('id'), exc))


def _by_kind(assets):
    grouped = {}
    for asset in assets:
        grouped.setdefault(asset.get('kind'), []).append(asset)
    return grouped


def evaluate(packs, assets, waivers=None, today=None):
    """Evaluate every enabled rule against every asset; return (findings, results).

    Expressions see the asset record as given, including what the caller
    added (its `registry` match), plus `fleet` (fleet.annotate, computed here
    once). A rule is only evaluated on the kinds its applies_to can select.
    A finding covered by an active waiver is `waived`; one whose waiver has
    expired carries it with `expired: true` and counts. results counts, per
    rule, the assets it applied to, those that failed and those waived, the
    ids of the assets that passed (reports list them as passing test cases)
    and the rule's text. waivers defaults to those of the packs (load_waivers
    adds exceptions files).
    """
    today = today or waiver_rules.today_utc()
    fleet.annotate(assets)
    grouped = _by_kind(assets)
    if waivers is None:
        waivers = [waiver for pack in packs for waiver in pack.get('exceptions', ())]
    waived_rules = waiver_rules.by_rule(waivers)
    findings, results = [], []
    for pack in packs:
        _prepare(pack)
        for rule in pack['rules']:
            if not rule['enabled']:
                continue
            applies_to, condition = rule['_applies_fn'], rule['_condition_fn']
            kinds = rule['_kinds']
            candidates = assets if kinds is None else [a for kind in kinds for a in grouped.get(kind, ())]
            applied, failed, waived, passed = 0, 0, 0, []
            rule_waivers = waived_rules.get(rule['id'])
            for asset in candidates:
                field = 'applies_to'
                try:
                    hit = applies_to(asset)
                    # JMESPath truthiness, inlined (hot loop): false, null, "", [], {} are false; 0 is true.
                    if hit is not True and (hit is None or hit is False or hit == '' or hit == [] or hit == {}):
                        continue
                    applied += 1
                    field = 'condition'
                    held = condition(asset)
                except (JMESPathError, TypeError) as exc:  # TypeError: e.g. ordering a string against a number
                    _fail(rule, asset, field, exc)
                if held is not True and (held is None or held is False or held == '' or held == [] or held == {}):
                    failed += 1
                    finding = make_finding(rule, asset, pack)
                    waiver = rule_waivers and waiver_rules.find(rule_waivers, asset, today)
                    if waiver:
                        finding['waiver'] = waiver_rules.describe(waiver, today)
                        finding['waived'] = not finding['waiver']['expired']
                        waived += finding['waived']
                    findings.append(finding)
                else:
                    passed.append(asset['id'])
            results.append({'rule_id': rule['id'], 'title': rule['title'], 'severity': rule['severity'],
                            'references': rule['references'], 'applied': applied, 'failed': failed, 'waived': waived,
                            'passed_assets': passed, 'description': rule['description'],
                            'rationale': rule['rationale'], 'remediation': rule.get('remediation')})
    findings.sort(key=lambda item: (-severity_rank(item['severity']), item['rule_id'], item['asset_id']))
    return findings, results


def summarize(findings, assets, fail_on=None):
    """Counts by severity of unwaived findings, waived ones apart, and whether any unwaived one reaches fail_on."""
    by_severity = dict((severity, 0) for severity in SEVERITIES)
    waived = 0
    for finding in findings:
        if finding['waived']:
            waived += 1
        else:
            by_severity[finding['severity']] += 1
    threshold_hit = fail_on is not None and any(
        count for severity, count in by_severity.items() if severity_rank(severity) >= severity_rank(fail_on))
    return {
        'assets': len(assets),
        'findings': sum(by_severity.values()),
        'by_severity': by_severity,
        'waived': waived,
        'compliant': not any(by_severity.values()),
        'fail_on': fail_on,
        'threshold_exceeded': threshold_hit,
    }
