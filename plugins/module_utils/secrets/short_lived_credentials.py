# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Short-lived agent credentials: issue, renew, commit, roll back and revoke OpenBao/Vault tokens and AppRole secret-ids.

Plain Python behind aigov.core.agent_credential. A credential is tracked by its
accessor, never by its value: a credential record (JSON, no secret in it) is kept
in the secret backend at `agents/<agent>/credential` with check-and-set, naming
the current credential and the previous ones still to revoke. The value leaves
this module only as the third return of ensure(), right after it was issued.

The life of a credential, driven by the role (tasks/short_lived.yml):
present (issue or renew) -> deliver, restart, verify -> commit (revoke the previous
ones); or, when delivery or verification failed, rollback (revoke the new one,
the previous one is current again).
"""

from __future__ import annotations

import datetime
import json
import re

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.secrets.agent_secret import AGENT_NAME, duration_seconds
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import SecretBackendError, SecretNotFound, parse_time
from ansible_collections.aigov.core.plugins.module_utils.secrets.short_lived_issuers import ISSUERS, after

TYPES = tuple(sorted(ISSUERS))
STATES = ('present', 'commit', 'rollback', 'absent')
RECORD_SCHEMA_VERSION = 1
_NAME = re.compile(r'^[A-Za-z0-9_.-]+$')


class CredentialError(AigovError):
    """A request about an agent's short-lived credential was refused or failed; the message says what changed."""


def default_record_path(agent):
    return 'agents/%s/credential' % agent


def parse_duration(value, name, allow_zero=False):
    """Seconds from 20, '20s', '10m', '1h' or '1d' (a bare number is seconds, as in Vault)."""
    seconds = duration_seconds(value, 's')
    if seconds is None or (seconds == 0 and not allow_zero):
        raise CredentialError('%s must be a %snumber of seconds or a number with a unit s, m, h or d (such as 20s '
                              'or 1h); got %r' % (name, '' if allow_zero else 'positive ', value))
    return seconds


class Request(object):
    """What to do with one agent's credential; validated before the backend is contacted."""

    def __init__(self, agent, credential_type, state='present', record_path=None, policies=None, token_role=None,
                 ttl='1h', explicit_max_ttl=0, renewable=True, approle_role=None, approle_mount_point='approle',
                 num_uses=0, renew_threshold=0.5, force=False, owner=None, fingerprint_key=None, audit_path=None, actor='ansible',
                 reason=None):
        if not agent or not AGENT_NAME.match(agent):
            raise CredentialError('agent must be a name of letters, digits and _.@- (got %r)' % (agent,))
        if credential_type not in ISSUERS:
            raise CredentialError('agent %s: credential_type must be one of %s, not %r' % (agent, ', '.join(TYPES), credential_type))
        if state not in STATES:
            raise CredentialError('agent %s: state must be one of %s, not %r' % (agent, ', '.join(STATES), state))
        for name, value in (('token_role', token_role), ('approle_role', approle_role), ('approle_mount_point', approle_mount_point)):
            if value is not None and not _NAME.match(value):
                raise CredentialError('agent %s: %s may hold only letters, digits and _.- (got %r)' % (agent, name, value))
        if credential_type == 'approle_secret_id' and not approle_role:
            raise CredentialError('agent %s: credential_type=approle_secret_id needs approle_role' % agent)
        if not 0 < float(renew_threshold) < 1:
            raise CredentialError('agent %s: renew_threshold must be a fraction of the TTL between 0 and 1 (exclusive), '
                                  'not %s' % (agent, renew_threshold))
        if int(num_uses) < 0:
            raise CredentialError('agent %s: num_uses must be 0 (unlimited) or more, not %s' % (agent, num_uses))
        self.agent, self.type, self.state = agent, credential_type, state
        self.record_path = record_path or default_record_path(agent)
        self.ttl = parse_duration(ttl, 'ttl')
        self.settings = dict(policies=sorted(policies or []), token_role=token_role, ttl=self.ttl,
                             explicit_max_ttl=parse_duration(explicit_max_ttl, 'explicit_max_ttl', allow_zero=True),
                             renewable=bool(renewable), approle_role=approle_role,
                             approle_mount_point=(approle_mount_point or 'approle').strip('/'), num_uses=int(num_uses))
        if self.settings['explicit_max_ttl'] and self.settings['explicit_max_ttl'] < self.ttl:
            raise CredentialError('agent %s: explicit_max_ttl (%s s) must not be shorter than ttl (%s s)'
                                  % (agent, self.settings['explicit_max_ttl'], self.ttl))
        self.threshold, self.force = float(renew_threshold), bool(force)
        self.owner, self.key, self.actor, self.reason = owner, fingerprint_key or DEFAULT_FINGERPRINT_KEY, actor, reason
        self.audit_path = paths.resolve(paths.AUDIT_LOG, audit_path)

    def __repr__(self):
        return '<Request agent=%r type=%r state=%r>' % (self.agent, self.type, self.state)


