# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the event source remembers of episodes across notifications and restarts.

An episode is an alert's fingerprint and startsAt (alert_intake.AlertGate remembers which notifications
of it were passed on). This module:
- rebuild(): at start, reads the audit log from its end and tells the gate which episodes were decided
  (the source's decision entries), which remediations reported success (remediation.outcome) and which
  episodes were escalated as still firing, up to the gate's bound, so a restart decides nothing twice;
- Outcomes: follows the audit log's new lines (only when a decided episode is notified again, at most once a
  second: no read per alert) for remediations that reported success;
- still_firing(): the escalation of an episode still firing after its remediation reported success, once, by a
  notification sent later than the success could show (settle seconds after it: a scrape and a rule evaluation);
- Watch: the other exits of a remediation that did not end well, each escalated once (exception()): its run or
  post-check failed (remediation.outcome failure), its plan was refused, it reported no outcome within a time limit,
  or its approval request got no verdict within the approval time. One rule, one place: the source turns each into
  a sealed escalate decision (intake.Intake.check_exits) that the rulebook's escalate rule takes to the owner.
"""

from __future__ import annotations

import datetime
import json
import os
import time

from ansible_collections.aigov.core.plugins.module_utils.alerts.alert_intake import BoundedLRU
from ansible_collections.aigov.core.plugins.module_utils.alerts.approvals import APPROVAL_TTL
from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import payload_digest
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_log_postgres, entries
from ansible_collections.aigov.core.plugins.module_utils.common import database

STILL_FIRING = 'still firing after remediation %s reported success'
_STILL_FIRING_PREFIX = STILL_FIRING.split('%s', maxsplit=1)[0]
# The exception kinds of an escalated exit (the decision entry's details.exceptions; counted in the governance KPIs).
STILL_FIRING_KIND, FAILED, REFUSED, NO_OUTCOME, EXPIRED = (
    'still_firing', 'remediation_failed', 'refusal_escalated', 'no_outcome', 'approval_expired')
EXCEPTIONS = (FAILED, REFUSED, NO_OUTCOME, EXPIRED, STILL_FIRING_KIND)
OUTCOME_TIMEOUT = 900  # seconds from an automate decision (or an approval) to its remediation.outcome
# Seconds from a success to the first notification that can show it did not help: Prometheus's default scrape and
# evaluation intervals (1 min each). A notification sooner may have left before the mended target was scraped.
STILL_FIRING_SETTLE = 120
_MARKS = tuple(('"action":"%s"' % kind).encode('utf-8') for kind in (
    entries.REMEDIATION_OUTCOME, entries.REMEDIATION_REFUSED, entries.APPROVAL_REQUESTED, entries.APPROVAL_DECISION))
_RAN_ALREADY = 'this decision already ran'  # a refusal of a second run: the first one's exit is watched
_READ_LIMIT = 4 << 20  # bytes read per poll at most: the rest on the next one


class Outcomes(object):
    """The episodes (fingerprint, starts_at) whose remediation reported success, and those escalated since (bounded)."""

    def __init__(self, path, max_episodes=100000, clock=time.monotonic, watch=None, settle=STILL_FIRING_SETTLE,
                 wall=time.time):
        self.path, self.clock, self.settle, self.wall = path, clock, settle, wall
        self.succeeded = BoundedLRU(max_episodes)  # (fingerprint, starts_at) -> (remediation, when it succeeded)
        self.escalated = BoundedLRU(max_episodes)  # (fingerprint, starts_at) -> True
        self.offset, self.polled, self.rest = None, None, b''
        self.watch = watch if watch is not None else Watch(clock=clock)

    def start_here(self):
        """Follow the log from its current end (what is before was read by rebuild())."""
        if database.is_database(self.path):  # a log in PostgreSQL is followed by seq, not by byte offset
            try:
                self.offset = audit_log_postgres.head_seq(self.path)
            except audit_log.AuditLogError:
                self.offset = 0
            return
        try:
            self.offset = os.stat(self.path).st_size
        except OSError:
            self.offset = 0

    def note(self, entry):
        """Take in one audit entry (parsed): a successful remediation outcome or a still-firing escalation."""
        kind = entries.kind_of(entry)
        details = entries.details_of(entry)
        episode = (details.get('fingerprint'), details.get('starts_at'))
        if kind == entries.REMEDIATION_OUTCOME and entry.get('outcome') == 'success':
            self.succeeded.remember(episode, (details.get('remediation'), _epoch(entry.get('time'), self.wall)))
        elif kind == entries.DECISION and (any(str(reason).startswith(_STILL_FIRING_PREFIX)
                                               for reason in entry.get('reasons') or [])
                                           or any(item in EXCEPTIONS for item in details.get('exceptions') or [])):
            self.escalated.remember(episode, True)
        if self.watch.items and kind in Watch.KINDS:
            self.watch.note(kind, entry, details)

    def poll(self):
        """Read the log's new lines, at most once a second; an unreadable log is tried again on the next poll."""
        now = self.clock()
        if self.polled is not None and now - self.polled < 1.0:
            return
        self.polled = now
        if database.is_database(self.path):
            self._poll_database()
            return
        try:
            with open(self.path, 'rb') as handle:
                size = os.fstat(handle.fileno()).st_size
                if self.offset is None or size < self.offset:  # a new log (rotated or replaced): from its start
                    self.offset, self.rest = 0, b''
                handle.seek(self.offset)
                chunk = handle.read(_READ_LIMIT)
        except OSError:
            return
        self.offset += len(chunk)
        lines = (self.rest + chunk).split(b'\n')
        self.rest = lines.pop()
        for raw in lines:
            if any(mark in raw for mark in _MARKS) or _STILL_FIRING_PREFIX.encode('utf-8') in raw:
                try:
                    entry = json.loads(raw.decode('utf-8'))
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    self.note(entry)

    def _poll_database(self):
        """The new decisions and outcomes of a log in PostgreSQL, every node's writers included."""
        try:
            kinds = (entries.REMEDIATION_OUTCOME, entries.DECISION)
            self.offset, found = audit_log_postgres.entries_after(self.path, self.offset or 0, kinds)
        except audit_log.AuditLogError:
            return  # tried again on the next poll, as an unreadable file
        for entry in found:
            self.note(entry)

    def due(self, alert):
        """The remediation that reported success for this firing alert's episode, when it was not escalated yet and
        the success is older than the settle time (a sooner notification is no evidence it did not help); else None."""
        episode = (alert['fingerprint'], alert['starts_at'])
        if episode in self.escalated:
            return None
        remediation, succeeded_at = self.succeeded.get(episode) or (None, None)
        if succeeded_at is None or self.wall() < succeeded_at + self.settle:
            return None
        return remediation

    def escalating(self, alert):
        self.escalated.remember((alert['fingerprint'], alert['starts_at']), True)


