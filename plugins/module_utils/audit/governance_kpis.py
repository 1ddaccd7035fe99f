# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Governance KPIs computed from the audit log (docs/governance-report.md defines each one).

compute() reads the log once, as a stream: it checks the hash chain entry by
entry (the same rule as audit_verify) and keeps a small record of each entry
of the window that a KPI needs. A log whose chain does not hold still gets its
KPIs, but the report says `trusted: false` and names the first problem: figures
from a tampered log are never passed off as sound. Without an anchor the log is
`unanchored` (its end may have been cut) and not trusted either. A line that is not a JSON
audit entry is an error naming its line number.

Every entry is recognised and read through audit/entries.py (the audit vocabulary).
Links between entries: the event source's `decision` entry, the remediation's
`remediation.start` and `remediation.outcome` entries and the approval entries
all carry the alert fingerprint. An event (one decision) is (fingerprint,
received_at); an incident (one firing episode of an alert) is (fingerprint,
starts_at).
"""

from __future__ import annotations

import datetime
import math
import statistics

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_verify import Seals, links, state, verify
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.alerts import episodes
from ansible_collections.aigov.core.plugins.module_utils.common.database import display
from ansible_collections.aigov.core.plugins.module_utils.alerts.guardrails import EXCEPTIONS

SCHEMA_VERSION = 1
ACTIONABLE = ('automate', 'review', 'escalate')
DECISIONS = ACTIONABLE + ('reject',)
ROTATIONS = entries.ROTATIONS
GROUP_BY = ('owner', 'risk_tier', 'remediation', 'day', 'week', 'month')
# the guardrail limits, the escalated exits of remediations (episodes.EXCEPTIONS), and refused plans
EXCEPTION_KINDS = EXCEPTIONS + episodes.EXCEPTIONS + ('remediation_refused',)
REPAIRED_BY = ('automate', 'review')  # MTTR apart: repairs run by the automation, and those a human approved first
TOP_SOURCES = 20  # source addresses of refused requests named in the report (the busiest)
NONE_KEY = '(none)'  # the group of records that do not carry the grouping attribute


class GovernanceReportError(AigovError):
    """The window is invalid, or the audit log cannot be read as audit entries."""


def parse_time(value, where):
    """An aware datetime from ISO 8601 text (a date is its midnight, a naive time is UTC); the error names where."""
    try:
        parsed = datetime.datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise GovernanceReportError('%s: %r is not an ISO 8601 date or date and time' % (where, value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def _iso(moment):
    return None if moment is None else moment.astimezone(datetime.timezone.utc).isoformat()


def _period(moment, group_by):
    moment = moment.astimezone(datetime.timezone.utc)
    if group_by == 'day':
        return moment.strftime('%Y-%m-%d')
    if group_by == 'month':
        return moment.strftime('%Y-%m')
    year, week, _weekday = moment.isocalendar()
    return '%d-W%02d' % (year, week)


def _record(entry, moment):
    """The little a KPI needs of one entry (None when no KPI looks at it), read through audit/entries.py."""
    kind = entries.kind_of(entry)
    if kind is None or (kind == entries.DECISION and not entries.from_source(entry)) or kind == entries.APPROVAL_REQUESTED:
        return None
    seen = entries.read(entry)
    base = dict(time=moment, action=seen['action'], kind=kind, outcome=seen['outcome'], owner=seen['owner'],
                fingerprint=seen['fingerprint'], risk_tier=seen['risk_tier'], remediation=seen['remediation'],
                starts_at=seen['starts_at'], received_at=seen['received_at'], decision=seen['decision'])
    if kind == entries.DECISION:
        if seen['status'] != 'firing' or base['decision'] not in DECISIONS:
            return None
        return dict(base, exceptions=[e for e in seen['exceptions'] if e in EXCEPTION_KINDS])
    if kind == entries.APPROVAL_DECISION:
        return dict(base, verdict=seen['verdict'], proposed=seen['proposed_decision'])
    if kind == entries.RECORDED_OVERRIDE:
        return dict(base, override=seen['override'])
    if kind == entries.ALERT_INTAKE:
        if entry.get('actor') != entries.SOURCE_ACTOR:
            return None  # only the event source says what its requests lost
        return dict(base, refused=_count(seen['refused_count']), truncated=_count(seen['truncated_alerts']),
                    ignored=_count(seen['ignored']))
    if kind == entries.REFUSED_REQUESTS:
        if entry.get('actor') != entries.SOURCE_ACTOR:
            return None
        by_source = seen['by_source'] if isinstance(seen['by_source'], dict) else {}
        return dict(base, total=_count(seen['total']), by_source=dict(
            (str(source), sum(_count(n) for n in counts.values()) if isinstance(counts, dict) else 0)
            for source, counts in by_source.items()))
    return base


def _count(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _read(path, since, until, anchor, keyring):
    """(records of the window, chain state, {entries, in_window, first_time, last_time}) in one streamed pass."""
    records, seq, prev_hash, broken, seals = [], 1, audit_log.GENESIS_HASH, False, Seals(keyring)
    anchored, count, in_window, first, last = None, 0, 0, None, None
    for number, raw, entry in audit_log.iter_lines(path):
        if entry is None or not isinstance(entry.get('action'), str):
            raise GovernanceReportError('audit log %s line %d is not an audit entry (not a JSON object with an action)'
                                        % (path, number))
        moment = parse_time(entry.get('time'), 'audit log %s line %d: time' % (path, number))
        count += 1
        first, last = first or moment, moment
        if not broken and links(entry, seq, prev_hash, raw):
            seals.see(number, entry)
            seq, prev_hash = seq + 1, entry['hash']
            if anchor and entry['seq'] == anchor.get('seq'):
                anchored = entry['hash']
        else:
            broken = True
        if (since is None or moment >= since) and (until is None or moment < until):
            in_window += 1
            record = _record(entry, moment)
            if record is not None:
                records.append(record)
    ok = not broken and (not anchor or anchored == anchor.get('hash')) and seals.problem is None
    chain = dict(ok=True, state=state(True, anchor), last_seq=seq - 1 if seq > 1 else None,
                 last_hash=prev_hash if seq > 1 else None, sealed=seals.sealed if keyring is not None else None, problem=None)
    if not ok:  # rare: let the verifier classify it (it reads the log again)
        checked = verify(path, anchor, keyring)
        chain = dict((key, checked[key]) for key in ('ok', 'state', 'last_seq', 'last_hash', 'sealed', 'problem'))
    return records, chain, dict(entries=count, in_window=in_window, first_time=_iso(first), last_time=_iso(last))


def _link(records):
    """Annotate records across the whole window (before any grouping): which decisions ran, which incidents were remediated."""
    ran_events = set((r['fingerprint'], r['received_at']) for r in records if r['kind'] == entries.REMEDIATION_START)
    # starts written before they carried received_at are matched by fingerprint alone
    ran_fingerprints = set(r['fingerprint'] for r in records if r['kind'] == entries.REMEDIATION_START and not r['received_at'])
    repaired = {}  # incident -> time of its first verified outcome
    for record in records:
        if record['kind'] == entries.REMEDIATION_OUTCOME and record['outcome'] == 'success':
            incident = (record['fingerprint'], record['starts_at'])
            if incident not in repaired:
                repaired[incident] = record['time']
                record['first_repair'] = True
    tiers = dict((r['fingerprint'], r['risk_tier']) for r in records if r['kind'] == entries.DECISION)
    for record in records:
        if record['risk_tier'] is None:
            record['risk_tier'] = tiers.get(record['fingerprint'])
        if record['kind'] == entries.DECISION:
            record['ran'] = ((record['fingerprint'], record['received_at']) in ran_events
                             or record['fingerprint'] in ran_fingerprints)
            record['incident'] = (record['fingerprint'], record['starts_at'])
            record['remediated'] = record['incident'] in repaired


def _rate(part, whole):
    return round(float(part) / whole, 4) if whole else None


def _counts(values):
    counted = {}
    for value in values:
        key = NONE_KEY if value is None else str(value)
        counted[key] = counted.get(key, 0) + 1
    return dict(sorted(counted.items()))


def _figures(durations):
    durations.sort()
    return dict(
        count=len(durations),
        median_s=round(statistics.median(durations), 3) if durations else None,
        p90_s=round(durations[int(math.ceil(0.9 * len(durations))) - 1], 3) if durations else None,
        mean_s=round(statistics.fmean(durations), 3) if durations else None,
        max_s=round(durations[-1], 3) if durations else None)


def _mttr(records):
    durations, unmeasured, by_decision = [], 0, dict((name, []) for name in REPAIRED_BY)
    for record in records:
        if not record.get('first_repair'):
            continue
        try:
            started = parse_time(record['starts_at'], 'starts_at') if record['starts_at'] else None
        except GovernanceReportError:
            started = None
        if started is None or started > record['time']:
            unmeasured += 1  # no start recorded (older entries), or a start after the repair (clock skew)
            continue
        durations.append((record['time'] - started).total_seconds())
        if record['decision'] in by_decision:  # the outcome names the decision that ran it (an approved review: review)
            by_decision[record['decision']].append(durations[-1])
    open_incidents = {}
    for record in records:
        if record['kind'] == entries.DECISION and record['decision'] in ACTIONABLE and not record['remediated']:
            open_incidents.setdefault(record['incident'], record['decision'])
    return dict(_figures(durations), unmeasured=unmeasured,
                unremediated=len(open_incidents), unremediated_by_decision=_counts(open_incidents.values()),
                by_decision=dict((name, _figures(items)) for name, items in by_decision.items()))


def _overrides(records):
    kinds = {'denied_review': 0, 'approved_escalation': 0, 'approved_reject': 0, 'recorded': 0}
    human = 0
    for record in records:
        if record['kind'] == entries.APPROVAL_DECISION:
            human += 1
            if record['verdict'] == 'deny':
                kinds['denied_review'] += 1
            elif record['verdict'] == 'approve' and record['proposed'] in ('escalate', 'reject'):
                kinds['approved_%s' % ('escalation' if record['proposed'] == 'escalate' else 'reject')] += 1
        elif record['kind'] == entries.RECORDED_OVERRIDE:
            human += 1
            kinds['recorded'] += record['override']
    total = sum(kinds.values())
    return dict(rate=_rate(total, human), overrides=total, human_decisions=human, by_kind=kinds)


def aggregate(records):
    """Every KPI over linked records (see _link)."""
    decisions = [r for r in records if r['kind'] == entries.DECISION]
    actionable = [r for r in decisions if r['decision'] in ACTIONABLE]
    automated = [r for r in actionable if r['decision'] == 'automate' and r['ran']]
    starts = [r for r in records if r['kind'] == entries.REMEDIATION_START]
    outcomes = [r for r in records if r['kind'] == entries.REMEDIATION_OUTCOME]
    refused = [r for r in records if r['kind'] == entries.REMEDIATION_REFUSED]
    exceptions = dict((kind, 0) for kind in EXCEPTION_KINDS)
    for record in decisions:
        for kind in set(record['exceptions']):
            exceptions[kind] += 1
    exceptions['remediation_refused'] = len(refused)
    rotations = [r for r in records if r['kind'] == entries.ROTATION]
    escalations = [r for r in records if r['kind'] == entries.ESCALATION_NOTIFY]
    intake = [r for r in records if r['kind'] == entries.ALERT_INTAKE]
    refusals = [r for r in records if r['kind'] == entries.REFUSED_REQUESTS]
    by_source = {}
    for record in refusals:
        for source, count in record['by_source'].items():
            by_source[source] = by_source.get(source, 0) + count
    return {
        'mttr': _mttr(records),
        'automation': dict(rate=_rate(len(automated), len(actionable)), automated=len(automated),
                           actionable=len(actionable), decisions=dict(
                               (name, sum(1 for r in decisions if r['decision'] == name)) for name in DECISIONS)),
        'overrides': _overrides(records),
        'exceptions': dict(total=sum(exceptions.values()), by_kind=exceptions),
        'actions': dict(total=len(starts), by_owner=_counts(r['owner'] for r in starts),
                        by_risk_tier=_counts(r['risk_tier'] for r in starts),
                        by_remediation=_counts(r['remediation'] for r in starts)),
        'outcomes': dict(succeeded=sum(1 for r in outcomes if r['outcome'] == 'success'),
                         failed=sum(1 for r in outcomes if r['outcome'] == 'failure'),
                         rolled_back=sum(1 for r in outcomes if r['outcome'] == 'rolled_back'),
                         refused=len(refused)),
        'secret_rotations': dict(total=sum(1 for r in rotations if r['outcome'] == 'success'),
                                 failed=sum(1 for r in rotations if r['outcome'] == 'failure'),
                                 by_action=_counts(r['action'].split('.', 1)[1] for r in rotations if r['outcome'] == 'success'),
                                 by_owner=_counts(r['owner'] for r in rotations if r['outcome'] == 'success')),
        'escalations': dict(notified=sum(1 for r in escalations if r['outcome'] == 'success'),
                            failed=sum(1 for r in escalations if r['outcome'] != 'success')),
        # what the event source's requests lost: alerts it refused (unreadable) and alerts the senders left out
        'intake': dict(refused_alerts=sum(r['refused'] for r in intake), truncated_alerts=sum(r['truncated'] for r in intake),
                       ignored_events=sum(r['ignored'] for r in intake), requests=len(intake),
                       # a security signal: requests refused for their credentials, the busiest source addresses first
                       refused_requests=sum(r['total'] for r in refusals),
                       refused_by_source=dict(sorted(by_source.items(), key=lambda item: (-item[1], item[0]))[:TOP_SOURCES])),
    }


def _group_key(record, group_by):
    if group_by in ('day', 'week', 'month'):
        return _period(record['time'], group_by)
    value = record.get(group_by)
    return NONE_KEY if value is None else str(value)


def compute(path, since=None, until=None, group_by=None, anchor=None, now=None, keyring=None):
    """The governance report (schemas/governance-report.v1.json) of the audit log at path.

    since/until: ISO 8601 text or None; the window is [since, until) of the
    entries' time. group_by: None or one of GROUP_BY: the KPIs again per owner,
    risk tier, remediation or period. anchor: {seq, hash} the chain must hold (without it the log is at best
    `unanchored`, never trusted). keyring: the decision keys, to check the seals of decisions and approvals.
    """
    if group_by is not None and group_by not in GROUP_BY:
        raise GovernanceReportError('group_by must be one of %s, not %r' % (', '.join(GROUP_BY), group_by))
    start = parse_time(since, 'since') if since else None
    end = parse_time(until, 'until') if until else None
    if start and end and start >= end:
        raise GovernanceReportError('since (%s) must be before until (%s)' % (since, until))
    records, chain, seen = _read(path, start, end, anchor, keyring)
    _link(records)
    groups = {}
    if group_by:
        for record in records:
            groups.setdefault(_group_key(record, group_by), []).append(record)
    return {
        'schema_version': SCHEMA_VERSION,
        'generated_at': _iso(now or datetime.datetime.now(datetime.timezone.utc)),
        'trusted': chain['state'] == 'intact',
        'chain': chain,
        'log': dict(seen, path=display(path)),
        'window': dict(since=_iso(start), until=_iso(end)),
        'group_by': group_by,
        'kpis': aggregate(records),
        'groups': dict((key, aggregate(items)) for key, items in sorted(groups.items())),
    }
