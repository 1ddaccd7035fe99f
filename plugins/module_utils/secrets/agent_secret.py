# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An agent's secret in a backend: create, rotate, read its metadata; every write audited.

Plain Python behind aigov.core.agent_secret (action) and the lookup of the
same name. Values leave this module only through the `value` of ensure()'s
third return, which front ends drop unless asked; everything else carries
fingerprints.
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
import string

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.common import paths
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import (
    SecretBackendError, SecretNotFound, parse_time)

ALPHABETS = {
    'alnum': string.ascii_letters + string.digits,
    'urlsafe': string.ascii_letters + string.digits + '-_',
    'hex': '0123456789abcdef',
}
MIN_LENGTH = 16  # at least 64 bits of randomness even with the hex alphabet
STATES = ('present', 'rotate', 'read')
_DURATION = re.compile(r'^(\d+)\s*([smhd]?)$')
_UNIT = dict(s=1, m=60, h=3600, d=86400)
AGENT_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@-]*$')  # how every aigov.core module names an agent
_PREFIX = re.compile(r'^[A-Za-z0-9_.-]*$')


class AgentSecretError(AigovError):
    """A request about an agent's secret was refused or failed; the message says whether anything was written."""


def default_path(agent):
    return 'agents/%s' % agent


def generate(length, alphabet, prefix=''):
    """prefix + length characters drawn from the alphabet by the OS's CSPRNG."""
    chars = ALPHABETS[alphabet]
    return prefix + ''.join(secrets.choice(chars) for _position in range(length))


def duration_seconds(text, bare_unit):
    """Seconds from '30d', '12h', '90m', '45s', or a bare number in bare_unit ('s' or 'd'); None when it is none of them."""
    match = _DURATION.match(str(text).strip()) if text is not None else None
    return int(match.group(1)) * _UNIT[match.group(2) or bare_unit] if match else None


def parse_max_age(text):
    """Seconds from '30d', '12h', '90m', '45s' or a bare number of days; None when unset."""
    if text is None or text == '':
        return None
    seconds = duration_seconds(text, 'd')
    if not seconds:
        raise AgentSecretError("max_age must be a positive number with an optional unit s, m, h or d (days, the "
                               "default), such as 30d or 12h; got %r" % (text,))
    return seconds


class Request(object):
    """What to do with one agent's secret; validated at construction, before the backend is contacted."""

    def __init__(self, agent, state='present', path=None, value=None, length=40, alphabet='alnum', prefix='',
                 max_age=None, owner=None, fingerprint_key=None, audit_path=None, actor='ansible', reason=None):
        if not agent or not AGENT_NAME.match(agent):
            raise AgentSecretError('agent must be a name of letters, digits and _.@- (got %r)' % (agent,))
        if state not in STATES:
            raise AgentSecretError('state must be one of %s, not %r' % (', '.join(STATES), state))
        if alphabet not in ALPHABETS:
            raise AgentSecretError('alphabet must be one of %s, not %r' % (', '.join(sorted(ALPHABETS)), alphabet))
        if int(length) < MIN_LENGTH:
            raise AgentSecretError('length must be at least %d, not %s' % (MIN_LENGTH, length))
        if not _PREFIX.match(prefix or ''):
            raise AgentSecretError('prefix may hold only letters, digits and _.- (got %r)' % (prefix,))
        if value is not None and not value:
            raise AgentSecretError('value must not be empty')  # an empty secret is no secret: refuse, never store it
        self.agent, self.state, self.path = agent, state, path or default_path(agent)
        self.value, self.length, self.alphabet, self.prefix = value, int(length), alphabet, prefix or ''
        self.max_age = parse_max_age(max_age)
        self.owner, self.key, self.actor = owner, fingerprint_key or DEFAULT_FINGERPRINT_KEY, actor
        self.audit_path = paths.resolve(paths.AUDIT_LOG, audit_path)
        self.reason = reason  # the caller's why (a leak, a rollback), recorded with the engine's reasons

    def __repr__(self):
        return '<Request agent=%r state=%r path=%r>' % (self.agent, self.state, self.path)


def _age_seconds(created_time, now):
    return max(0.0, (now - parse_time(created_time)).total_seconds())


def describe(version, key, now):
    """Metadata of a SecretVersion: never its value."""
    age = _age_seconds(version.created_time, now) if version.created_time else None
    return dict(version=version.version, fingerprint=fingerprint(version.value, key), created_time=version.created_time,
                age_days=None if age is None else round(age / 86400.0, 3))


