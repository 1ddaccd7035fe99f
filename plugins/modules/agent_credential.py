#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/agent_credential.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: agent_credential
short_description: Issue, renew and revoke an AI agent's short-lived OpenBao or Vault credential
version_added: 0.2.0
description:
  - Gives an AI agent a credential with a TTL instead of a static key, either an OpenBao/Vault token
    (O(credential_type=vault_token)) or an AppRole secret-id (O(credential_type=approle_secret_id)), and keeps it
    alive.
  - Credentials are tracked by accessor, never by value. A credential record (JSON without any secret) is kept in the
    KV version 2 engine at O(record_path), written with check-and-set; it names the current credential (accessor,
    TTL, expiry, HMAC fingerprint) and the previous ones still to revoke.
  - O(state=present) issues a credential when there is none, when the current one expired or was revoked, when
    O(credential_type) or the settings changed, or when a previous run issued one without committing or rolling back.
    When less than O(renew_threshold) of the TTL remains, a token is renewed (C(auth/token/renew-accessor); same
    token, nothing to deliver) if renewing can extend it enough, else a new one is issued; a secret-id is replaced by
    a new one. Otherwise nothing changes.
  - O(state=commit) revokes the previous credentials, after the new one was delivered and verified.
    O(state=rollback) revokes the current (new) credential and makes the previous one current again.
    O(state=absent) revokes every credential of the agent (a quarantined agent).
  - Every change, successful or not, appends an entry to the audit log O(audit_log) with accessors and fingerprints.
  - Runs on the controller; C(delegate_to) is not needed.
author:
  - aigov.core maintainers (@aigov)
options:
  agent:
    description:
      - Name of the agent (letters, digits and C(_.@-)).
    type: str
    required: true
  credential_type:
    description:
      - C(vault_token) issues a token, from O(token_role) when given, else an orphan token (C(auth/token/create-orphan))
        so that it does not die with the login token of the run.
      - C(approle_secret_id) issues a secret-id of the AppRole O(approle_role); the agent logs in with it and the
        role's role-id (returned as RV(role_id) when a secret-id is issued).
    type: str
    required: true
    choices: [approle_secret_id, vault_token]
  state:
    description:
      - C(present) issues or renews when needed. C(commit) revokes the previous credentials. C(rollback) revokes
        the current one and restores the previous one. C(absent) revokes all of them.
    type: str
    choices: [present, commit, rollback, absent]
    default: present
  record_path:
    description:
      - Path of the credential record in the KV version 2 mount O(mount_point). Defaults to C(agents/<agent>/credential).
    type: str
  policies:
    description:
      - Policies of an issued token. With O(token_role) the role may restrict them.
    type: list
    elements: str
    default: []
  token_role:
    description:
      - Token role to issue tokens from (C(auth/token/create/<token_role>)).
    type: str
  ttl:
    description:
      - TTL of an issued credential, as seconds or with a unit C(s), C(m), C(h) or C(d) (C(20s), C(1h)).
    type: str
    default: 1h
  explicit_max_ttl:
    description:
      - Hard limit of a token's life, renewals included (C(0) for none). Same format as O(ttl).
    type: str
    default: '0'
  renewable:
    description:
      - Whether an issued token can be renewed.
    type: bool
    default: true
  approle_role:
    description:
      - AppRole role whose secret-ids are issued, on the mount O(approle_mount_point). Required with
        O(credential_type=approle_secret_id).
    type: str
  secret_id_num_uses:
    description:
      - Number of logins a secret-id allows (C(0) for unlimited).
    type: int
    default: 0
  renew_threshold:
    description:
      - Renew (or replace) the credential when less than this fraction of O(ttl) remains. Between 0 and 1.
    type: float
    default: 0.5
  force:
    description:
      - With O(state=present), issue a new credential even when the current one is valid (a leaked token).
    type: bool
    default: false
  return_value:
    description:
      - Return a credential issued by this task as RV(credential). The whole result is then C(no_log). Nothing is
        returned when no credential was issued (renewal keeps the token; the agent already holds it).
    type: bool
    default: false
  owner:
    description:
      - Who owns the agent, recorded in the audit log.
    type: str
  reason:
    description:
      - Why this change is made, added to the audit entry.
    type: str
  fingerprint_key:
    description:
      - HMAC key of the fingerprints recorded for issued credentials. Defaults to the collection's public key, so
        they compare with discovered credentials (M(aigov.core.ai_asset_facts)).
    type: str
