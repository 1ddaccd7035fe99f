#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/governance_report.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: governance_report
short_description: Governance KPIs (MTTR, automation, overrides, exceptions, actions) from the aigov.core audit log
version_added: 0.1.0
description:
  - Reads the hash-chained audit log once, as a stream, and computes the governance KPIs of a time window
    (schema C(governance-report.v1.json)); C(docs/governance-report.md) in the collection defines each one.
  - MTTR is the time from an alert's start (its C(starts_at)) to its first verified remediation outcome, per
    incident (alert fingerprint and start); incidents with an actionable decision and no verified outcome are counted
    apart as unremediated.
  - The automation rate is automate decisions whose remediation started over all automate, review and escalate
    decisions. The override rate is human decisions that differ from the proposal (a denied review, an approved
    escalation or reject, an entry recorded with C(override) true) over all human decisions.
  - Exceptions are the guardrail limits that held a decision back (unknown or out-of-scope asset, change freeze,
    per-asset rate limit, blast radius) and refused remediations. Actions are remediations started, per owner, risk
    tier and remediation; outcomes, secret rotations and escalations are counted too.
  - The hash chain is checked in the same pass. When it is broken (or misses O(anchor)) the KPIs are still
    computed but reported with RV(trusted) false and the first problem, and the task fails unless
    O(untrusted=warn). With O(decision_key_file), a decision or approval entry without a valid seal breaks it too.
  - Without O(anchor) entries cut from the end of the log cannot be detected, so the log is never called
    trustworthy; C(chain.state) is C(unanchored), RV(trusted) is false, the HTML page and the message say
    UNANCHORED, and the task warns (it does not fail).
  - A line that is not an audit entry is an error naming its line number.
author:
  - aigov.core maintainers (@aigov)
options:
  since:
    description:
      - Start of the window (ISO 8601 date or date and time; a date is its midnight, a time without offset is UTC).
        Entries at or after it count. Open when not set.
    type: str
  until:
    description:
      - End of the window, in the same form. Entries before it count. Open when not set.
    type: str
  group_by:
    description:
      - Compute the KPIs again per owner, risk tier, remediation, or per UTC day, ISO week or month, in RV(groups).
    type: str
    choices: [owner, risk_tier, remediation, day, week, month]
  dest:
    description:
      - Directory to write C(governance-report.json) and C(governance-report.html) into (created when missing).
        Nothing is written when not set.
    type: path
  untrusted:
    description:
      - What a broken chain does. V(fail) fails the task after the labelled reports are written; V(warn) only warns.
    type: str
    default: fail
    choices: [fail, warn]
extends_documentation_fragment:
  - aigov.core.audit_log.anchor
  - aigov.core.audit_log
  - aigov.core.audit_log.decision_key
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Computes and returns the KPIs; writes no file.
  diff_mode:
    support: none
    description: The report files are rewritten whole.
notes:
  - Entries written before this version lack C(starts_at) and the guardrail exceptions; such repairs are counted in
    C(mttr.unmeasured) and such decisions add no exception.
  - Policy waivers of compliance scans and alerts held back by the event source (duplicates, flapping, rate limit)
    are not written to the audit log, so they are not exceptions here.
seealso:
  - module: aigov.core.audit_verify
  - module: aigov.core.remediation_plan
"""

EXAMPLES = r"""
- name: KPIs of November, per owner, written as JSON and HTML
  aigov.core.governance_report:
    audit_log: /var/lib/aigov/audit.jsonl
    since: "2026-11-01"
    until: "2026-12-01"
    group_by: owner
    dest: /var/lib/aigov/reports
  register: aigov_kpis

- name: Show the median time to remediation
  ansible.builtin.debug:
    msg: "MTTR median {{ aigov_kpis.kpis.mttr.median_s }} s over {{ aigov_kpis.kpis.mttr.count }} incident(s)"
"""

RETURN = r"""
trusted:
  description:
    - Whether the audit log's chain is intact and holds O(anchor) (and the seals, with O(decision_key_file)). False
      without an anchor too (C(chain.state) C(unanchored)). When false the KPIs are not to be trusted.
  returned: always
  type: bool
chain:
  description:
    - C(ok), C(state) (C(intact), C(unanchored) or C(broken)), C(last_seq), C(last_hash), C(sealed) (seals that held,
      null without decision keys) and the first C(problem) (kind, line, seq, message) or null.
  returned: always
  type: dict
log:
  description: C(path), C(entries), C(in_window) (entries in the window), C(first_time) and C(last_time).
  returned: always
  type: dict
window:
  description: C(since) and C(until) as UTC date and time, or null when open.
  returned: always
  type: dict
kpis:
  description:
    - C(mttr) (count, median_s, p90_s, mean_s, max_s, unmeasured, unremediated, unremediated_by_decision),
      C(automation) (rate, automated, actionable, decisions), C(overrides) (rate, overrides, human_decisions,
      by_kind), C(exceptions) (total, by_kind), C(actions) (total, by_owner, by_risk_tier, by_remediation),
      C(outcomes) (succeeded, failed, rolled_back, refused), C(secret_rotations) (total, failed, by_action,
      by_owner), C(escalations) (notified, failed), C(intake) (refused_alerts, truncated_alerts, ignored_events,
      requests; what the event source's requests lost). A rate is null when nothing was there to count.
  returned: always
  type: dict
  sample: {automation: {rate: 0.4, automated: 2, actionable: 5}}
group_by:
  description: The grouping asked for, or null.
  returned: always
  type: str
groups:
  description: The same KPIs per group (C((none)) for entries without the attribute); empty without O(group_by).
  returned: always
  type: dict
generated_at:
  description: When the report was computed (UTC).
  returned: always
  type: str
schema_version:
  description: Version of the report's schema (C(governance-report.v1.json)).
  returned: always
  type: int
files:
  description: The report files written (or that would be written in check mode).
  returned: always
  type: list
  elements: str
"""
