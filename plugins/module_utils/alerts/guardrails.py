# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guardrails: the governance decision for a proposed remediation.

One source of truth for the EDA event source, the rulebook's playbooks and
anything else that must decide whether an action may run unattended:

  reject    the asset is unknown or out of the policy's scope: record only
  escalate  risk or uncertainty is high, a freeze is on, or a limit is hit
  review    the consequence is meaningful but recoverable: a human approves
  automate  confidence and risk are within the policy's limits

The most restrictive verdict any check reaches wins; every check that
contributed says why in `reasons`. The guardrail policy is data
(docs/guardrails.md), validated in full before it is used.
"""

from __future__ import annotations

import datetime
import fnmatch
import re

from ansible_collections.aigov.core.plugins.module_utils.common.data_file_loader import check_schema_version, load_yaml_mapping
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError

GUARDRAIL_SCHEMA_VERSIONS = (1,)
DECISION_SCHEMA_VERSION = 1
DECISIONS = ('automate', 'review', 'escalate', 'reject')  # in order of restriction
TIERS = ('minimal', 'limited', 'high', 'prohibited')
EXCEPTIONS = ('unknown_asset', 'out_of_scope', 'freeze', 'rate_limit', 'blast_radius')
DAYS = ('mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun')
SCOPE_KEYS = ('kind', 'use_case', 'environment', 'inventory_hostname')
_TIER_KEYS = ('automate_min_confidence', 'review_min_confidence', 'disruptive')
_DISRUPTIVE = ('automate', 'review', 'escalate')


def _confidence(value, where, problems, allow_none):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        problems.append('%s must be a number from 0 to 1%s, got %r' % (where, ' or null (never)' if allow_none else '', value))


def _check_tiers(tiers, problems):
    if not isinstance(tiers, dict) or set(tiers) != set(TIERS + ('unregistered',)):
        problems.append('tiers must map each of %s to its limits' % ', '.join(TIERS + ('unregistered',)))
        return
    for tier, limits in tiers.items():
        where = 'tiers.%s' % tier
        if not isinstance(limits, dict) or set(limits) - set(_TIER_KEYS):
            problems.append('%s must be a mapping of %s' % (where, ', '.join(_TIER_KEYS)))
            continue
        _confidence(limits.get('automate_min_confidence'), where + '.automate_min_confidence', problems, True)
        _confidence(limits.get('review_min_confidence'), where + '.review_min_confidence', problems, True)
        if limits.get('disruptive', 'review') not in _DISRUPTIVE:
            problems.append('%s.disruptive must be one of %s' % (where, ', '.join(_DISRUPTIVE)))


def _clock(value):
    hours, minutes = value.split(':')
    if len(hours) != 2 or len(minutes) != 2 or not 0 <= int(hours) <= 23 or not 0 <= int(minutes) <= 59:
        raise ValueError(value)
    return int(hours) * 60 + int(minutes)


def _parse_time(value):
    parsed = datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    if parsed.tzinfo is None:
        raise ValueError('%s has no time zone' % value)
    return parsed


def _check_freezes(freezes, problems):
    if not isinstance(freezes, list):
        problems.append('freeze_windows must be a list')
        return
    for index, window in enumerate(freezes):
        where = 'freeze_windows[%d] (%s)' % (index, window.get('name') if isinstance(window, dict) else None)
        if not isinstance(window, dict) or not isinstance(window.get('name'), str):
            problems.append('%s must be a mapping with a name' % where)
            continue
        try:
            if 'start' in window or 'end' in window:
                if _parse_time(window['start']) >= _parse_time(window['end']):
                    problems.append('%s: start must be before end' % where)
            else:
                days = window.get('days')
                if not isinstance(days, list) or not days or set(days) - set(DAYS):
                    problems.append('%s: days must be a list of %s' % (where, ', '.join(DAYS)))
                _clock(window['from'])
                _clock(window['to'])
        except (KeyError, TypeError, ValueError) as exc:
            problems.append('%s: give start and end (ISO 8601 with time zone), or days, from and to (HH:MM, UTC): %s'
                            % (where, exc))


def _check_limits(limits, problems):
    if not isinstance(limits, dict):
        problems.append('limits must be a mapping')
        return
    for key in ('max_actions_per_asset_per_hour', 'max_hosts_per_action'):
        value = limits.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append('limits.%s must be a whole number of at least 1, got %r' % (key, value))


def _check_scope(scope, problems):
    if not isinstance(scope, list):
        problems.append('scope must be a list of selectors (%s)' % ', '.join(SCOPE_KEYS))
        return
    for index, selector in enumerate(scope):
        if not isinstance(selector, dict) or not selector or set(selector) - set(SCOPE_KEYS) or \
                not all(isinstance(value, str) and value for value in selector.values()):
            problems.append('scope[%d] must be a non-empty mapping of %s to glob strings' % (index, ', '.join(SCOPE_KEYS)))


def load_guardrails(path):
    """Load and fully validate a guardrail policy; raise DataFileError listing every problem."""
    data, digest = load_yaml_mapping(path, 'guardrail policy')
    problems = []
    check_schema_version(data, GUARDRAIL_SCHEMA_VERSIONS, problems)
    if not isinstance(data.get('name'), str) or not data['name']:
        problems.append('name must be a non-empty string')
    _check_tiers(data.get('tiers'), problems)
    _check_freezes(data.get('freeze_windows', []), problems)
    _check_limits(data.get('limits'), problems)
    _check_scope(data.get('scope', [{'kind': '*'}]), problems)
    unknown = sorted(set(data) - set(('schema_version', 'name', 'description', 'tiers', 'freeze_windows', 'limits', 'scope')))
    if unknown:
        problems.append('unknown key(s): %s' % ', '.join(unknown))
    if problems:
        raise DataFileError(path, problems)
    scope = data.get('scope', [{'kind': '*'}])
    compiled = [[(key, re.compile(fnmatch.translate(pattern))) for key, pattern in selector.items()] for selector in scope]
    freezes = data.get('freeze_windows', [])
    return dict(data, path=path, sha256=digest, scope=scope, freeze_windows=freezes,
                _scope=compiled, _scope_cache={}, _freezes=[_compile_freeze(window) for window in freezes])


def _compile_freeze(window):
    """A validated freeze window with its times parsed once: (name, start, end) or (name, days, from, to)."""
    if 'start' in window:
        return (window['name'], _parse_time(window['start']), _parse_time(window['end']))
    return (window['name'], frozenset(DAYS.index(day) for day in window['days']), _clock(window['from']), _clock(window['to']))


def active_freeze(policy, now):
    """The name of the freeze window `now` (aware datetime) falls in, or None."""
    utc = now.astimezone(datetime.timezone.utc)
    minute = utc.hour * 60 + utc.minute
    for window in policy['_freezes']:
        if len(window) == 3:
            if window[1] <= utc < window[2]:
                return window[0]
        elif utc.weekday() in window[1]:
            start, end = window[2], window[3]
            if start <= minute <= end if start <= end else (minute >= start or minute <= end):
                return window[0]
    return None


def in_scope(policy, subject):
    """True when a scope selector matches the subject's kind, use case, environment and host."""
    values = tuple(str(subject.get(key) or '') for key in SCOPE_KEYS)
    known = policy['_scope_cache'].get(values)
    if known is None:
        known = any(all(pattern.match(values[SCOPE_KEYS.index(key)]) for key, pattern in selector)
                    for selector in policy['_scope'])
        if len(policy['_scope_cache']) < 10000:  # bounded: subjects repeat, hosts do not grow without limit
            policy['_scope_cache'][values] = known
    return known


