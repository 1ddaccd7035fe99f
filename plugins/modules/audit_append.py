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
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description:
      - Path of the audit log. The environment variable E(AIGOV_AUDIT_LOG) is used when the option is not set.
      - A relative path is relative to the current directory (C(docs/architecture.md), "Paths").
    type: path
    default: aigov-data/audit.jsonl
  actor:
    description: Who acts. Default the AAP user that launched the job, else the controller's user.
    type: str
  action:
    description: What is recorded, dotted (C(remediation.outcome), C(approval.decision)).
    type: str
    required: true
  subject:
    description: What it is about (an asset id, an approval request).
    type: str
    required: true
  owner:
    description: The accountable owner.
    type: str
  outcome:
    description: The outcome.
    type: str
    required: true
    choices: [success, failure, refused, rolled_back, planned]
  reasons:
    description: Why.
    type: list
    elements: str
    default: []
  details:
    description: Plain data about the entry (never a secret).
    type: dict
    default: {}
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Nothing is appended in check mode.
  diff_mode:
    support: none
    description: No diff.
notes:
  - The entry format and the locking are described in C(docs/secrets.md) in the collection.
seealso:
  - module: aigov.core.audit_verify
"""

EXAMPLES = r"""
- name: Record the outcome of a remediation
  aigov.core.audit_append:
    action: remediation.outcome
    subject: "{{ plan.asset_id }}"
    owner: "{{ plan.owner }}"
    outcome: success
    details: {remediation: restart_model_server}
"""

RETURN = r"""
entry:
  description: The entry as written, with its seq and hash.
  returned: when not in check mode
  type: dict
"""
