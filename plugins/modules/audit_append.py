#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/audit_append.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_append
short_description: Append an entry to the aigov.core audit log
version_added: 0.1.0
description:
  - Appends one hash-chained entry (schema C(audit-entry.v1.json)) under an exclusive lock and fsyncs it before
    the task returns.
  - Refuses details or reasons shaped like secrets (provider keys, URLs with passwords); record fingerprints.
  - The AAP job id (C(awx_job_id)) is added to the details when the playbook runs in AAP.
  - The entries of the governed-remediation loop are built by the engine (C(plugins/module_utils/audit/entries.py)), never
    in Jinja. A playbook records one with O(kind) and O(fields) - C(remediation.outcome) from M(aigov.core.remediation_plan)'s
    plan, C(escalation.notify) from the event's payload, decoded by the same code as the remediation path. The other kinds of
    that loop (C(decision), C(approval.requested), C(approval.decision), C(remediation.start), C(remediation.refused)) are
    written by their modules and refused here.
  - Anything else (a run's summary, a human decision with a boolean C(override)) is recorded with O(action), O(subject),
    O(outcome) and O(details).
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description:
      - Path of the audit log. The environment variable E(AIGOV_AUDIT_LOG) is used when the option is not set.
      - A relative path is relative to the current directory (C(docs/architecture.md), "Paths").
    type: path
    default: aigov-data/audit.jsonl
  kind:
    description:
      - An entry kind of the alert loop that a playbook records, built from O(fields) by the engine. Excludes O(action),
        O(subject), O(owner) and O(outcome).
    type: str
    choices: [escalation.notify, remediation.outcome]
  fields:
    description:
      - The facts of a O(kind) entry. C(remediation.outcome) - C(plan) (the plan M(aigov.core.remediation_plan) returned),
        C(outcome) (C(success), C(failure) or C(planned)) and C(note) (what was verified, or what went wrong).
        C(escalation.notify) - C(payload) (the event's C(payload_b64)), C(notified) (true or false) and C(http_status).
      - Required with O(kind).
    type: dict
  actor:
    description: Who acts. Default the AAP user that launched the job, else the controller's user.
    type: str
  action:
    description:
      - What is recorded, dotted (C(agent_secret_rotation.rotate)). One of O(kind) and O(action) is required.
      - The kinds of the alert loop are refused here (use O(kind)).
    type: str
  subject:
    description: What it is about (an asset id, an agent). Required with O(action).
    type: str
  owner:
    description: The accountable owner.
    type: str
  outcome:
    description: The outcome. Required with O(action).
    type: str
    choices: [success, failure, refused, rolled_back, planned]
  reasons:
    description: Why (with O(action)).
    type: list
    elements: str
    default: []
  details:
    description: Plain data about the entry (never a secret), with O(action).
    type: dict
    default: {}
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Nothing is appended in check mode; the entry that would be appended is returned (its seq and hash as
      they would be now), and the same refusals apply.
  diff_mode:
    support: none
    description: No diff.
notes:
  - The entry format and the locking are described in C(docs/secrets.md) in the collection.
seealso:
  - module: aigov.core.audit_verify
"""

EXAMPLES = r"""
- name: Record the outcome of a remediation (plan registered from aigov.core.remediation_plan)
  aigov.core.audit_append:
    kind: remediation.outcome
    fields:
      plan: "{{ checked.plan }}"
      outcome: success
      note: listening on 8000

- name: Record a human decision made outside the approval queue
  aigov.core.audit_append:
    action: change.approved
    subject: model_server:1000000000000001
    outcome: success
    details: {override: true, ticket: CHG-1234}
"""

RETURN = r"""
entry:
  description: The entry as written, with its seq and hash (in check mode, as it would be written now).
  returned: success
  type: dict
"""