def decide(policy, subject, confidence, now, actions_last_hour=0, target_hosts=1, disruptive=False, action=None):
    """Return the decision record (schemas/decision.v1.json) for acting on subject.

    subject: the asset as the store and registry know it: {known, asset_id, kind,
    inventory_hostname, use_case, risk_tier, environment, shadow, owners}; known
    is False when no asset matched. confidence: 0..1 (None = unknown).
    actions_last_hour: actions already taken on this asset in the past hour.
    action: the proposed action (remediation.actions.propose): {alert, remediation, disruptive,
    hosts}; it sets target_hosts and disruptive, and the record names its remediation. An
    action without a remediation (nothing is mapped for the alert) is escalated, never automated.
    """
    if action is not None:
        target_hosts, disruptive = action['hosts'], action['disruptive']
    verdicts = []
    exceptions = []  # the policy's limits that held the action back (governance KPIs count them)

    def verdict(decision, reason, exception=None):
        verdicts.append((DECISIONS.index(decision), decision, reason))
        if exception:
            exceptions.append(exception)

    if action is not None and action['remediation'] is None:
        verdict('escalate', 'no remediation is mapped for alert %s' % action['alert'])
    if not subject.get('known'):
        verdict('reject', 'the asset is unknown to the asset store', 'unknown_asset')
    elif not in_scope(policy, subject):
        verdict('reject', 'the asset is out of the guardrail policy scope', 'out_of_scope')
    else:
        tier = 'unregistered' if subject.get('shadow') or not subject.get('risk_tier') else subject['risk_tier']
        limits = policy['tiers'][tier]
        automate_at, review_at = limits.get('automate_min_confidence'), limits.get('review_min_confidence')
        if confidence is None:
            verdict('escalate', 'the alert carries no confidence')
        elif review_at is None or confidence < review_at:
            verdict('escalate', 'risk tier %s: confidence %.2f is below what review needs (%s)' % (
                tier, confidence, 'never reviewable' if review_at is None else '%.2f' % review_at))
        elif automate_at is None or confidence < automate_at:
            verdict('review', 'risk tier %s: confidence %.2f is below what automation needs (%s)' % (
                tier, confidence, 'never automated' if automate_at is None else '%.2f' % automate_at))
        else:
            verdict('automate', 'risk tier %s: confidence %.2f is at least %.2f' % (tier, confidence, automate_at))
        if disruptive and limits.get('disruptive', 'review') != 'automate':
            verdict(limits.get('disruptive', 'review'), 'the action is disruptive; risk tier %s sends it to %s'
                    % (tier, limits.get('disruptive', 'review')))
        freeze = active_freeze(policy, now)
        if freeze:
            verdict('escalate', 'change freeze %r is in effect' % freeze, 'freeze')
        if actions_last_hour >= policy['limits']['max_actions_per_asset_per_hour']:
            verdict('escalate', '%d action(s) on this asset in the past hour reach the limit of %d' % (
                actions_last_hour, policy['limits']['max_actions_per_asset_per_hour']), 'rate_limit')
        if target_hosts > policy['limits']['max_hosts_per_action']:
            verdict('escalate', 'the action would touch %d hosts, more than the blast-radius limit of %d' % (
                target_hosts, policy['limits']['max_hosts_per_action']), 'blast_radius')
    rank = max(item[0] for item in verdicts)
    owners = dict(subject.get('owners') or {})
    record = {
        'schema_version': DECISION_SCHEMA_VERSION,
        'decision': DECISIONS[rank],
        'reasons': [reason for level, _name, reason in verdicts if level == rank],
        'considered': [reason for level, _name, reason in verdicts if level != rank],
        'exceptions': exceptions,
        'owners': owners,
        'accountable': owners.get('escalation' if DECISIONS[rank] == 'escalate' else 'decision'),
        'risk_tier': subject.get('risk_tier'),
        'confidence': confidence,
        'policy': {'name': policy['name'], 'sha256': policy['sha256']},
        'decided_at': _decided_at(now),
    }
    if action is not None:
        record['remediation'] = action['remediation']
    return record


