# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AI estate as an inventory: machines with their assets, and the groups they belong to.

Input is what the asset store holds (asset_store.read_inventory); the
registry match and the policy evaluation are recomputed on every build, so
an edited registry or pack shows at once, even from a cached store read.
"""

from __future__ import annotations

import re

from ansible_collections.aigov.core.plugins.module_utils.policy import policy
from ansible_collections.aigov.core.plugins.module_utils.store import registry

GROUP_PREFIX = 'aigov_'
_UNSAFE = re.compile(r'[^A-Za-z0-9_]')


def group_name(*parts):
    """aigov_<part>_<part>, with every character Ansible would warn about replaced by '_'."""
    return _UNSAFE.sub('_', GROUP_PREFIX + '_'.join(str(part) for part in parts)).lower()


def _asset(row, reg):
    record = dict(row['record'], first_seen=row['first_seen'], last_seen=row['last_seen'])
    if row.get('removed_at'):
        record['removed_at'] = row['removed_at']
    record['registry'] = registry.match(reg, record)
    return record


def _host_vars(host, assets, findings):
    current = [asset for asset in assets if not asset.get('removed_at')]  # removed ones are history, not state
    matches = [asset['registry'] for asset in current]
    counts = {}
    for asset in current:
        counts[asset['kind']] = counts.get(asset['kind'], 0) + 1
    by_severity = dict((severity, 0) for severity in policy.SEVERITIES)
    for finding in findings:
        if not finding['waived']:
            by_severity[finding['severity']] += 1
    hostvars = {
        'ai_assets': assets,
        'aigov_asset_counts': counts,
        'aigov_risk_tiers': sorted(set(m['risk_tier'] for m in matches if m['risk_tier'])),
        'aigov_owners': sorted(set(owner for m in matches for owner in m['owners'].values())),
        'aigov_environments': sorted(set(m['environment'] for m in matches if m['environment'])),
        'aigov_use_cases': sorted(set(m['use_case'] for m in matches if m['use_case'])),
        'aigov_shadow_assets': sum(1 for m in matches if m['shadow']),
        'aigov_findings': [dict((key, finding[key]) for key in ('rule_id', 'severity', 'asset_id', 'title', 'waived'))
                           for finding in findings],
        'aigov_findings_by_severity': by_severity,
        'aigov_compliant': not any(by_severity.values()),  # as ai_policy_check: waived findings do not count
        'aigov_host': host['host'],
        'aigov_last_scan': host['last_scan'],
        'aigov_scan_problems': host['problems'],
    }
    if host.get('address'):
        hostvars['ansible_host'] = host['address']
    return hostvars


def _groups(hostvars, evaluated):
    groups = [group_name('kind', kind) for kind in hostvars['aigov_asset_counts']]
    groups += [group_name('risk', tier) for tier in hostvars['aigov_risk_tiers']]
    groups += [group_name('owner', owner) for owner in hostvars['aigov_owners']]
    groups += [group_name('env', environment) for environment in hostvars['aigov_environments']]
    if hostvars['aigov_shadow_assets']:
        groups.append(group_name('shadow'))
    if evaluated:
        groups.append(group_name('compliant' if hostvars['aigov_compliant'] else 'noncompliant'))
    return sorted(set(groups))


def build(data, reg, packs, waivers=None, regions=None):
    """Return [(inventory hostname, host vars, group names)] sorted by host name.

    packs may be empty: then no compliance state is computed (no
    aigov_compliant/aigov_noncompliant group, aigov_compliant is null).
    waivers: as policy.load_waivers returns them (default: the packs' own).
    regions: inventory hostname -> region where its assets run, for assets
    that carry none (data-residency rules), as ai_policy_check takes it from
    the host variable aigov_region.
    """
    assets_by_host = {}
    for row in data['assets']:
        asset = _asset(row, reg)
        if not asset.get('region') and (regions or {}).get(row['inventory_hostname']):
            asset['region'] = regions[row['inventory_hostname']]
        assets_by_host.setdefault(row['inventory_hostname'], []).append(asset)
    everything = [asset for assets in assets_by_host.values() for asset in assets if not asset.get('removed_at')]
    findings_by_host = {}
    if packs:
        findings, _results = policy.evaluate(packs, everything, waivers)
        for finding in findings:
            findings_by_host.setdefault(finding['inventory_hostname'], []).append(finding)
    built = []
    for host in sorted(data['hosts'], key=lambda item: item['inventory_hostname']):
        name = host['inventory_hostname']
        hostvars = _host_vars(host, assets_by_host.get(name, []), findings_by_host.get(name, []))
        if not packs:
            hostvars['aigov_compliant'] = None
        built.append((name, hostvars, _groups(hostvars, bool(packs))))
    return built
