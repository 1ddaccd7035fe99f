# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baseline findings from the rotation side: stale agent secrets, one secret shared by several agents,
and agent secrets found in plaintext outside the backend.

Read-only. Each agent's current secret (and the fingerprint recorded for its
short-lived credential) is read from the backend, turned into an HMAC
fingerprint and dropped; discovered credential assets (aigov.core.ai_asset_facts,
the asset store) carry fingerprints under the same key, so equal fingerprints
mean the same secret. Findings have the collection's finding shape
(schemas/finding.v1.json) so aigov.core.ai_report renders them with the
policy findings.
"""

from __future__ import annotations

import datetime
import json

from ansible_collections.aigov.core.plugins.module_utils.policy import frameworks, policy
from ansible_collections.aigov.core.plugins.module_utils.secrets.agent_secret import default_path, parse_max_age
from ansible_collections.aigov.core.plugins.module_utils.store.assets import make_asset
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import SecretBackendError, SecretNotFound, parse_time
from ansible_collections.aigov.core.plugins.module_utils.secrets.short_lived_credentials import default_record_path

PACK = 'aigov.core/agent-secrets'
# Cited like a pack's rules and checked against the same catalogues (frameworks/, check_references()).
RULES = dict(
    stale={'rule_id': 'AIGOV-AS-001', 'severity': 'medium', 'title': 'Agent secret older than its maximum age',
           'references': {'owasp-agentic-2026': ['ASI03 Identity and Privilege Abuse'], 'nist-csf-2.0': ['PR.AA-01'],
                          'iso-42001': ['A.6.2.6']},
           'description': 'The current version of an agent secret in the backend is older than max_age.',
           'rationale': 'A long-lived secret gives whoever copied it a long window; rotation bounds the damage of a leak.',
           'remediation': {'id': 'rotate_agent_secret', 'automatable': True, 'disruptive': True,
                           'guidance': 'Rotate it with ansible-playbook aigov.core.rotate_agent_secrets, or move the agent '
                                       'to a short-lived credential (credential_type vault_token or approle_secret_id).'}},
    shared={'rule_id': 'AIGOV-AS-002', 'severity': 'high', 'title': 'One secret used by several agents',
            'references': {'owasp-agentic-2026': ['ASI03 Identity and Privilege Abuse'],
                           'nist-csf-2.0': ['PR.AA-01', 'PR.AA-02'], 'iso-42001': ['A.6.2.6']},
            'description': 'Several agents hold a secret with the same fingerprint.',
            'rationale': 'A shared secret cannot be rotated or revoked for one agent without breaking the others, and '
                         'the audit trail cannot tell the agents apart.',
            'remediation': {'id': 'split_agent_secret', 'automatable': True, 'disruptive': True,
                            'guidance': 'Rotate each of these agents (agent_secret_rotation_force) so that each holds '
                                        'its own secret.'}},
    plaintext={'rule_id': 'AIGOV-AS-003', 'severity': 'high', 'title': 'Agent secret in plaintext outside the backend',
               'references': {'owasp-agentic-2026': ['ASI03 Identity and Privilege Abuse'],
                              'owasp-llm-2025': ['LLM02:2025 Sensitive Information Disclosure'],
                              'nist-csf-2.0': ['PR.AA-01', 'PR.DS-01'], 'iso-42001': ['A.6.2.6']},
               'description': 'A credential discovered on a host has the fingerprint of an agent secret but is not the '
                              "agent's delivered environment file.",
               'rationale': 'A copy outside the backend and the delivered file survives rotation planning, is not '
                            'owned by anyone and leaks with the file or process that holds it.',
               'remediation': {'id': 'remove_plaintext_secret', 'automatable': False, 'disruptive': True,
                               'guidance': 'Remove the copy (or move it with aigov.core.ai_secret_move), then rotate '
                                           'the agent secret, since the copy must be taken as leaked.'}},
)


class FindingsError(AigovError):
    """The findings could not be computed; the message names the agent or the input."""


def check_references():
    """Raise AigovError unless every rule cites only controls of the bundled framework catalogues."""
    for kind in sorted(RULES):
        frameworks.require_references(RULES[kind]['references'], RULES[kind]['rule_id'])


def normalize_agents(agents):
    """[{name, path, record_path, host, env_file, owner}] from names or dicts; errors name the entry."""
    result = []
    for index, item in enumerate(agents or []):
        item = {'name': item} if isinstance(item, str) else item
        if not isinstance(item, dict) or not isinstance(item.get('name'), str) or not item['name']:
            raise FindingsError('agents[%d] must be an agent name or a dict with a name, got %r' % (index, item))
        result.append(dict(name=item['name'], path=item.get('path') or default_path(item['name']),
                           record_path=item.get('record_path') or default_record_path(item['name']),
                           host=item.get('host'), env_file=item.get('env_file'), owner=item.get('owner')))
    return result


def agents_in_backend(backend, prefix='agents'):
    """The agent names under prefix/ (a secret, or a folder holding a short-lived credential record)."""
    try:
        return sorted(set(name.rstrip('/') for name in backend.list(prefix)))
    except SecretBackendError as exc:
        raise FindingsError('listing the agents: %s; pass agents explicitly' % exc)


def _secret_state(backend, agent, key, now):
    """{fingerprints, version, age_days} of the agent's static secret and short-lived credential; {} parts when absent."""
    state = dict(fingerprints=[], version=None, age_days=None, created_time=None)
    try:
        current = backend.read(agent['path'])
        state['fingerprints'].append(fingerprint(current.value, key))
        state.update(version=current.version, created_time=current.created_time,
                     age_days=round((now - parse_time(current.created_time)).total_seconds() / 86400.0, 2))
    except SecretNotFound:
        pass
    try:
        record = json.loads(backend.read(agent['record_path']).value)
        mark = ((record.get('current') or {}) if isinstance(record, dict) else {}).get('fingerprint')
        if mark:
            state['fingerprints'].append(mark)
    except SecretNotFound:
        pass
    except ValueError:
        pass  # not a credential record: agent_credential reports it when it is used
    return state