extends_documentation_fragment:
  - aigov.core.audit_log
  - aigov.core.secret_backend
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: Reads the record and looks the current accessor up; predicts the action (issue, renew, commit,
      rollback, revoke or none), the TTL and the expiry; changes nothing and appends nothing to the audit log.
  diff_mode:
    support: full
    description: Accessor, TTL and expiry before and after; never the credential.
notes:
  - Needs O(backend=vault). The identity of the run (O(auth_method)) needs C(read), C(create) and C(update) on
    C(<mount>/data/<record_path>) and C(read) on C(<mount>/metadata/<record_path>); C(update) on
    C(auth/token/create-orphan) (or C(auth/token/create/<token_role>)), C(auth/token/lookup-accessor),
    C(auth/token/renew-accessor) and C(auth/token/revoke-accessor) for tokens; C(update) on
    C(auth/<approle_mount_point>/role/<approle_role>/secret-id), C(.../secret-id-accessor/lookup) and
    C(.../secret-id-accessor/destroy), and C(read) on C(.../role-id) for secret-ids.
  - Errors name the agent, the backend and the API path; never a token or a secret-id.
seealso:
  - module: aigov.core.agent_secret
  - name: docs/secrets.md
    description: Short-lived credentials, the rotation role and the findings.
    link: https://github.com/aigov/aigov.core/blob/main/docs/secrets.md
"""

EXAMPLES = r"""
- name: Give the support bot a one-hour token, renewed when less than half of it is left
  aigov.core.agent_credential:
    agent: support-bot
    credential_type: vault_token
    policies: [support-bot]
    ttl: 1h
    explicit_max_ttl: 24h
    owner: team-support
  register: support_bot_token

- name: Issue the triage agent an AppRole secret-id and keep it for delivery (no_log result)
  aigov.core.agent_credential:
    agent: triage-agent
    credential_type: approle_secret_id
    approle_role: triage-agent
    ttl: 12h
    return_value: true
  register: triage_secret_id

- name: After the agent was verified with the new secret-id, revoke the previous one
  aigov.core.agent_credential:
    agent: triage-agent
    credential_type: approle_secret_id
    approle_role: triage-agent
    ttl: 12h
    state: commit

- name: Quarantine, revoke every credential of an agent
  aigov.core.agent_credential:
    agent: support-bot
    credential_type: vault_token
    state: absent
    reason: leaked token reported by the SOC
"""

RETURN = r"""
agent:
  description: The agent.
  returned: always
  type: str
type:
  description: The credential type.
  returned: always
  type: str
record_path:
  description: Path of the credential record.
  returned: always
  type: str
  sample: agents/support-bot/credential
action:
  description: What was done (or in check mode would be done). C(none), C(issue), C(renew), C(commit), C(rollback)
    or C(revoke).
  returned: always
  type: str
reasons:
  description: Why.
  returned: always
  type: list
  elements: str
  sample: ["less than 50% of the TTL left (12 s of 30 s)"]
accessor:
  description: Accessor of the current credential after the run; null when there is none, or in check mode for one
    that would be issued.
  returned: always
  type: str
ttl:
  description: TTL in seconds the current credential was issued with.
  returned: always
  type: int
expire_time:
  description: When the current credential expires (UTC, RFC 3339), predicted in check mode.
  returned: always
  type: str
remaining:
  description: Seconds left before the current credential expires.
  returned: always
  type: int
issued_time:
  description: When the current credential was issued.
  returned: always
  type: str
fingerprint:
  description: HMAC fingerprint of the current credential (null in check mode for one that would be issued).
  returned: always
  type: str
previous:
  description: C(accessor), C(ttl), C(expire_time), C(remaining), C(issued_time) and C(fingerprint) of the
    credential that was current before the run.
  returned: always
  type: dict
pending_revocation:
  description: Accessors issued before the current one and not revoked yet (until O(state=commit)).
  returned: always
  type: list
  elements: str
revoked:
  description: Accessors revoked by this run (also in the audit entry as C(revoked_accessors)).
  returned: always
  type: list
  elements: str
role_id:
  description: The AppRole role-id, when a secret-id was issued (the agent needs it to log in).
  returned: always
  type: str
audit:
  description: C(seq) and C(hash) of the audit entry of a change; null when nothing changed.
  returned: always
  type: dict
credential:
  description: The credential issued by this task. Only with O(return_value=true); the result is then C(no_log).
  returned: when O(return_value=true) and a credential was issued
  type: str
"""
