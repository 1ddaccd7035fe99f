# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The baseline role's decisions: which findings of a host get which remediation.

plan() turns the findings of a policy check (and the assets they are about)
into per-remediation targets for one host, and the list of what is skipped and
why; outcome() compares that plan with the findings of the post-check. Both are
plain data in, plain data out (the role calls them through filters), so the
rules of "what runs" live here once, testable without Ansible.
"""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

MODES = ('audit', 'enforce')
# The remediations the role implements, and the asset kinds each can act on.
REMEDIATIONS = {
    'bind_loopback': ('model_server', 'vector_db'),
    'disable_dev_mode': ('model_server', 'vector_db'),
    'fix_model_file_mode': ('model_artifact',),
    'quarantine_model_file': ('model_artifact',),
    'restrict_credential_file': ('credential',),
    'move_plaintext_secret': ('credential', 'mcp_server'),
}
_FILE_SOURCES = ('env_file', 'token_file', 'mcp_config')


def _service_target(asset):
    attrs = asset.get('attributes') or {}
    return {'key': asset['id'], 'asset_id': asset['id'], 'name': asset.get('name'), 'kind': asset['kind'],
            'product': attrs.get('product'), 'pids': attrs.get('pids') or [],
            'start_times': attrs.get('start_times') or {}, 'cmdline': attrs.get('cmdline') or [],
            'executable': attrs.get('executable'), 'dev_mode': attrs.get('dev_mode') or [],
            'listeners': attrs.get('listeners') or []}


def _artifact_target(asset):
    attrs = asset.get('attributes') or {}
    return {'key': attrs.get('path'), 'path': attrs.get('path'), 'sha256': attrs.get('sha256'), 'mode': attrs.get('mode')}


def _credential_file_target(asset):
    attrs = asset.get('attributes') or {}
    if attrs.get('source') not in _FILE_SOURCES:
        return None  # a key in a process environment or argv has no file to fix
    return {'key': attrs['location'], 'path': attrs['location']}


def _secret_target(asset):
    attrs = asset.get('attributes') or {}
    if asset['kind'] == 'mcp_server':
        if attrs.get('running') or not attrs.get('config'):
            return None
        variables = [item['variable'] for item in attrs.get('credentials') or []]
        return {'key': attrs['config'], 'path': attrs['config'], 'format': 'mcp_config', 'variables': variables}
    if attrs.get('source') == 'env_file':
        return {'key': attrs['location'], 'path': attrs['location'], 'format': 'env_file', 'variables': [attrs.get('variable')]}
    if attrs.get('source') == 'mcp_config':
        return {'key': attrs['location'], 'path': attrs['location'], 'format': 'mcp_config', 'variables': [attrs.get('variable')]}
    return None


_TARGETS = {
    'bind_loopback': _service_target,
    'disable_dev_mode': _service_target,
    'fix_model_file_mode': _artifact_target,
    'quarantine_model_file': _artifact_target,
    'restrict_credential_file': _credential_file_target,
    'move_plaintext_secret': _secret_target,
}


def _check_options(mode, rules_disabled, remediations_disabled):
    if mode not in MODES:
        raise AigovError("aigov_baseline_mode must be one of %s, got %r" % (', '.join(MODES), mode))
    unknown = sorted(set(remediations_disabled) - set(REMEDIATIONS))
    if unknown:
        raise AigovError('aigov_baseline_remediations_disabled names unknown remediations %s (known: %s)'
                         % (', '.join(unknown), ', '.join(sorted(REMEDIATIONS))))
    if not all(isinstance(rule, str) for rule in rules_disabled):
        raise AigovError('aigov_baseline_rules_disabled must be a list of rule ids')


def _skip(finding, reason, detail):
    remediation = finding.get('remediation') or {}
    return {'finding_id': finding['id'], 'rule_id': finding['rule_id'], 'asset_id': finding['asset_id'],
            'asset_name': finding.get('asset_name'), 'remediation': remediation.get('id'), 'reason': reason, 'detail': detail}


def _merge(targets, remediation, target, finding):
    """One action per (remediation, target): two rules asking for the same fix share it."""
    bucket = targets.setdefault(remediation, {})
    entry = bucket.setdefault(target['key'], dict(target, rule_ids=[], finding_ids=[]))
    entry['rule_ids'] = sorted(set(entry['rule_ids']) | {finding['rule_id']})
    entry['finding_ids'] = sorted(set(entry['finding_ids']) | {finding['id']})
    if 'variables' in target:
        entry['variables'] = sorted(set(entry['variables']) | set(v for v in target['variables'] if v))


def plan(findings, assets, host, mode='audit', rules_disabled=(), remediations_disabled=(), allow_disruptive=False):
    """Return {mode, remediate: {remediation id: [target]}, skipped: [...], findings: [ids]} for HOST.

    A finding is remediated when it is on HOST, not waived, its rule is not
    disabled, its remediation is automatable, implemented here, not disabled,
    and either not disruptive or disruptive remediations are allowed. Every
    other finding of HOST is listed in skipped with the reason. In audit mode
    the targets are what enforce mode would do.
    """
    rules_disabled, remediations_disabled = list(rules_disabled or ()), list(remediations_disabled or ())
    _check_options(mode, rules_disabled, remediations_disabled)
    by_id = dict((asset['id'], asset) for asset in assets or ())
    targets, skipped, ids = {}, [], []
    for finding in findings or ():
        if finding.get('inventory_hostname') != host:
            continue
        ids.append(finding['id'])
        remediation = finding.get('remediation') or {}
        rid = remediation.get('id')
        if finding.get('waived'):
            skipped.append(_skip(finding, 'waived', 'a waiver covers this finding'))
        elif finding['rule_id'] in rules_disabled:
            skipped.append(_skip(finding, 'disabled', 'rule disabled by aigov_baseline_rules_disabled'))
        elif not rid or not remediation.get('automatable'):
            skipped.append(_skip(finding, 'manual', remediation.get('guidance') or 'the rule has no automatable remediation'))
        elif rid not in REMEDIATIONS:
            skipped.append(_skip(finding, 'unsupported', 'remediation %s is not implemented by aigov.core.ai_baseline' % rid))
        elif rid in remediations_disabled:
            skipped.append(_skip(finding, 'disabled', 'remediation disabled by aigov_baseline_remediations_disabled'))
        elif remediation.get('disruptive') and not allow_disruptive:
            skipped.append(_skip(finding, 'disruptive', 'disruptive remediation; set aigov_baseline_allow_disruptive to run it'))
        else:
            asset = by_id.get(finding['asset_id'])
            target = _TARGETS[rid](asset) if asset and asset['kind'] in REMEDIATIONS[rid] else None
            if not target or not target.get('key'):
                skipped.append(_skip(finding, 'no_target', 'remediation %s cannot act on this %s' % (rid, finding['asset_kind'])))
            else:
                _merge(targets, rid, target, finding)
    remediate = dict((rid, [bucket[key] for key in sorted(bucket)]) for rid, bucket in sorted(targets.items()))
    return {'mode': mode, 'host': host, 'remediate': remediate, 'skipped': skipped, 'findings': sorted(ids)}


def outcome(before, after_findings, host, actions=None):
    """Compare a plan with the post-check's findings of HOST.

    Returns {fixed, remaining, skipped, changed, actions}: fixed lists the
    planned targets whose findings are all gone, remaining every unwaived
    finding of HOST still open (with whether it was planned). actions are the
    per-target results the role collected (changed or not), passed through.
    """
    open_ids = set(f['id'] for f in after_findings or () if f.get('inventory_hostname') == host and not f.get('waived'))
    fixed, planned = [], set()
    for rid, targets in sorted(before['remediate'].items()):
        for target in targets:
            planned.update(target['finding_ids'])
            if not open_ids.intersection(target['finding_ids']):
                fixed.append({'remediation': rid, 'target': target['key'], 'rule_ids': target['rule_ids']})
    remaining = [{'finding_id': f['id'], 'rule_id': f['rule_id'], 'asset_id': f['asset_id'], 'asset_name': f.get('asset_name'),
                  'planned': f['id'] in planned}
                 for f in after_findings or () if f['id'] in open_ids]
    actions = list(actions or ())
    return {'mode': before['mode'], 'host': host, 'fixed': fixed, 'remaining': remaining, 'skipped': before['skipped'],
            'changed': sum(1 for action in actions if action.get('changed')), 'actions': actions}