def _secret_asset(backend, agent, state):
    """The agent's secret as an asset record (kind agent_secret), the subject of stale and shared findings."""
    attributes = dict(path=agent['path'], version=state['version'], age_days=state['age_days'],
                      fingerprints=state['fingerprints'], owner=agent['owner'], backend=backend.kind)
    evidence = [{'type': 'secret_backend', 'location': backend.description, 'path': agent['path']}]
    asset = make_asset('agent_secret', agent['host'], None, (backend.description, agent['path']), agent['name'],
                       attributes, evidence, confidence='declared')
    asset['inventory_hostname'] = agent['host']
    return asset


def _finding(kind, asset, extra_evidence=()):
    rule = dict(RULES[kind], id=RULES[kind]['rule_id'])
    subject = dict(asset, evidence=list(asset.get('evidence', [])) + list(extra_evidence))
    return policy.make_finding(rule, subject, dict(name=PACK))


def evaluate(backend, agents, credential_assets, max_age=None, fingerprint_key=None, now=None):
    """(findings, rules): rules in ai_policy_check's per-rule result shape, counting what each rule looked at."""
    check_references()
    key, now = fingerprint_key or DEFAULT_FINGERPRINT_KEY, now or datetime.datetime.now(datetime.timezone.utc)
    max_days = parse_max_age(max_age) / 86400.0 if max_age else None
    states, assets = [], []
    for agent in normalize_agents(agents):
        try:
            state = _secret_state(backend, agent, key, now)
        except SecretBackendError as exc:
            raise FindingsError('agent %s: %s' % (agent['name'], exc))
        states.append((agent, state))
        assets.append(_secret_asset(backend, agent, state))
    findings, counts = [], dict((kind, dict(applied=0, failed=0, passed=[])) for kind in RULES)

    def judge(kind, asset, failed, evidence=()):
        counts[kind]['applied'] += 1
        if failed:
            counts[kind]['failed'] += 1
            findings.append(_finding(kind, asset, evidence))
        else:
            counts[kind]['passed'].append(asset['id'])

    owners = {}
    for agent, state in states:
        for mark in set(state['fingerprints']):
            owners.setdefault(mark, []).append(agent['name'])
    for (agent, state), asset in zip(states, assets):
        if max_days is not None and state['age_days'] is not None:
            judge('stale', asset, state['age_days'] > max_days)
        if state['fingerprints']:
            others = sorted(set(name for mark in state['fingerprints'] for name in owners[mark]) - {agent['name']})
            judge('shared', asset, bool(others), [{'type': 'shared_with', 'agents': others}] if others else ())
    by_mark = dict((mark, [a for a, s in states if mark in s['fingerprints']]) for mark in owners)
    for asset in credential_assets or []:
        if asset.get('kind') != 'credential':
            continue
        mark = (asset.get('attributes') or {}).get('fingerprint')
        holders = by_mark.get(mark, [])
        if not holders:
            continue
        location = (asset.get('attributes') or {}).get('location')
        where = set((asset.get('inventory_hostname'), asset.get('host')))
        delivered = any(agent['env_file'] == location and agent['host'] in where for agent in holders)
        judge('plaintext', asset, not delivered, [{'type': 'agent_secret', 'agents': sorted(a['name'] for a in holders)}])
    findings.sort(key=lambda item: (-policy.severity_rank(item['severity']), item['rule_id'], item['asset_id']))
    rules = [dict(rule_id=RULES[kind]['rule_id'], title=RULES[kind]['title'], severity=RULES[kind]['severity'],
                  references=RULES[kind]['references'], applied=counts[kind]['applied'], failed=counts[kind]['failed'], waived=0,
                  passed_assets=counts[kind]['passed'], description=RULES[kind]['description'],
                  rationale=RULES[kind]['rationale'], remediation=RULES[kind]['remediation']) for kind in RULES]
    return findings, rules


def merge_into_check(check, findings, rules):
    """An ai_policy_check result with these findings and rules added and its summary recounted, for ai_report."""
    merged = dict(check)
    merged['findings'] = list(check['findings']) + findings
    merged['rules'] = list(check['rules']) + rules
    summary = dict(check['summary'])
    summary.update(policy.summarize(merged['findings'], merged['assets'], check['summary'].get('fail_on')))
    merged['summary'] = summary
    return merged
