#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/agent_secret_findings.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_secret_findings
short_description: Findings over AI agents' secrets, stale, shared, or in plaintext outside the backend
version_added: 0.2.0
description:
  - Reads the current secret of each agent in O(agents) from the backend (and the fingerprint recorded for its
    short-lived credential, M(aigov.core.agent_credential)), turns it into an HMAC fingerprint and drops it, then
    reports findings in the collection's finding format (C(schemas/finding.v1.json)).
  - C(AIGOV-AS-001) (medium), the current version is older than O(max_age).
  - C(AIGOV-AS-002) (high), the same fingerprint is held by several agents.
  - C(AIGOV-AS-003) (high), a discovered credential (M(aigov.core.ai_asset_facts), kind C(credential)) has the
    fingerprint of an agent's secret but is not that agent's delivered environment file on that agent's host
    (the C(host) and C(env_file) of its O(agents) entry), a plaintext copy outside the backend.
  - Read-only. With O(check), also returns that M(aigov.core.ai_policy_check) result with these findings and rules
    added and its summary recounted, ready for M(aigov.core.ai_report).
author:
  - aigov.core maintainers (@aigov)
options:
  agents:
    description:
      - The agents, as names or as dicts with C(name) and optionally C(path) (default C(agents/<name>)),
        C(record_path) (default C(agents/<name>/credential)), C(host), C(env_file) and C(owner); the role's
        O(agents) entries fit as they are.
      - Without it, every agent under C(agents/) in the backend (a secret C(agents/<name>), or a folder with a
        credential record); the identity then also needs C(list) on C(<mount>/metadata/agents/). Plaintext copies
        are then found everywhere, the delivered files included, since their places are unknown.
    type: list
    elements: raw
  max_age:
    description:
      - Secrets older than this are stale (C(30d), C(12h), ...). Without it, C(AIGOV-AS-001) is not evaluated.
    type: str
  assets:
    description:
      - Discovered assets to compare with (the RV(aigov.core.ai_asset_facts#module:ai_assets) of the hosts).
    type: list
    elements: dict
  hosts:
    description:
      - Take the discovered assets of these inventory hosts (their C(ai_asset_facts) result). Default, all hosts.
    type: list
    elements: str
  store:
    description:
      - Take the discovered assets from this asset store (M(aigov.core.ai_asset_store)).
    type: path
  check:
    description:
      - A registered M(aigov.core.ai_policy_check) result to add the findings to (returned as RV(check)).
    type: dict
  fingerprint_key:
    description:
      - HMAC key of the fingerprints; must be the one discovery used. Defaults to the collection's public key.
    type: str
extends_documentation_fragment:
  - aigov.core.secret_backend
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
notes:
  - The identity needs C(read) on the agents' secret and credential record paths. Values are read only to be
    fingerprinted; they never appear in a result, message or finding.
seealso:
  - module: aigov.core.agent_credential
  - module: aigov.core.ai_report
"""

EXAMPLES = r"""
- name: Check the estate against the baseline
  aigov.core.ai_policy_check:
  register: scan

- name: Add the agent secret findings
  aigov.core.agent_secret_findings:
    agents: "{{ agent_secret_rotation_agents }}"
    max_age: 30d
    check: "{{ scan }}"
  register: secret_findings

- name: Every agent in the backend, shared or stale (no delivered files known)
  aigov.core.agent_secret_findings:
    max_age: 30d
    assets: []
  register: backend_findings

- name: One report with both
  aigov.core.ai_report:
    check: "{{ secret_findings.check }}"
    dest: /var/lib/aigov/reports
"""

RETURN = r"""
findings:
  description: The findings (C(schemas/finding.v1.json)), most severe first.
  returned: always
  type: list
  elements: dict
rules:
  description: Per rule, what it applied to and how many failed, in M(aigov.core.ai_policy_check)'s C(rules) shape.
  returned: always
  type: list
  elements: dict
summary:
  description: Counts by severity and C(agents), the number of agents looked at.
  returned: always
  type: dict
hosts_missing:
  description: Targeted hosts without a discovery result (their plaintext copies could not be looked for).
  returned: always
  type: list
  elements: str
check:
  description: O(check) with the findings and rules added and its summary recounted.
  returned: when O(check) is given
  type: dict
"""
