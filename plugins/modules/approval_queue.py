#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/approval_queue.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: approval_queue
short_description: Queue a review decision for a human, list the pending ones, or record the human's verdict
version_added: 0.1.0
description:
  - The local approvals queue is a JSON-lines file written under an exclusive lock. O(state=requested) appends a
    request for a C(review) event (its id, asset, alert fingerprint, proposed remediation and the event's
    C(payload_b64)); the same event queued again changes nothing. It records C(approval.requested) in the audit log.
    The review decision must be in the audit log, written by the event source for this payload and sealed with the
    decision key; a forged event or a decision entry appended by hand is not queued. The request id is derived
    from the payload (the start of its sha256), so the same event queued again is the same request.
  - O(state=decided) records a verdict (C(approve) or C(deny)) on a pending request, once, and the audit entry
    C(approval.decision) with the approver as actor, the payload's C(payload_sha256) and a seal made with the decision
    key; a denial is an override of the proposed remediation. The request's id is recomputed from its queued payload
    first, and a payload attached to another request's id (an edited queue) is refused.
  - O(state=pending) lists the requests without a verdict, oldest first (id, asset, host, owner, proposed remediation,
    alert name, age and expiry); it changes nothing.
  - A request expires at its C(expires_at), O(ttl) seconds after it was queued (a request queued without one, O(ttl)
    seconds after C(requested_at)); it can no longer be decided, and the event source escalates it to the escalation
    owner (the source's C(approval_ttl) option, given the same value by the shipped rulebook).
  - The audit log is checked first, and nothing is queued or decided that it cannot record.
author:
  - aigov.core maintainers (@aigov)
options:
  state:
    description: Queue a request, decide one, or list the pending ones.
    type: str
    required: true
    choices: [requested, decided, pending]
  path:
    description:
      - The approvals queue. The environment variable E(AIGOV_APPROVALS_QUEUE) is used when the option is not set,
        else E(AIGOV_DATABASE), else C(approvals.jsonl) next to the audit log (O(audit_log)), or the audit log's
        database when the log is in PostgreSQL.
      - A C(postgresql://) URL keeps the queue in that database (docs/fleet-scale.md), with the same requests and
        verdicts, shared by jobs in different containers.
      - A relative path is relative to the current directory (docs/architecture.md, "Paths").
    type: path
  payload:
    description: The event's C(payload_b64), with O(state=requested).
    type: str
  actions:
    description:
      - The action table (a bundled name or a path, or the older mapping of alert name to remediation), as for
        M(aigov.core.remediation_plan). The proposed remediation is the one the decision names; a decision
        without one (made before decisions named it) is looked up in this table by its alert name.
    type: raw
    default: default
  request:
    description: The request id, with O(state=decided).
    type: str
  verdict:
    description: The human verdict, with O(state=decided).
    type: str
    choices: [approve, deny]
  approver:
    description: Who decides, with O(state=decided); the actor of the audit entry.
    type: str
  ttl:
    description:
      - Seconds a request waits for a verdict before it expires (O(state=decided) refuses it, O(state=pending) marks it).
      - With O(state=requested) the request is queued with its C(expires_at) (now plus O(ttl)), which then decides for
        it whatever O(ttl) a later run gives (the rulebook passes its C(aigov_approval_ttl), the time the event source
        escalates at).
    type: int
    default: 14400
extends_documentation_fragment:
  - aigov.core.audit_log
  - aigov.core.audit_log.decision_key
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Nothing is queued, decided or recorded; the result is predicted from the queue and the audit log as they
      are (the decision must be on record, a request is decided once), with the same failures.
  diff_mode:
    support: none
    description: No diff.
seealso:
  - module: aigov.core.remediation_plan
"""

EXAMPLES = r"""
- name: List the pending requests
  aigov.core.approval_queue:
    state: pending
  register: pending

- name: Approve a queued request
  aigov.core.approval_queue:
    state: decided
    request: 3f9a0c2b7d1e
    verdict: approve
    approver: alice
"""

RETURN = r"""
request:
  description: The request record (id, fingerprint, alert_name, asset_id, inventory_hostname, decision, owner, proposed_action).
  returned: success
  type: dict
verdict:
  description: The verdict record, with O(state=decided).
  returned: when decided
  type: dict
payload_b64:
  description: The queued event's payload, for the remediation of an approved request.
  returned: when decided
  type: str
pending:
  description:
    - The requests without a verdict, oldest first, with O(state=pending)
      (id, asset_id, inventory_hostname, owner, proposed_action, alert_name, requested_at, age_s, expires_at, expired).
  returned: when listing
  type: list
  elements: dict
lines:
  description: One line per pending request, for a person, with O(state=pending).
  returned: when listing
  type: list
  elements: str
"""
