# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happens to an alert between the HTTP request and the event queue.

- RequestAuth: bearer token and/or HMAC-SHA256 over timestamp + body, with a
  replay window; secrets compared in constant time and never echoed.
- AlertGate: duplicate (fingerprint + status within a TTL), flapping and
  per-asset rate suppression, in bounded memory; everything it holds back
  is counted, never dropped silently.
- Enricher: the asset, its use case, owners and risk tier from the asset store
  and the registry (re-read when the store file changes).
The pipeline that runs them for each request is intake.py; the hourly action memory is budget.py.
Plain Python, no aiohttp: the event source is the only front end that knows HTTP.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import time

from ansible_collections.aigov.core.plugins.module_utils.store import asset_store, registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store


class AuthRefused(Exception):
    """status is 401 (no credentials) or 403 (wrong, forged or replayed ones); the reason names no secret."""

    def __init__(self, status, reason):
        super(AuthRefused, self).__init__(reason)
        self.status = status


class BoundedLRU(collections.OrderedDict):
    """An LRU mapping that forgets its oldest entries beyond max_entries (memory stays bounded)."""

    def __init__(self, max_entries):
        super(BoundedLRU, self).__init__()
        self.max_entries = max_entries

    def remember(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.max_entries:
            self.popitem(last=False)


class RequestAuth(object):
    """Checks one request's credentials; at least one method must be configured."""

    def __init__(self, token=None, hmac_secret=None, replay_window=300, max_remembered=10000, clock=time.time):
        self.token = token.encode('utf-8') if token else None
        self.secret = hmac_secret.encode('utf-8') if hmac_secret else None
        self.window = replay_window
        self.clock = clock
        self.seen = BoundedLRU(max_remembered)

    def check(self, authorization, signature, timestamp, body):
        """Raise AuthRefused unless the request carries valid credentials for every configured method."""
        if self.token is not None:
            if not authorization:
                raise AuthRefused(401, 'bearer token required')
            scheme, _sep, given = authorization.partition(' ')
            if scheme.lower() != 'bearer' or not hmac.compare_digest(given.strip().encode('utf-8'), self.token):
                raise AuthRefused(403, 'bearer token refused')
        if self.secret is not None:
            self._check_signature(signature, timestamp, body)

    def _check_signature(self, signature, timestamp, body):
        if not signature or not timestamp:
            raise AuthRefused(401, 'signature and timestamp headers required')
        try:
            sent = float(timestamp)
        except ValueError:
            raise AuthRefused(403, 'timestamp is not a number of seconds')
        if abs(self.clock() - sent) > self.window:
            raise AuthRefused(403, 'timestamp outside the replay window')
        expected = 'sha256=' + hmac.new(self.secret, timestamp.encode('utf-8') + b'.' + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.strip().encode('utf-8'), expected.encode('utf-8')):
            raise AuthRefused(403, 'signature refused')
        if expected in self.seen:
            raise AuthRefused(403, 'replayed request')
        self.seen.remember(expected, sent)


def sign(secret, timestamp, body):
    """The X-Aigov-Signature value a sender puts on a request, with the time in X-Aigov-Timestamp.

    The senders' side is documented with the event source's hmac_secret and replay_window options
    (extensions/eda/plugins/event_source/aiops_alerts.py, DOCUMENTATION).
    """
    return 'sha256=' + hmac.new(secret.encode('utf-8'), str(timestamp).encode('utf-8') + b'.' + body,
                                hashlib.sha256).hexdigest()


class AlertGate(object):
    """Decides which alerts go on: duplicates, flapping alerts and per-asset floods are held back and counted."""

    def __init__(self, dedup_ttl=300, flap_window=600, flap_limit=4, rate_per_minute=30, max_tracked=10000,
                 clock=time.monotonic):
        self.dedup_ttl, self.flap_window, self.flap_limit, self.rate = dedup_ttl, flap_window, flap_limit, rate_per_minute
        self.clock = clock
        self.last = BoundedLRU(max_tracked)        # (fingerprint, status) -> time
        self.changes = BoundedLRU(max_tracked)     # fingerprint -> (last status, [change times])
        self.per_asset = BoundedLRU(max_tracked)   # asset key -> [times]
        self.counts = collections.Counter()

    def admit(self, alert, asset_key):
        """'accepted', or why it is held back: 'duplicate', 'flapping' or 'rate_limited'."""
        now = self.clock()
        verdict = self._verdict(alert, asset_key, now)
        self.counts[verdict] += 1
        return verdict

    def forget(self, alert):
        """Undo the duplicate memory of an admitted alert that could not be passed on (its retry is accepted)."""
        self.last.pop((alert['fingerprint'], alert['status']), None)

    def _verdict(self, alert, asset_key, now):
        key = (alert['fingerprint'], alert['status'])
        seen = self.last.get(key)
        self.last.remember(key, now)
        if seen is not None and now - seen < self.dedup_ttl:
            return 'duplicate'
        status, times = self.changes.get(alert['fingerprint'], (None, []))
        times = [t for t in times if now - t < self.flap_window]
        if status is not None and status != alert['status']:
            times.append(now)
        self.changes.remember(alert['fingerprint'], (alert['status'], times))
        if len(times) >= self.flap_limit:
            return 'flapping'
        recent = [t for t in self.per_asset.get(asset_key, []) if now - t < 60] + [now]
        self.per_asset.remember(asset_key, recent)
        if len(recent) > self.rate:
            return 'rate_limited'
        return 'accepted'


class Enricher(object):
    """Finds the asset an alert is about and what the registry says of it."""

    def __init__(self, store_path, reg):
        self.store_path = store_path
        self.registry = reg
        self._stamp = None
        self._by_id, self._by_host, self._matches, self._subjects = {}, {}, {}, {}

    def refresh(self):
        """Re-read the store when its file changed (cheap when it did not: one stat); True when it read it."""
        try:
            info = os.stat(self.store_path)
        except OSError:
            self._by_id, self._by_host, self._matches, self._subjects, self._stamp = {}, {}, {}, {}, None
            return False
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return False
        data = asset_store.read_inventory(open_store(self.store_path, create=False))
        names = {}
        for host in data['hosts']:
            for alias in (host['inventory_hostname'], host['host'], host['address']):
                if alias:
                    names.setdefault(alias, host['inventory_hostname'])
        self._by_id, by_inventory_host = {}, {}
        for row in data['assets']:
            self._by_id[row['id']] = row['record']
            by_inventory_host.setdefault(row['inventory_hostname'], []).append(row['record'])
        self._by_host = dict((alias, by_inventory_host.get(name, [])) for alias, name in names.items())
        self._matches = {}  # registry matches of the assets, filled as alerts come
        self._subjects = {}  # subjects by what an alert is looked up by, filled as alerts come
        self._stamp = stamp
        return True

    def _find(self, alert):
        if alert['asset_id']:
            return self._by_id.get(alert['asset_id'])
        candidates = [a for a in self._by_host.get(alert['host'] or '', []) if a['kind'] in ('model_server', 'vector_db', 'agent')]
        port = (alert['labels'].get('instance') or '').rpartition(':')[2]
        if port.isdigit():
            on_port = [a for a in candidates if any(str(item.get('port')) == port
                                                    for item in (a['attributes'].get('listeners') or []))]
            if on_port:
                candidates = on_port
        return candidates[0] if len(candidates) == 1 else None

    def subject(self, alert):
        """The guardrails' subject for an alert: known or not, with use case, risk tier and owners.

        Alerts about the same asset get the same dict until the store changes: treat it as read-only.
        """
        key = (alert['asset_id'], alert['host'], (alert['labels'].get('instance') or '').rpartition(':')[2])
        subject = self._subjects.get(key)
        if subject is None:
            subject = self._subject(alert)
            if len(self._subjects) >= 10000:  # bounded: the keys come from senders
                self._subjects = {}
            self._subjects[key] = subject
        return subject

    def _subject(self, alert):
        asset = self._find(alert)
        if asset is None:
            return {'known': False, 'asset_id': alert['asset_id'], 'inventory_hostname': None, 'host': alert['host']}
        match = self._matches.get(asset['id'])
        if match is None:
            match = self._matches[asset['id']] = registry.match(self.registry, asset)
        return {'known': True, 'asset_id': asset['id'], 'kind': asset['kind'], 'name': asset.get('name'),
                'inventory_hostname': asset.get('inventory_hostname'), 'host': asset.get('host'),
                'use_case': match['use_case'], 'risk_tier': match['risk_tier'], 'environment': match['environment'],
                'shadow': match['shadow'], 'owners': match['owners']}
