#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/agent_secret.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_secret
short_description: Create, rotate or inspect an AI agent's secret in OpenBao, Vault or a local file store
version_added: 0.1.0
description:
  - Keeps one secret per AI agent (an API key the agent presents, a credential it holds) in a versioned
    secret backend, and reports it by version, HMAC fingerprint and age, never by value.
  - O(state=present) creates the secret when it is missing, writes O(value) as a new version when it differs
    from the current one, and rotates (writes a new generated version) when the current one is older than
    O(max_age). Otherwise nothing is written and the task is not changed.
  - O(state=rotate) always writes a new version. O(state=read) only reads metadata.
  - Every write is made with check-and-set against the version this run read, so of two runs rotating the same
    agent at once one wins and the other fails without writing; the backend never holds a lost update.
  - Every write attempt, successful or not, appends an entry to the hash-chained audit log O(audit_log) with the
    agent, O(owner), old and new versions and fingerprints and the outcome. The log is checked before anything is
    written, so a change the log could not record is never made.
  - Runs on the controller, so the secret never travels to a managed host; C(delegate_to) is not needed.
author:
  - aigov.core maintainers (@aigov)
options:
  agent:
    description:
      - Name of the agent (letters, digits and C(_.@-)). Named in messages and in the audit log.
    type: str
    required: true
  state:
    description:
      - C(present) ensures the secret exists (and is younger than O(max_age), and equals O(value) when given).
      - C(rotate) writes a new version whatever the current one is. With O(value), that value must differ from the
        current one.
      - C(read) returns metadata only and writes nothing.
    type: str
    choices: [present, rotate, read]
    default: present
  path:
    description:
      - Path of the secret in the backend (inside O(mount_point) for C(vault)). Defaults to C(agents/<agent>).
    type: str
  value:
    description:
      - The secret to store, instead of a generated one (for a key issued by a provider).
    type: str
  length:
    description:
      - Number of random characters of a generated secret, after O(prefix). At least 16.
    type: int
    default: 40
  alphabet:
    description:
      - Characters of a generated secret. C(alnum) is letters and digits, C(urlsafe) adds C(-) and C(_),
        C(hex) is lowercase hexadecimal.
    type: str
    choices: [alnum, hex, urlsafe]
    default: alnum
  prefix:
    description:
      - Fixed start of a generated secret, provider-style (C(sk-agent-)), so scanners recognise leaked keys.
        Letters, digits and C(_.-).
    type: str
    default: ''
  max_age:
    description:
      - Oldest acceptable age of the current version, as a number with an optional unit C(s), C(m), C(h) or C(d)
        (days, the default), such as C(30d) or C(12h). With O(state=present) an older secret is rotated; every
        state reports RV(due).
    type: str
  return_value:
    description:
      - Return the current (or new) value as RV(secret).
      - The value is then in the task result, so Ansible hides the whole result from the output and logs (it is
        marked C(no_log)); it stays available to later tasks through C(register). Use it only to hand the value
        straight to a task that delivers it, and give that task C(no_log) too. Prefer the lookup
        C(aigov.core.agent_secret) when a playbook only needs the value.
    type: bool
    default: false
  owner:
    description:
      - Who owns the agent (the registry's owner), recorded in the audit log.
    type: str
  reason:
    description:
      - Why this write is made (a leaked key, a rollback), added to RV(reasons) and to the audit entry of a write.
    type: str
  fingerprint_key:
    description:
      - HMAC key of the fingerprints. Defaults to the collection's public key, so fingerprints are comparable with
        those of M(aigov.core.ai_asset_facts). Set your own to keep them site-specific.
    type: str
extends_documentation_fragment:
  - aigov.core.audit_log
  - aigov.core.secret_backend
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Reads the backend and predicts the action (would create, would rotate) and the next version; writes
      nothing, appends nothing to the audit log.
  diff_mode:
    support: full
    description: Version and fingerprint before and after; never the value.
notes:
  - Bad options and an unreachable or refusing backend fail the task before anything is written, with a message
    naming the agent, the backend (URL or directory) and the path; never a token or a value.
  - The C(vault) backend keeps the secret in the C(value) field of a KV version 2 entry and needs the Python
    library C(requests) on the controller.
  - The token or AppRole identity needs C(create), C(read) and C(update) on C(<mount>/data/<path>) and C(read) on
    C(<mount>/metadata/<path>).
seealso:
  - module: aigov.core.audit_verify
  - name: docs/secrets.md
    description: Backends, authentication, the audit log and full examples.
    link: https://github.com/aigov/aigov.core/blob/main/docs/secrets.md
"""

EXAMPLES = r"""
- name: Make sure the support bot has a key, rotated monthly
  aigov.core.agent_secret:
    agent: support-bot
    owner: team-support
    prefix: sk-agent-
    max_age: 30d
    url: https://bao.example.com:8200
    auth_method: approle
    role_id: "{{ rotator_role_id }}"
    secret_id: "{{ rotator_secret_id }}"
  register: support_bot_key

- name: Rotate now (a leaked key), and hand the new value to the delivery task only
  aigov.core.agent_secret:
    agent: support-bot
    state: rotate
    return_value: true
  register: rotated

- name: Deliver it to the agent's host
  ansible.builtin.copy:
    content: "SUPPORT_BOT_KEY={{ rotated.secret }}\n"
    dest: /etc/support-bot/env
    mode: '0600'
  no_log: true
  delegate_to: agent-host-1

- name: Report which agents are due (metadata only)
  aigov.core.agent_secret:
    agent: "{{ item }}"
    state: read
    max_age: 30d
  loop: [support-bot, triage-agent]
  register: ages

- name: A single control node without a secret server
  aigov.core.agent_secret:
    agent: nightly-report
    backend: file
    file_dir: /var/lib/aigov/secrets
"""

RETURN = r"""
agent:
  description: The agent.
  returned: always
  type: str
path:
  description: Path of the secret in the backend.
  returned: always
  type: str
  sample: agents/support-bot
backend:
  description: Kind of backend, C(vault) or C(file).
  returned: always
  type: str
action:
  description: What was done (or in check mode would be done). C(none), C(create), C(update) or C(rotate).
  returned: always
  type: str
reasons:
  description: Why the action was taken.
  returned: always
  type: list
  elements: str
  sample: ["older than max_age (2592000 s)"]
exists:
  description: Whether the secret exists (after the run; in check mode, whether it existed).
  returned: always
  type: bool
due:
  description: Whether the version found was older than O(max_age). False without O(max_age).
  returned: always
  type: bool
version:
  description: Current version after the run (predicted in check mode); null when there is none.
  returned: always
  type: int
  sample: 4
fingerprint:
  description: C(hmac-sha256:) and 16 hex digits of the current value; null in check mode for a value that would be
    generated.
  returned: always
  type: str
  sample: "hmac-sha256:3f0c6b1d9a7e5c21"
created_time:
  description: When the current version was written (UTC, RFC 3339).
  returned: always
  type: str
age_days:
  description: Age of the current version in days.
  returned: always
  type: float
previous:
  description: C(version), C(fingerprint), C(created_time) and C(age_days) of the version found before the run;
    null when there was none.
  returned: always
  type: dict
audit:
  description: C(seq) and C(hash) of the audit entry of a write; null when nothing was written.
  returned: always
  type: dict
secret:
  description: The current or new value. Only with O(return_value=true); the result is then C(no_log).
  returned: when O(return_value=true) and a value exists
  type: str
"""
