#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/remediation_plan.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: remediation_plan
short_description: Decide whether an alert's remediation may run, where, and record its start
version_added: 0.1.0
description:
  - Checks the event that the aigov.core.aiops_alerts event source queued (its C(alert), C(asset) and
    C(decision)) and fails, recording a C(remediation.refused) audit entry, unless every check holds.
  - The alert is firing. The decision is C(automate), or C(review) with an approval (O(approval)) recorded in
    the audit log by C(aigov.core.approve) for this very payload, and for the remediation the plan maps.
  - The decision itself is in the audit log, written by the event source for this very payload (its
    C(payload_sha256) binds the alert name, fingerprint, asset, target and decision) and sealed with the decision
    key (O(decision_key_file)); the approval entry is sealed too. A decision entry appended by anyone without the
    key, or a decision for one alert presented under another name, is refused.
  - A decision runs once. A payload whose C(remediation.start) is already in the audit log is refused.
  - On AAP a C(review) decision runs this in a workflow, after an approval node (rulebook
    C(aigov.core.aiops_remediation_aap)). Without O(approval), a job that AAP launched from a workflow
    (C(awx_workflow_job_id)) asks the controller that the workflow job carries this event, that its approval node
    was approved, and that this job follows that node; the approval and its approver are then recorded as an
    C(approval.decision) audit entry. The controller, not the job's variables, is the witness.
  - The decision proposes a remediation that O(actions) holds. The asset is in the asset store on its
    C(inventory_hostname), which is exactly one host of the inventory (no pattern is evaluated). The guardrail
    policy's blast-radius limit holds for the hosts the remediation touches.
  - The remediation's own preconditions hold. It acts on the kind of asset it is for (a model server, an agent,
    a GPU). A rollback (C(rollback_model)) needs approved digests, the C(approved_models) of the asset's use case
    in the O(registry). A GPU process (C(stop_gpu_process)) is named by the alert's C(pid) label (digits only;
    any other value is dropped); it must be a compute process discovery saw on that GPU, with its start time,
    and not a process of a model server or vector database the asset store knows on that host. No alert label
    lifts that protection. The plan carries the start time, and the module signals only that process.
  - On success records C(remediation.start) (with the payload's C(payload_sha256)) and returns RV(plan). Alert values
    the audit log would refuse as secret-shaped (a fingerprint shaped like a key) are recorded by their digest, so
    a start or a refusal is always recorded.
  - Alert label values are data. They are compared and looked up, never templated, run or used as a host pattern.
author:
  - aigov.core maintainers (@aigov)
options:
  payload:
    description:
      - The event's C(payload_b64) (C(ansible_eda.event.payload_b64) in a playbook run by the rulebook), its alert
        (without labels), asset, decision and receipt time as base64 of JSON. ansible-core renders template syntax
        in extra variables, so a playbook must never touch the event's labels; the payload carries none.
    type: str
    required: true
  approval:
    description: The id of an approved request of the approvals queue, for a C(review) decision.
    type: str
  actions:
    description:
      - The action table (docs/remediation.md), a bundled name (C(default)) or a path, as for the event source's
        C(actions); a relative path is taken from the directory the playbook runs in.
      - Also accepted, a mapping of alert name to remediation (the older form), with the bundled remediations
        (C(restart_model_server), C(rebind_loopback), C(rollback_model), C(quarantine_agent), C(stop_gpu_process),
        C(rotate_agent_secret)).
      - The remediation run is the one the decision names (C(decision.remediation)); it must be in this table, which
        gives the asset kinds it acts on and the hosts it touches. A decision without one (made before decisions named
        it) runs what the table maps its alert name to.
    type: raw
    default: default
  store:
    description:
      - The asset store (E(AIGOV_ASSET_STORE) when not set). A relative path is relative to the current directory
        (C(docs/architecture.md), "Paths").
    type: path
    default: aigov-data/assets.sqlite3
  guardrails:
    description: Guardrail policy (for its blast-radius limit), a bundled name or a path.
    type: str
    default: default
  registry:
    description: Registry of use cases (for the approved models of a rollback), a bundled name or a path.
    type: str
    default: default
  controller_host:
    description:
      - URL of the automation controller (or platform gateway) that ran the approval workflow. Only asked for a
        C(review) decision in an AAP workflow job.
      - E(CONTROLLER_HOST) when not set, as the C(Red Hat Ansible Automation Platform) credential of the job sets it.
    type: str
  controller_oauthtoken:
    description: Token for O(controller_host) (E(CONTROLLER_OAUTH_TOKEN) when not set).
    type: str
  controller_username:
    description: User for O(controller_host), with O(controller_password) (E(CONTROLLER_USERNAME) when not set).
    type: str
  controller_password:
    description: Password of O(controller_username) (E(CONTROLLER_PASSWORD) when not set).
    type: str
  validate_certs:
    description: Verify the controller's TLS certificate (E(CONTROLLER_VERIFY_SSL) when not set).
    type: bool
    default: true
  ca_path:
    description: CA bundle to verify the controller's certificate with.
    type: path
  target_group:
    description:
      - When set, the plan's target host is added to this inventory group of the run (as M(ansible.builtin.add_host)
        does), for a next play with C(hosts) set to the group. A fixed name from the playbook, never from the alert.
    type: str
extends_documentation_fragment:
  - aigov.core.audit_log
  - aigov.core.audit_log.decision_key
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Checks everything and returns the plan; records nothing (neither the start nor a refusal, nor an AAP
      approval it confirms).
  diff_mode:
    support: none
    description: No diff.
seealso:
  - module: aigov.core.audit_append
"""

EXAMPLES = r"""
- name: Check the event and record the start
  aigov.core.remediation_plan:
    payload: "{{ ansible_eda.event.payload_b64 }}"
    target_group: aigov_remediation_target
  register: aigov_plan
"""

RETURN = r"""
plan:
  description:
    - C(remediation), C(target) (inventory host), C(asset_id), C(asset_name), C(pids), C(start_times), C(ports)
      (from the asset store; for a server in a container with its own network, the host ports published to it),
      C(container) (C(runtime), C(id), C(name) of the asset's container, or null), C(fingerprint) (as the audit
      log records it), C(alert_name), C(decision), C(approval), C(owner), C(payload_sha256).
    - For C(stop_gpu_process) also C(pid), its C(start_time) as discovery recorded it, C(gpu_uuid) and
      C(protected_pids).
  returned: success
  type: dict
"""
