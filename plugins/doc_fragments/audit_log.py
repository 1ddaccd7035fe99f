# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The audit log a controller-side module appends to or reads (plugin_utils.action.AUDIT_LOG_OPTION)."""

    DOCUMENTATION = r"""
options:
  audit_log:
    description:
      - Path of the hash-chained audit log on the controller.
      - The environment variable E(AIGOV_AUDIT_LOG) is used when the option is not set (or empty), else the default.
        A relative path is relative to the current directory, where ansible-playbook runs. Every module, role,
        playbook and the event source resolve it by this one rule (C(docs/architecture.md), "Paths").
    type: path
    default: aigov-data/audit.jsonl
"""

    # The chain's anchor: an entry known from an earlier run (plugin_utils.action.AUDIT_ANCHOR_OPTION).
    ANCHOR = r"""
options:
  anchor:
    description:
      - An entry that must be in the chain with this hash, as an earlier run returned it (C(anchor) of
        M(aigov.core.audit_verify), C(chain) of M(aigov.core.governance_report)). Detects a log cut before it.
    type: dict
    suboptions:
      seq:
        description: Sequence number of the anchored entry.
        type: int
        required: true
      hash:
        description: Its hash.
        type: str
        required: true
"""

    # The decision keys (plugin_utils.action.DECISION_KEY_OPTION; module_utils.audit.decision_keys).
    DECISION_KEY = r"""
options:
  decision_key_file:
    description:
      - File of the decision keys (C(docs/remediation.md), "The decision key"), the same file the
        C(aigov.core.aiops_alerts) event source seals its decisions with. One C(<key id>:<key>) a line; the first
        signs, the others are earlier keys still accepted. It must not be readable or writable by others.
      - The environment variable E(AIGOV_DECISION_KEY_FILE) is used when the option is not set.
    type: path
"""
