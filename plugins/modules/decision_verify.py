#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/decision_verify.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: decision_verify
short_description: Check that the event source recorded and sealed the decision of an event
version_added: 0.1.0
description:
  - Fails unless the audit log holds the C(decision) entry of the C(aigov.core.aiops_alerts) event source for this very
    payload (its C(payload_sha256)), with a seal that holds under the decision keys. An event forged on the command line,
    or a decision entry appended to the log by anyone without the decision key, fails.
  - Used by C(aigov.core.escalate) before it notifies anyone; M(aigov.core.remediation_plan) and
    M(aigov.core.approval_queue) make the same check (one engine function, C(remediation.find_records)).
  - Reads only; records nothing.
author:
  - aigov.core maintainers (@aigov)
options:
  payload:
    description: The event's C(payload_b64).
    type: str
    required: true
  decision:
    description: Fail unless the recorded decision is this one (C(aigov.core.escalate) escalates only an C(escalate) decision).
    type: str
    choices: [automate, review, escalate, reject]
extends_documentation_fragment:
  - aigov.core.audit_log
  - aigov.core.audit_log.decision_key
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Only reads; behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
seealso:
  - module: aigov.core.remediation_plan
"""

EXAMPLES = r"""
- name: Act only on a decision the event source sealed
  aigov.core.decision_verify:
    payload: "{{ ansible_eda.event.payload_b64 }}"
    decision: escalate
  register: verified
"""

RETURN = r"""
decision:
  description: The recorded decision (C(automate), C(review), C(escalate) or C(reject)).
  returned: success
  type: str
seq:
  description: Seq of the decision's audit entry.
  returned: success
  type: int
event:
  description:
    - The payload's event as the escalation webhook is sent it - C(kind) (C(aigov.escalation)), C(decision), C(asset)
      and C(alert) (C(fingerprint), C(name), C(status) only).
  returned: success
  type: dict
"""