def _read_record(backend, req):
    """(record, version): the credential record, or an empty one at version 0."""
    try:
        found = backend.read(req.record_path)
    except SecretNotFound:
        return dict(schema_version=RECORD_SCHEMA_VERSION, agent=req.agent, type=None, settings=None, current=None,
                    previous=[]), backend.read_metadata(req.record_path).current_version
    try:
        record = json.loads(found.value)
        if record.get('schema_version') != RECORD_SCHEMA_VERSION or not isinstance(record.get('previous'), list):
            raise ValueError('unknown schema')
    except (ValueError, AttributeError):
        raise CredentialError('agent %s: %s holds no aigov.core credential record (schema_version %d); nothing changed'
                              % (req.agent, backend.where(req.record_path), RECORD_SCHEMA_VERSION))
    return record, found.version


def _status(current, now):
    """The public part of a credential record entry, with its remaining seconds."""
    if not current:
        return dict(accessor=None, expire_time=None, ttl=None, remaining=None, fingerprint=None, issued_time=None)
    remaining = None
    if current.get('expire_time'):
        remaining = max(0, int((parse_time(current['expire_time']) - now).total_seconds()))
    return dict(accessor=current['accessor'], expire_time=current.get('expire_time'), ttl=current.get('ttl'),
                remaining=remaining, fingerprint=current.get('fingerprint'), issued_time=current.get('issued_time'))


def _decide(issuer, req, record, now):
    """(action, reasons, live): issue, renew or none for state=present; live is the lookup of the current credential."""
    current = record['current']
    if not current:
        return 'issue', ['no credential issued yet'], None
    if record['type'] != req.type or record['settings'] != req.settings:
        return 'issue', ['credential type or settings changed'], None
    if req.force:
        return 'issue', ['a new credential was requested (force)'], None
    if record['previous']:
        return 'issue', ['a previous run issued %s but did not finish (not committed or rolled back): '
                         'which one the agent holds is unknown' % current['accessor']], None
    live = issuer.lookup(req, current['accessor'], now)
    if live is None:
        return 'issue', ['credential %s expired or was revoked' % current['accessor']], None
    floor = req.threshold * req.ttl
    if live['remaining'] >= floor:
        return 'none', [], live
    reason = 'less than %d%% of the TTL left (%d s of %d s)' % (req.threshold * 100, live['remaining'], req.ttl)
    if issuer.renewable(live) and issuer.renewed_remaining(req, live, now) >= floor:
        return 'renew', [reason], live
    return 'issue', [reason + (': renewing cannot extend it enough' if issuer.can_renew else '')], live


def _audit(req, backend, action, outcome, reasons, old, new, extra=None):
    details = dict(type=req.type, record_path=req.record_path, backend=backend.kind, backend_location=backend.description,
                   old_accessor=(old or {}).get('accessor'), old_fingerprint=(old or {}).get('fingerprint'),
                   new_accessor=(new or {}).get('accessor'), new_fingerprint=(new or {}).get('fingerprint'),
                   expire_time=(new or {}).get('expire_time'))
    details.update(extra or {})
    return audit_log.append(req.audit_path, req.actor, entries.secret_action(entries.AGENT_CREDENTIAL, action), req.agent,
                            req.owner, outcome, reasons=reasons + ([req.reason] if req.reason else []), details=details)