def _epoch(stamp, wall):
    """The seconds since the epoch of an entry's time (ISO 8601); now when it has none that can be read."""
    try:
        return datetime.datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return wall()


def rebuild(gate, outcomes, path, actor=entries.SOURCE_ACTOR):
    """Tell the gate the episodes the audit log says were decided, newest first, up to its bound; the number found.

    Reads the whole log at most (once, at start); AuditLogError when it cannot be read.
    """
    decided, bound = [], gate.episodes.max_entries
    outcomes.start_here()
    for entry in audit_log.iter_newest_first(path):
        if not isinstance(entry, dict):
            continue
        outcomes.note(entry)
        if entry.get('action') == entries.DECISION and entry.get('actor') == actor:
            details = entries.details_of(entry)
            if details.get('status', 'firing') == 'firing' and details.get('fingerprint'):
                decided.append((details['fingerprint'], details.get('starts_at')))
                if len(decided) >= bound:
                    break
    for fingerprint, starts_at in reversed(decided):  # oldest first, so that the bound evicts the oldest first
        gate.seen(fingerprint, starts_at, 'firing')
    return len(decided)


def still_firing(decision, remediation):
    """The escalation of an episode still firing after `remediation` reported success: decision is the episode's new
    guardrail decision (for its owners, policy and confidence); it becomes escalate, to the escalation owner."""
    return exception(decision, STILL_FIRING_KIND, STILL_FIRING % (remediation or 'its remediation'))


