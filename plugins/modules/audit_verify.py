#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/audit_verify.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: audit_verify
short_description: Verify the hash chain of the aigov.core audit log
version_added: 0.1.0
description:
  - Reads the audit log (JSON lines, one entry per line, schema C(audit-entry.v1.json)) and checks that every
    entry matches its hash, that seq runs 1, 2, 3, ... and that each entry's C(prev_hash) is the hash of the
    entry before it.
  - Fails on the first problem, naming its kind (C(edited), C(deleted), C(inserted), C(reordered),
    C(malformed), C(anchor), C(seal)), the line number and the seq.
  - The hashes are not keyed, so a rewrite of the whole log from some entry onwards yields a valid chain.
    Keep RV(anchor) of a run somewhere the log's writers cannot change (a job artifact, a ticket) and pass it
    back in O(anchor) to catch that, and entries deleted from the end.
  - Without O(anchor) a truncated log cannot be told from an intact one. The result then says so plainly
    (RV(state) C(unanchored), and the message says UNANCHORED) rather than calling the chain intact.
  - With O(decision_key_file) the seals of the event source's C(decision) entries and of the C(approval.decision)
    entries are checked too (problem kind C(seal)); an entry appended by anyone without the decision key fails.
    Entries written before seals existed are accepted until the first sealed one.
author:
  - aigov.core maintainers (@aigov)
options:
  path:
    description:
      - Path of the audit log. A relative path is relative to the current directory (C(docs/architecture.md), "Paths").
      - The environment variable E(AIGOV_AUDIT_LOG) is used when the option is not set.
    type: path
    default: aigov-data/audit.jsonl
extends_documentation_fragment:
  - aigov.core.audit_log.anchor
  - aigov.core.audit_log.decision_key
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Only reads; behaves the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed.
notes:
  - The entry format, the hash rule and the writers' locking are described in C(docs/secrets.md) in the collection.
seealso:
  - module: aigov.core.agent_secret
"""

EXAMPLES = r"""
- name: Verify the audit log and keep its anchor
  aigov.core.audit_verify:
    path: /var/lib/aigov/audit.jsonl
  register: aigov_audit

- name: Verify again later against the kept anchor
  aigov.core.audit_verify:
    path: /var/lib/aigov/audit.jsonl
    anchor: "{{ aigov_audit.anchor }}"
"""

RETURN = r"""
ok:
  description: Whether the chain is intact (and holds the anchor, when one was given, and the seals, with decision keys).
  returned: always
  type: bool
state:
  description:
    - C(intact) (intact and holding O(anchor)), C(unanchored) (intact as far as it goes, but no anchor was given, so
      entries cut from the end would not show) or C(broken).
  returned: always
  type: str
  sample: unanchored
sealed:
  description: Number of decision and approval entries whose seal held; null without O(decision_key_file).
  returned: always
  type: int
path:
  description: Path of the log that was read.
  returned: always
  type: str
entries:
  description: Number of lines in the log.
  returned: always
  type: int
last_seq:
  description: Seq of the last entry of the intact part of the chain; null for an empty log.
  returned: always
  type: int
last_hash:
  description: Hash of that entry.
  returned: always
  type: str
problem:
  description: The first problem, or null.
  returned: always
  type: dict
  sample: {kind: deleted, line: 4, seq: 5, message: "seq 4 deleted: missing before line 4 (seq 5)"}
anchor:
  description: C(seq) and C(hash) of the last entry, to keep outside the log and pass to a later run.
  returned: when the chain is intact
  type: dict
  sample: {seq: 412, hash: 3f1c0e...}
"""
