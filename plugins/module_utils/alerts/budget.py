# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The hourly action memory of the event source: the guardrails' actions-per-asset-per-hour limit.

ActionBudget remembers, per asset key, when the source decided `automate` on a proposed
remediation (entries.spends_budget: an alert no remediation is mapped for spends nothing), in
bounded memory, and starts from what the audit log says of the last hour: a restarted rulebook
does not start from zero.
"""

from __future__ import annotations

import datetime
import time

from ansible_collections.aigov.core.plugins.module_utils.alerts.alert_intake import BoundedLRU
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries

HOUR = 3600
# Writers stamp an entry before they wait for the log's lock, so entries are not strictly in
# time order; reading this much further back covers that.
_ORDER_SLACK = 600


def recent_automations(path, actor, now, window=HOUR):
    """{audit subject: [age in seconds]} of the automate decisions `actor` recorded in the last `window` seconds.

    Reads the log from its end and stops at the first entry older than the window (plus slack):
    bounded by the hour, not the log.
    """
    ages = {}
    for entry in audit_log.iter_newest_first(path):
        try:
            age = (now - datetime.datetime.fromisoformat(entry['time'])).total_seconds()
        except (TypeError, KeyError, ValueError):
            continue  # an unparseable line is the verifier's business, not the limit's
        if age > window + _ORDER_SLACK:
            break
        if (0 <= age < window and entry.get('actor') == actor and entries.kind_of(entry) == entries.DECISION
                and entries.spends_budget(entries.details_of(entry))):
            ages.setdefault(entry.get('subject'), []).append(age)
    return ages


class ActionBudget(object):
    """Times of the automated actions per asset key (monotonic clock), seeded from the audit log's last hour.

    seeded is False while the log could not be read: seed() is tried again on the next request.
    """

    def __init__(self, log_path, actor=entries.SOURCE_ACTOR, max_keys=10000, clock=time.monotonic):
        self.log_path, self.actor, self.clock = log_path, actor, clock
        self.automated = BoundedLRU(max_keys)
        self.seeded = False

    def seed(self):
        """Count what this source automated before it started (the log's last hour); AuditLogError when unreadable."""
        clock, now = self.clock(), datetime.datetime.now(datetime.timezone.utc)
        recent = recent_automations(self.log_path, self.actor, now)
        for key, ages in recent.items():
            self.automated.remember(key, sorted(clock - age for age in ages))
        self.seeded = True

    def used(self, key, clock):
        """How many actions on key the last hour holds (clock: the request's monotonic time)."""
        return len([t for t in self.automated.get(key, []) if clock - t < HOUR])

    def spend(self, key, decision, clock):
        """Count decision on key when it spends the budget (entries.spends_budget)."""
        if entries.spends_budget(decision):
            self.automated.remember(key, self.automated.get(key, []) + [clock])
