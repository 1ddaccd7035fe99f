# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OpenBao / Vault calls behind short-lived credentials: one issuer class per credential type.

Every call goes through VaultKV2Backend.request (same URL, namespace, TLS and
login as the KV backend, errors that name the backend and never the token).
Issuers address credentials by accessor only; the value is returned once, by
issue(). Revoking a credential that is already gone is not an error.
"""

from __future__ import annotations

import datetime
import json

from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import (
    SecretBackendError, SecretNotFound, parse_time)


def _time_text(moment):
    return moment.isoformat(timespec='microseconds').replace('+00:00', 'Z')


def after(now, seconds):
    return _time_text(now + datetime.timedelta(seconds=int(seconds)))


class TokenIssuer(object):
    """OpenBao/Vault tokens, from a token role or as orphans (a child token would die with the rotator's own login)."""

    can_renew = True

    def __init__(self, backend):
        self.backend = backend

    def _call(self, api_path, what, body):
        return self.backend.request('POST', api_path, what, api_path, body=body)

    def issue(self, req, now):
        settings = req.settings
        api_path = 'auth/token/create/%s' % settings['token_role'] if settings['token_role'] else 'auth/token/create-orphan'
        body = dict(ttl='%ds' % req.ttl, renewable=settings['renewable'], display_name='aigov-%s' % req.agent,
                    meta=dict(agent=req.agent, issued_by='aigov.core'))
        if settings['policies']:
            body['policies'] = settings['policies']
        if settings['explicit_max_ttl']:
            body['explicit_max_ttl'] = '%ds' % settings['explicit_max_ttl']
        auth = self._call(api_path, 'issuing a token for agent %s' % req.agent, body).get('auth') or {}
        if not auth.get('client_token') or not auth.get('accessor'):
            raise SecretBackendError('%s: issuing a token for agent %s returned no token or accessor'
                                     % (self.backend.where(api_path), req.agent))
        return auth['client_token'], dict(accessor=auth['accessor'], issued_time=_time_text(now),
                                          ttl=int(auth.get('lease_duration') or req.ttl),
                                          expire_time=after(now, auth.get('lease_duration') or req.ttl))

    def lookup(self, req, accessor, now):
        """{remaining, expire_time, renewable, max_expire} of a live token, or None when it expired or was revoked."""
        try:
            data = self._call('auth/token/lookup-accessor', 'looking up token accessor %s' % accessor,
                              dict(accessor=accessor)).get('data') or {}
        except (SecretNotFound, SecretBackendError) as exc:
            if isinstance(exc, SecretNotFound) or 'invalid accessor' in str(exc):
                return None
            raise
        if not data.get('expire_time'):
            return dict(remaining=float('inf'), expire_time=None, renewable=False, max_expire=None)
        max_ttl = int(data.get('explicit_max_ttl') or 0)
        max_expire = parse_time(data['issue_time']) + datetime.timedelta(seconds=max_ttl) if max_ttl else None
        return dict(remaining=int(data.get('ttl') or 0), expire_time=_time_text(parse_time(data['expire_time'])),
                    renewable=bool(data.get('renewable')), max_expire=max_expire)

    @staticmethod
    def renewable(live):
        return live['renewable']

    @staticmethod
    def renewed_remaining(req, live, now):
        """Seconds a renewal by the TTL would leave, capped by explicit_max_ttl."""
        if live['max_expire'] is None:
            return req.ttl
        return max(0, min(req.ttl, int((live['max_expire'] - now).total_seconds())))

    def renew(self, req, accessor, now):
        auth = self._call('auth/token/renew-accessor', 'renewing token accessor %s' % accessor,
                          dict(accessor=accessor, increment='%ds' % req.ttl)).get('auth') or {}
        return after(now, auth.get('lease_duration') or 0)

    def revoke(self, req, accessor):
        try:
            self._call('auth/token/revoke-accessor', 'revoking token accessor %s' % accessor, dict(accessor=accessor))
        except SecretBackendError as exc:
            if 'invalid accessor' not in str(exc):
                raise


class SecretIdIssuer(object):
    """AppRole secret-ids of one role; renewing one means issuing the next before it expires."""

    can_renew = False

    def __init__(self, backend):
        self.backend = backend

    @staticmethod
    def _role_path(req):
        return 'auth/%s/role/%s' % (req.settings['approle_mount_point'], req.settings['approle_role'])

    def _call(self, method, api_path, what, body=None):
        return self.backend.request(method, api_path, what, api_path, body=body)

    def issue(self, req, now):
        api_path = self._role_path(req) + '/secret-id'
        body = dict(ttl='%ds' % req.ttl, num_uses=req.settings['num_uses'],
                    metadata=json.dumps(dict(agent=req.agent, issued_by='aigov.core')))
        data = self._call('POST', api_path, 'issuing a secret-id for agent %s' % req.agent, body).get('data') or {}
        if not data.get('secret_id') or not data.get('secret_id_accessor'):
            raise SecretBackendError('%s: issuing a secret-id for agent %s returned no secret-id or accessor'
                                     % (self.backend.where(api_path), req.agent))
        ttl = int(data.get('secret_id_ttl') or req.ttl)
        return data['secret_id'], dict(accessor=data['secret_id_accessor'], issued_time=_time_text(now), ttl=ttl,
                                       expire_time=after(now, ttl))

    def lookup(self, req, accessor, now):
        try:
            data = self._call('POST', self._role_path(req) + '/secret-id-accessor/lookup',
                              'looking up secret-id accessor %s' % accessor, dict(secret_id_accessor=accessor)).get('data')
        except SecretNotFound:
            return None
        if not data:
            return None
        expire = parse_time(data['expiration_time'])
        if expire.year < 2000:  # 0001-01-01: a secret-id without expiry
            return dict(remaining=float('inf'), expire_time=None, renewable=False)
        return dict(remaining=max(0, int((expire - now).total_seconds())), expire_time=_time_text(expire), renewable=False)

    @staticmethod
    def renewable(live):
        return False

    @staticmethod
    def renewed_remaining(req, live, now):
        return 0

    def renew(self, req, accessor, now):
        raise SecretBackendError('an AppRole secret-id cannot be renewed; a new one is issued instead')

    def revoke(self, req, accessor):
        api_path = self._role_path(req) + '/secret-id-accessor/destroy'
        try:
            self._call('POST', api_path, 'destroying secret-id accessor %s' % accessor, dict(secret_id_accessor=accessor))
        except SecretBackendError as exc:
            if 'failed to find accessor entry' not in str(exc):
                raise

    def role_id(self, req):
        api_path = self._role_path(req) + '/role-id'
        return (self._call('GET', api_path, 'reading the role-id').get('data') or {}).get('role_id')


ISSUERS = dict(vault_token=TokenIssuer, approle_secret_id=SecretIdIssuer)