def _decided_at(now):
    return now.astimezone(datetime.timezone.utc).isoformat(timespec='seconds')


def _subject_key(subject):
    """Everything of a subject a decision depends on (and repeats), hashable."""
    return (bool(subject.get('known')), subject.get('shadow'), subject.get('risk_tier'),
            tuple(str(subject.get(key) or '') for key in SCOPE_KEYS), tuple(sorted((subject.get('owners') or {}).items())))


class Decider(object):
    """decide() for a stream of alerts, each about one asset (the event source).

    A decision depends only on the subject, the confidence, the proposed action, the freeze window
    in effect, whether the hourly action limit is reached and the second it is made in: it is worked out once per
    such combination while the freeze window stays the same, and each second gets its own copy (decided_at),
    reused, the same dict (callers treat decisions as read-only). The freeze windows are looked at once per `now`
    the caller passes, not once per alert.
    """

    def __init__(self, policy, max_entries=10000):
        self.policy = policy
        self.max_entries = max_entries
        self._now, self._freeze, self._second, self._worked_out, self._known = None, None, None, {}, {}

    def decide(self, subject, confidence, now, actions_last_hour=0, action=None):
        """decide(policy, subject, confidence, now, actions_last_hour, action=action)."""
        if now is not self._now:
            freeze, second = active_freeze(self.policy, now), _decided_at(now)
            if freeze != self._freeze:  # every decision says so
                self._freeze, self._worked_out, self._known = freeze, {}, {}
            if second != self._second:
                self._second, self._known = second, {}
            self._now = now
        limit = self.policy['limits']['max_actions_per_asset_per_hour']
        key = (_subject_key(subject), confidence, actions_last_hour if actions_last_hour >= limit else None,
               None if action is None else (action['remediation'], action['disruptive'], action['hosts'],
                                            action['alert'] if action['remediation'] is None else None))
        decision = self._known.get(key)
        if decision is None:
            worked_out = self._worked_out.get(key)
            if worked_out is None:
                worked_out = decide(self.policy, subject, confidence, now, actions_last_hour=actions_last_hour, action=action)
                if len(self._worked_out) < self.max_entries:
                    self._worked_out[key] = worked_out
            decision = dict(worked_out, decided_at=self._second)
            if len(self._known) < self.max_entries:
                self._known[key] = decision
        return decision
