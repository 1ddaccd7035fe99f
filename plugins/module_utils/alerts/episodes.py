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
- still_firing(): the escalation of an episode still firing after its remediation reported success, once.
"""

from __future__ import annotations

import json
import os
import time

from ansible_collections.aigov.core.plugins.module_utils.alerts.alert_intake import BoundedLRU
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_log_postgres, entries
from ansible_collections.aigov.core.plugins.module_utils.common import database

STILL_FIRING = 'still firing after remediation %s reported success'
_STILL_FIRING_PREFIX = STILL_FIRING.split('%s', maxsplit=1)[0]
_OUTCOME_MARK = ('"action":"%s"' % entries.REMEDIATION_OUTCOME).encode('utf-8')
_READ_LIMIT = 4 << 20  # bytes read per poll at most: the rest on the next one


class Outcomes(object):
    """The episodes (fingerprint, starts_at) whose remediation reported success, and those escalated since (bounded)."""

    def __init__(self, path, max_episodes=100000, clock=time.monotonic):
        self.path, self.clock = path, clock
        self.succeeded = BoundedLRU(max_episodes)  # (fingerprint, starts_at) -> remediation
        self.escalated = BoundedLRU(max_episodes)  # (fingerprint, starts_at) -> True
        self.offset, self.polled, self.rest = None, None, b''

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
            self.succeeded.remember(episode, details.get('remediation'))
        elif kind == entries.DECISION and any(str(reason).startswith(_STILL_FIRING_PREFIX)
                                              for reason in entry.get('reasons') or []):
            self.escalated.remember(episode, True)

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
            if _OUTCOME_MARK in raw or _STILL_FIRING_PREFIX.encode('utf-8') in raw:
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
        """The remediation that reported success for this firing alert's episode, when it was not escalated yet; else None."""
        episode = (alert['fingerprint'], alert['starts_at'])
        if episode in self.escalated:
            return None
        return self.succeeded.get(episode)

    def escalating(self, alert):
        self.escalated.remember((alert['fingerprint'], alert['starts_at']), True)


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
    owners = decision.get('owners') or {}
    return dict(decision, decision='escalate', reasons=[STILL_FIRING % (remediation or 'its remediation')],
                considered=[], exceptions=[], accountable=owners.get('escalation'), remediation=None)