def _decide(req, current, now):
    """(action, reasons, due): action is none, create, update or rotate."""
    due = False
    if current is not None and req.max_age is not None and current.created_time:
        due = _age_seconds(current.created_time, now) >= req.max_age
    if req.state == 'read':
        return 'none', [], due
    if current is None:
        return 'create', ['no current version at %s' % req.path], due
    if req.state == 'rotate':
        if req.value is not None and hmac.compare_digest(req.value, current.value):
            raise AgentSecretError("agent %s: state=rotate with a value that is already the current version (%d) at %s; "
                                   "supply a different value or none; nothing written" % (req.agent, current.version, req.path))
        return 'rotate', ['rotation forced (state=rotate)'], due
    if req.value is not None and not hmac.compare_digest(req.value, current.value):
        return 'update', ['the supplied value differs from the current version'], due
    if due:
        return 'rotate', ['older than max_age (%s s)' % req.max_age], due
    return 'none', [], due


def _audit(req, backend, action, outcome, reasons, before, after, extra=None):
    """One entry; action is what was decided (create, update, rotate), or the requested state when it failed first."""
    details = dict(path=req.path, backend=backend.kind, backend_location=backend.description,
                   old_version=(before or {}).get('version'), old_fingerprint=(before or {}).get('fingerprint'),
                   new_version=(after or {}).get('version'), new_fingerprint=(after or {}).get('fingerprint'))
    details.update(extra or {})
    return audit_log.append(req.audit_path, req.actor, entries.secret_action(entries.AGENT_SECRET, action), req.agent,
                            req.owner, outcome, reasons=reasons, details=details)


def ensure(backend, req, check_mode=False, now=None, audit_extra=None):
    """Bring the agent's secret to req.state; return (changed, result, value or None).

    The value is the new secret when one was written, else the current one
    (None in check mode when it would be generated). Backend failures become
    AgentSecretError naming the agent; on a write path they are audited.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    writes = req.state != 'read' and not check_mode
    before, action = None, req.state
    if writes:
        try:
            audit_log.check_appendable(req.audit_path)  # never change what the log then cannot record
        except AigovError as exc:
            raise AgentSecretError('agent %s: %s; nothing written' % (req.agent, exc))
    try:
        try:
            current = backend.read(req.path)
        except SecretNotFound:
            current = None
        before = describe(current, req.key, now) if current else None
        action, reasons, due = _decide(req, current, now)
        if req.reason and action != 'none':
            reasons = reasons + [req.reason]
        result = dict(agent=req.agent, path=req.path, backend=backend.kind, state=req.state, action=action,
                      reasons=reasons, due=due, exists=current is not None, previous=before, audit=None)
        if action == 'none':
            result.update(before or dict(version=None, fingerprint=None, created_time=None, age_days=None))
            return False, result, current.value if current else None
        value = req.value if req.value is not None else (None if check_mode else generate(req.length, req.alphabet, req.prefix))
        predicted = dict(version=(current.version if current else 0) + 1,
                         fingerprint=fingerprint(value, req.key) if value is not None else None,
                         created_time=None, age_days=None)
        if check_mode:
            result.update(predicted, exists=current is not None)
            return True, result, value
        expected = current.version if current else backend.read_metadata(req.path).current_version
        written = backend.write(req.path, value, expected)
    except SecretBackendError as exc:
        if writes:
            _audit_failure(req, backend, action, exc, before, audit_extra)
        raise AgentSecretError('agent %s: %s' % (req.agent, exc))
    after = dict(version=written.version, fingerprint=predicted['fingerprint'], created_time=written.created_time,
                 age_days=0.0)
    try:
        entry = _audit(req, backend, action, 'success', reasons, before, after, audit_extra)
    except AigovError as exc:
        raise AgentSecretError('agent %s: version %s (%s) was written to %s but could not be audited: %s'
                               % (req.agent, written.version, after['fingerprint'], backend.where(req.path), exc))
    result.update(after, exists=True, due=due, audit=dict(seq=entry['seq'], hash=entry['hash']))
    return True, result, value


def _audit_failure(req, backend, action, exc, before, extra):
    """Record a failed write attempt; when even that fails, say so in the error rather than hide it."""
    try:
        _audit(req, backend, action, 'failure', ['%s: %s' % (type(exc).__name__, exc)], before, None, extra)
    except AigovError as audit_exc:
        raise AgentSecretError('agent %s: %s (and the failure could not be audited: %s)' % (req.agent, exc, audit_exc))