def ensure(backend, req, check_mode=False, now=None, audit_extra=None):
    """Bring the agent's credential to req.state; return (changed, result, value or None).

    The value is the credential just issued (None otherwise, and in check mode).
    Errors are CredentialError naming the agent and the backend; a failed change
    is audited and leaves the record as it was.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if backend.kind != 'vault':
        raise CredentialError('agent %s: short-lived credentials need backend=vault (OpenBao or Vault issues them), '
                              'not %s' % (req.agent, backend.kind))
    issuer = ISSUERS[req.type](backend)
    if not check_mode:
        try:
            audit_log.check_appendable(req.audit_path)
        except AigovError as exc:
            raise CredentialError('agent %s: %s; nothing changed' % (req.agent, exc))
    action, old, new = req.state, None, None
    try:
        record, version = _read_record(backend, req)
        old = record['current']
        if req.state == 'present':
            action, reasons, live = _decide(issuer, req, record, now)
        else:
            action, reasons, live = _plan_finish(req, record)
        result = dict(agent=req.agent, type=req.type, record_path=req.record_path, state=req.state, action=action,
                      reasons=reasons, previous=_status(old, now), audit=None, role_id=None, revoked=[],
                      pending_revocation=[item['accessor'] for item in record['previous']])
        if action == 'none':
            result.update(_status(dict(old, expire_time=live['expire_time']) if live else old, now))
            return False, result, None
        if check_mode:
            result.update(_predict(issuer, req, action, record, live, now))
            return True, result, None
        before = _accessors(record)
        value, record, new = _apply(issuer, req, action, record, live, now)
        revoked = [accessor for accessor in before if accessor not in _accessors(record)]
        try:
            backend.write(req.record_path, json.dumps(record, sort_keys=True), version)
        except SecretBackendError:
            if action == 'issue':  # not recorded, so never delivered: take it back
                issuer.revoke(req, new['accessor'])
            raise
    except SecretBackendError as exc:
        if not check_mode:
            _audit_failure(req, backend, action, exc, old)
        raise CredentialError('agent %s: %s' % (req.agent, exc))
    entry = _audit(req, backend, action, 'success', reasons, old, new or record['current'],
                   dict(audit_extra or {}, revoked_accessors=revoked))
    result.update(_status(record['current'], now), audit=dict(seq=entry['seq'], hash=entry['hash']), revoked=revoked,
                  pending_revocation=[item['accessor'] for item in record['previous']])
    if action == 'issue' and req.type == 'approle_secret_id':
        result['role_id'] = issuer.role_id(req)
    return True, result, value


def _plan_finish(req, record):
    """(action, reasons, None) of commit, rollback and absent."""
    if req.state == 'commit':
        if not record['previous']:
            return 'none', [], None
        return 'commit', ['the current credential was delivered and verified: revoking %d previous' % len(record['previous'])], None
    if req.state == 'rollback':
        if not record['previous'] and not record['current']:
            return 'none', [], None
        return 'rollback', ['delivery or verification of %s failed' % (record['current'] or {}).get('accessor')], None
    if not record['current'] and not record['previous']:
        return 'none', [], None
    return 'revoke', ['state=absent: every credential of the agent revoked'], None


def _predict(issuer, req, action, record, live, now):
    if action == 'issue':
        return dict(accessor=None, ttl=req.ttl, remaining=req.ttl, fingerprint=None, issued_time=None,
                    expire_time=after(now, req.ttl))
    if action == 'renew':
        current = dict(record['current'], expire_time=live['expire_time'])
        current['expire_time'] = after(now, issuer.renewed_remaining(req, live, now))
        return _status(current, now)
    if action == 'rollback':
        return _status(record['previous'][-1] if record['previous'] else None, now)
    if action == 'revoke':
        return _status(None, now)
    return _status(record['current'], now)


def _accessors(record):
    return [item['accessor'] for item in record['previous'] + ([record['current']] if record['current'] else [])]


def _apply(issuer, req, action, record, live, now):
    """Make the change in OpenBao/Vault; return (value or None, the new record, the new credential entry or None)."""
    record = dict(record, previous=list(record['previous']))
    if action == 'issue':
        value, new = issuer.issue(req, now)
        new['fingerprint'] = fingerprint(value, req.key)
        if record['current']:
            record['previous'].append(record['current'])
        record.update(type=req.type, settings=req.settings, current=new)
        return value, record, new
    if action == 'renew':
        expire_time = issuer.renew(req, record['current']['accessor'], now)
        record['current'] = dict(record['current'], expire_time=expire_time)
        return None, record, record['current']
    if action == 'commit':
        for item in record['previous']:
            issuer.revoke(req, item['accessor'])
        record['previous'] = []
        return None, record, None
    if action == 'rollback':
        if record['current']:
            issuer.revoke(req, record['current']['accessor'])
        record['current'] = record['previous'].pop() if record['previous'] else None
        return None, record, None
    for item in record['previous'] + ([record['current']] if record['current'] else []):
        issuer.revoke(req, item['accessor'])
    record.update(current=None, previous=[])
    return None, record, None


def _audit_failure(req, backend, action, exc, old):
    try:
        _audit(req, backend, action, 'failure', ['%s: %s' % (type(exc).__name__, exc)], old, None)
    except AigovError as audit_exc:
        raise CredentialError('agent %s: %s (and the failure could not be audited: %s)' % (req.agent, exc, audit_exc))