def exception(decision, kind, reason):
    """decision turned into the escalation of an exit that did not end well (kind: one of EXCEPTIONS): escalate, to the
    escalation owner, no remediation, the kind in exceptions (the KPIs count it) and the reason said."""
    owners = decision.get('owners') or {}
    return dict(decision, decision='escalate', reasons=[reason], considered=[], exceptions=[kind],
                accountable=owners.get('escalation'), remediation=None)


class Watch(object):
    """The remediations the source decided, until their end is known (bounded, by payload digest).

    expect() takes an automate decision that proposes a remediation (it must report an outcome within outcome_timeout
    seconds) and a review decision (it must get a verdict within approval_ttl seconds of its request, then an outcome
    within outcome_timeout of the approval). note() reads the entries that end or move a watch (Outcomes.poll hands
    them over); due() gives the exits to escalate, each once: (event, kind, reason). A watch evicted by the bound, or
    held by a source that restarted, is not escalated by this rule (docs/remediation.md, "Exception paths").
    """

    KINDS = (entries.REMEDIATION_OUTCOME, entries.REMEDIATION_REFUSED, entries.APPROVAL_REQUESTED, entries.APPROVAL_DECISION)

    def __init__(self, outcome_timeout=OUTCOME_TIMEOUT, approval_ttl=APPROVAL_TTL, max_watched=10000, clock=time.monotonic):
        self.outcome_timeout, self.approval_ttl, self.clock = outcome_timeout, approval_ttl, clock
        self.items = BoundedLRU(max_watched)  # payload digest -> {event, deadline, waiting, request}
        self.ready = []

    def expect(self, event):
        """Watch an event's decision when it is one that should end in a remediation outcome."""
        decision = event.get('decision') or {}
        if not decision.get('remediation') or decision.get('decision') not in ('automate', 'review'):
            return
        review = decision['decision'] == 'review'
        self.items.remember(payload_digest(event['payload_b64']), {
            'event': event, 'waiting': 'approval' if review else 'outcome', 'request': None,
            'deadline': self.clock() + (self.approval_ttl if review else self.outcome_timeout)})

    def note(self, kind, entry, details):
        digest = details.get('payload_sha256')
        item = self.items.get(digest)
        if item is None:
            return
        remediation = item['event']['decision'].get('remediation')
        reason = str((entry.get('reasons') or [''])[0])
        if kind == entries.APPROVAL_REQUESTED:
            item.update(request=details.get('request'), deadline=self.clock() + self.approval_ttl)
        elif kind == entries.APPROVAL_DECISION:
            if entry.get('outcome') == 'success':
                item.update(waiting='outcome', deadline=self.clock() + self.outcome_timeout)
            else:
                self.items.pop(digest)  # a human denied it: the person decided, nothing to escalate
        elif kind == entries.REMEDIATION_OUTCOME:
            self.items.pop(digest)
            if entry.get('outcome') == 'failure':
                self.ready.append((item['event'], FAILED, 'remediation %s failed: %s' % (remediation, reason)))
        elif kind == entries.REMEDIATION_REFUSED and not reason.startswith(_RAN_ALREADY):
            self.items.pop(digest)
            self.ready.append((item['event'], REFUSED, 'remediation %s was refused before its start: %s'
                               % (remediation, reason)))

    def due(self):
        """The exits to escalate now, each once: failed and refused ones noted, and watches past their deadline."""
        now, found, self.ready = self.clock(), self.ready, []
        for digest in [key for key, item in self.items.items() if item['deadline'] <= now]:
            item = self.items.pop(digest)
            remediation = item['event']['decision'].get('remediation')
            if item['waiting'] == 'approval':
                found.append((item['event'], EXPIRED, 'approval request %s for remediation %s expired: no verdict within '
                              '%d s' % (item['request'] or 'of this decision', remediation, self.approval_ttl)))
            else:
                found.append((item['event'], NO_OUTCOME, 'remediation %s reported no outcome within %d s'
                              % (remediation, self.outcome_timeout)))
        return found
