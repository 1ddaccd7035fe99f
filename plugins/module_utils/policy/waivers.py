# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waivers (exceptions): a named owner accepts a rule's finding on some assets until a date.

A waiver names the rule, the assets (registry-style selectors, matched by
registry.selector_matches: one home for selectors), an owner, a reason and
an expiry date. It lives in a pack's `exceptions:` list or in an exceptions
file (docs/policy-packs.md, "Waivers"). A waiver applies through its expiry
date (UTC); after it, the finding counts again and the waiver is reported as
expired, so nothing is silently accepted forever.
"""

from __future__ import annotations

import datetime

from ansible_collections.aigov.core.plugins.module_utils.store import registry
from ansible_collections.aigov.core.plugins.module_utils.common.data_file_loader import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError

EXCEPTIONS_SCHEMA_VERSIONS = (1,)
_KEYS = ('rule', 'assets', 'owner', 'reason', 'expires')


def _expiry(value):
    """The ISO date of an expiry (YAML gives a date for an unquoted 2026-12-31), or None."""
    if isinstance(value, datetime.datetime):
        return None  # a timestamp is not a date: refuse rather than guess a time zone
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.datetime.strptime(value, '%Y-%m-%d').date().isoformat()
        except ValueError:
            return None
    return None


def check_waivers(entries, source, problems, field='exceptions'):
    """Validate a list of waivers; return them normalised (each with its source and index)."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        problems.append('%s must be a list of waivers' % field)
        return []
    checked = []
    for index, entry in enumerate(entries):
        where = '%s[%d]' % (field, index)
        if not isinstance(entry, dict):
            problems.append('%s: must be a mapping with %s' % (where, ', '.join(_KEYS)))
            continue
        where = '%s (rule %s)' % (where, entry.get('rule'))
        before = len(problems)
        for key in sorted(set(entry) - set(_KEYS)):
            problems.append('%s: unknown key %r (known: %s)' % (where, key, ', '.join(_KEYS)))
        for key in ('rule', 'owner', 'reason'):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                problems.append('%s: %s must be a non-empty string' % (where, key))
        expires = _expiry(entry.get('expires'))
        if expires is None:
            problems.append('%s: expires must be an ISO date (YYYY-MM-DD), got %r' % (where, entry.get('expires')))
        registry.check_selectors(entry.get('assets'), where, problems)
        if len(problems) == before:
            checked.append({'rule': entry['rule'], 'assets': entry['assets'], 'owner': entry['owner'],
                            'reason': entry['reason'], 'expires': expires, 'source': source, 'index': index})
    return checked


def load_exceptions(path):
    """Load and validate an exceptions file; raise DataFileError listing every problem."""
    data, _digest = load_yaml_mapping(path, 'exceptions')
    problems = []
    check_schema_version(data, EXCEPTIONS_SCHEMA_VERSIONS, problems)
    for key in sorted(set(data) - set(('schema_version', 'exceptions'))):
        problems.append('unknown key %r (known: schema_version, exceptions)' % key)
    if not isinstance(data.get('exceptions'), list):
        problems.append('exceptions must be a list of waivers')
    waivers = check_waivers(data.get('exceptions'), path, problems)
    if problems:
        raise DataFileError(path, problems)
    return waivers


def check_rule_ids(waivers, rule_ids):
    """Refuse waivers of rules no loaded pack defines (a typo would silently waive nothing)."""
    problems = {}
    for waiver in waivers:
        if waiver['rule'] not in rule_ids:
            problems.setdefault(waiver['source'], []).append(
                'exceptions[%d] (rule %s): no loaded policy pack defines this rule' % (waiver['index'], waiver['rule']))
    for source, found in sorted(problems.items()):
        raise DataFileError(source, found)


def by_rule(waivers):
    """Index waivers by rule id."""
    indexed = {}
    for waiver in waivers:
        indexed.setdefault(waiver['rule'], []).append(waiver)
    return indexed


def today_utc():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def find(waivers, asset, today):
    """The waiver that covers this asset: an active one first, else an expired one, else None."""
    expired = None
    for waiver in waivers:
        if any(registry.selector_matches(selector, asset) for selector in waiver['assets']):
            if waiver['expires'] >= today:
                return waiver
            expired = expired or waiver
    return expired


def describe(waiver, today):
    """What a finding records of its waiver (no selectors: they are in the waiver's file)."""
    return {'owner': waiver['owner'], 'reason': waiver['reason'], 'expires': waiver['expires'],
            'expired': waiver['expires'] < today, 'source': '%s#exceptions[%d]' % (waiver['source'], waiver['index'])}


def status(waivers, findings, today):
    """Each waiver with whether it is active or expired and how many findings it covers."""
    covered = {}
    for finding in findings:
        if finding.get('waiver'):
            covered[finding['waiver']['source']] = covered.get(finding['waiver']['source'], 0) + 1
    report = []
    for waiver in waivers:
        source = '%s#exceptions[%d]' % (waiver['source'], waiver['index'])
        report.append({'rule': waiver['rule'], 'owner': waiver['owner'], 'reason': waiver['reason'],
                       'expires': waiver['expires'], 'source': source,
                       'status': 'expired' if waiver['expires'] < today else 'active', 'findings': covered.get(source, 0)})
    return report
