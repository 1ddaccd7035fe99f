# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request signatures of other senders, beside the source's own X-Aigov-Signature (alert_intake.RequestAuth).

- GrafanaSignature: Grafana alerting's webhook "HMAC Signature" setting (Grafana 12+,
  https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/):
  hex HMAC-SHA256 with the secret, in the configured header (default X-Grafana-Alerting-Signature), over
  "<timestamp>:<body>" when a timestamp header is configured (Unix seconds), over the body alone otherwise.
- StandardWebhooks: the Standard Webhooks specification (https://www.standardwebhooks.com, spec/standard-webhooks.md):
  webhook-id, webhook-timestamp (Unix seconds) and webhook-signature, a space-separated list of "v1,<base64 of
  HMAC-SHA256 of '<id>.<timestamp>.<body>'>" whose key is the base64 after the secret's "whsec_" prefix.
Each check(headers, body) returns None or raises alert_intake.AuthRefused; headers have lower-case names.
A timestamp must be a finite number within the replay window, and a signature is accepted once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import time

GRAFANA_HEADER = 'X-Grafana-Alerting-Signature'


class Refused(Exception):
    """status 401 (missing) or 403 (wrong, stale, replayed); the reason names no secret."""

    def __init__(self, status, reason):
        super(Refused, self).__init__(reason)
        self.status = status


def fresh(timestamp, window, clock):
    """The timestamp as seconds when it is a finite number within window of now; Refused otherwise (nan never passes)."""
    try:
        sent = float(timestamp)
    except (TypeError, ValueError):
        raise Refused(403, 'timestamp is not a number of seconds')
    if not math.isfinite(sent) or abs(clock() - sent) > window:
        raise Refused(403, 'timestamp outside the replay window')
    return sent


class _Scheme(object):
    def __init__(self, replay_window, seen, clock):
        self.window, self.seen, self.clock = replay_window, seen, clock

    def _once(self, signature):
        if signature in self.seen:
            raise Refused(403, 'replayed request')
        self.seen.remember(signature, True)


class GrafanaSignature(_Scheme):
    name = 'grafana'

    def __init__(self, secret, header=GRAFANA_HEADER, timestamp_header=None, replay_window=300, seen=None, clock=time.time):
        super(GrafanaSignature, self).__init__(replay_window, seen, clock)
        self.secret = secret.encode('utf-8')
        self.header = (header or GRAFANA_HEADER).lower()
        self.timestamp_header = timestamp_header.lower() if timestamp_header else None

    def present(self, headers):
        return bool(headers.get(self.header))

    def check(self, headers, body):
        given = headers.get(self.header) or ''
        signed = body
        if self.timestamp_header:
            timestamp = headers.get(self.timestamp_header)
            if not timestamp:
                raise Refused(401, 'Grafana signature timestamp header required')
            fresh(timestamp, self.window, self.clock)
            signed = timestamp.encode('utf-8') + b':' + body
        expected = hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given.strip().lower().encode('utf-8'), expected.encode('utf-8')):
            raise Refused(403, 'Grafana signature refused')
        if self.timestamp_header:
            self._once(expected)


def standard_key(secret):
    """The HMAC key of a Standard Webhooks secret: base64 after an optional whsec_ prefix; ValueError when not base64."""
    text = secret[len('whsec_'):] if secret.startswith('whsec_') else secret
    try:
        return base64.b64decode(text.encode('ascii'), validate=True)
    except (binascii.Error, UnicodeError):
        raise ValueError('standard_webhooks_secret must be whsec_ followed by base64')


def standard_sign(secret, msg_id, timestamp, body):
    """The webhook-signature value a Standard Webhooks sender puts on a request (for tests and senders' docs)."""
    digest = hmac.new(standard_key(secret), ('%s.%s.' % (msg_id, timestamp)).encode('utf-8') + body, hashlib.sha256).digest()
    return 'v1,' + base64.b64encode(digest).decode('ascii')


class StandardWebhooks(_Scheme):
    name = 'standard_webhooks'

    def __init__(self, secret, replay_window=300, seen=None, clock=time.time):
        super(StandardWebhooks, self).__init__(replay_window, seen, clock)
        self.key = standard_key(secret)

    def present(self, headers):
        return bool(headers.get('webhook-signature'))

    def check(self, headers, body):
        msg_id, timestamp, signature = (headers.get(name) for name in ('webhook-id', 'webhook-timestamp', 'webhook-signature'))
        if not (msg_id and timestamp and signature):
            raise Refused(401, 'webhook-id, webhook-timestamp and webhook-signature headers required')
        fresh(timestamp, self.window, self.clock)
        expected = base64.b64encode(hmac.new(self.key, ('%s.%s.' % (msg_id, timestamp)).encode('utf-8') + body,
                                             hashlib.sha256).digest())
        matched = False
        for candidate in signature.split()[:16]:
            version, _sep, value = candidate.partition(',')
            if version == 'v1' and hmac.compare_digest(value.encode('utf-8', 'replace'), expected):
                matched = True
        if not matched:
            raise Refused(403, 'webhook signature refused')
        self._once(('webhook-id', msg_id[:256]))  # the spec's idempotency key: a message id is delivered once
