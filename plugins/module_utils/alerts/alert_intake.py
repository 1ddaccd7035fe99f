# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What happens to an alert between the HTTP request and the event queue.

- RequestAuth: bearer token and/or a signature: the source's own HMAC-SHA256 over timestamp + body,
  Grafana's or Standard Webhooks' (signatures.py), with a replay window; secrets compared in
  constant time and never echoed.
- AlertGate: duplicate (fingerprint + status within a TTL), flapping and
  per-asset rate suppression, in bounded memory; everything it holds back
  is counted, never dropped silently.
- Enricher: the asset, its use case, owners and risk tier from the asset store
  and the registry (re-read when the store file changes).
The pipeline that runs them for each request is intake.py; the hourly action memory is budget.py.
Plain Python, no aiohttp: the event source is the only front end that knows HTTP.
"""

from __future__ import annotations

import bisect
import collections
import datetime
import hashlib
import hmac
import logging
import os
import time

from ansible_collections.aigov.core.plugins.module_utils.alerts import alerts, signatures
from ansible_collections.aigov.core.plugins.module_utils.host import procfs
from ansible_collections.aigov.core.plugins.module_utils.common import database
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store, registry
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store

LOGGER = logging.getLogger('aigov.core.aiops_alerts')
_NOT_READ = 'asset store not read, the copy read last is used: %s'


# status is 401 (no credentials) or 403 (wrong, forged or replayed ones); the reason names no secret.
AuthRefused = signatures.Refused


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
    """Checks one request's credentials; at least one method must be configured.

    The bearer token, when set, is always required. Of the signature schemes configured (hmac_secret: the
    X-Aigov-Signature; grafana / standard_webhooks: signatures.GrafanaSignature / StandardWebhooks settings,
    {secret, ...}), the request must carry one, and it must hold: each sender signs its own way.
    """

    def __init__(self, token=None, hmac_secret=None, replay_window=300, max_remembered=10000, clock=time.time,
                 grafana=None, standard_webhooks=None):
        self.token = token.encode('utf-8') if token else None
        self.secret = hmac_secret.encode('utf-8') if hmac_secret else None
        self.window = replay_window
        self.clock = clock
        self.seen = BoundedLRU(max_remembered)
        self.schemes = []
        if grafana:
            self.schemes.append(signatures.GrafanaSignature(
                grafana['secret'], grafana.get('header'), grafana.get('timestamp_header'), replay_window, self.seen, clock))
        if standard_webhooks:
            self.schemes.append(signatures.StandardWebhooks(standard_webhooks, replay_window, self.seen, clock))

    def check(self, authorization, signature, timestamp, body, headers=None):
        """Raise AuthRefused unless the request carries valid credentials (headers: lower-case names, for the schemes)."""
        if self.token is not None:
            if not authorization:
                raise AuthRefused(401, 'bearer token required')
            scheme, _sep, given = authorization.partition(' ')
            if scheme.lower() != 'bearer' or not hmac.compare_digest(given.strip().encode('utf-8', 'replace'), self.token):
                raise AuthRefused(403, 'bearer token refused')
        if self.secret is None and not self.schemes:
            return
        if self.secret is not None and (signature or not self.schemes):
            return self._check_signature(signature, timestamp, body)
        for other in self.schemes:
            if other.present(headers or {}):
                return other.check(headers, body)
        raise AuthRefused(401, 'a request signature is required (%s)' % ', '.join(
            (['X-Aigov-Signature'] if self.secret else []) + [other.name for other in self.schemes]))

    def _check_signature(self, signature, timestamp, body):
        if not signature or not timestamp:
            raise AuthRefused(401, 'signature and timestamp headers required')
        sent = signatures.fresh(timestamp, self.window, self.clock)
        expected = 'sha256=' + hmac.new(self.secret, timestamp.encode('utf-8', 'replace') + b'.' + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.strip().encode('utf-8', 'replace'), expected.encode('utf-8')):
            raise AuthRefused(403, 'signature refused')
        if expected in self.seen:
            raise AuthRefused(403, 'replayed request')
        self.seen.remember(expected, sent)


def _stamp(moment):
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).isoformat(timespec='seconds')


class RefusedRequests(object):
    """Requests refused for their credentials, counted per source address and status in bounded memory: at most
    max_sources addresses (the rest are counted together as other_sources), and the reasons (the reply's words, which
    never name a secret). drain() hands the counts over and starts afresh (the source records them periodically)."""

    def __init__(self, max_sources=100, clock=time.time):
        self.max_sources, self.clock = max_sources, clock
        self._reset()

    def _reset(self):
        self.by_source, self.reasons, self.other, self.total, self.since = {}, collections.Counter(), 0, 0, None

    def note(self, remote, refused):
        self.total += 1
        self.since = self.since or self.clock()
        source = str(remote or 'unknown')[:64]
        counts = self.by_source.get(source)
        if counts is None:
            if len(self.by_source) >= self.max_sources:
                self.other += 1
                return
            counts = self.by_source[source] = collections.Counter()
        counts[str(refused.status)] += 1
        if len(self.reasons) < 32 or str(refused) in self.reasons:
            self.reasons[str(refused)] += 1

    def drain(self):
        """The counts since the last drain (None when nothing was refused), for entries.refused_requests()."""
        if not self.total:
            return None
        counts = dict(since=_stamp(self.since), until=_stamp(self.clock()), total=self.total, other_sources=self.other,
                      by_source=dict((source, dict(found)) for source, found in self.by_source.items()),
                      reasons=dict(self.reasons))
        self._reset()
        return counts


def sign(secret, timestamp, body):
    """The X-Aigov-Signature value a sender puts on a request, with the time in X-Aigov-Timestamp.

    The senders' side is documented with the event source's hmac_secret and replay_window options
    (extensions/eda/plugins/event_source/aiops_alerts.py, DOCUMENTATION).
    """
    return 'sha256=' + hmac.new(secret.encode('utf-8'), str(timestamp).encode('utf-8') + b'.' + body,
                                hashlib.sha256).hexdigest()


def episode_key(fingerprint, starts_at, status):
    """What the gate remembers of one notification of an episode: an int (hash of the three); ~140 bytes with its LRU slot."""
    return hash((fingerprint, starts_at, status))


class AlertGate(object):
    """Decides which alerts go on: re-notifications of an episode, flapping alerts and per-asset floods are held back.

    An episode is an alert's fingerprint and startsAt: its firing notification is passed on once, its resolved one
    once, however late the sender repeats them (no time limit), and a new startsAt is a new episode, however soon.
    An alert without startsAt is one episode until it resolves. What is held back as flapping or over the rate is not
    remembered: the sender's next notification is looked at afresh, and passes once the hold is over.
    Memory: max_episodes notifications (LRU; the least recently seen is forgotten first, and a forgotten episode's
    next notification is decided again), max_tracked fingerprints and assets for flapping and rate.
    dedup_ttl is kept for older configurations and not used.
    """

    def __init__(self, dedup_ttl=None, flap_window=600, flap_limit=4, rate_per_minute=30, max_tracked=10000,
                 clock=time.monotonic, max_episodes=100000):
        self.flap_window, self.flap_limit, self.rate = flap_window, flap_limit, rate_per_minute
        self.clock = clock
        self.episodes = BoundedLRU(max_episodes)   # episode_key -> True
        self.changes = BoundedLRU(max_tracked)     # fingerprint -> (last status, [change times])
        self.per_asset = BoundedLRU(max_tracked)   # asset key -> [times of the last minute, oldest first]
        self.counts = collections.Counter()

    def admit(self, alert, asset_key):
        """'accepted', or why it is held back: 'duplicate', 'flapping' or 'rate_limited'."""
        now = self.clock()
        verdict = self._verdict(alert, asset_key, now)
        self.counts[verdict] += 1
        return verdict

    def seen(self, fingerprint, starts_at, status='firing'):
        """Remember a notification passed on before (the source's restart: rebuilt from the audit log)."""
        self.episodes.remember(episode_key(fingerprint, starts_at, status), True)

    def forget(self, alert):
        """Undo the memory of an admitted alert that could not be passed on (its retry is accepted)."""
        self.episodes.pop(episode_key(alert['fingerprint'], alert.get('starts_at_sent', alert['starts_at']), alert['status']),
                          None)

    def _verdict(self, alert, asset_key, now):
        # a startsAt in the future was replaced by the receipt time (alerts.believed_start): the sender's is the episode
        fingerprint, starts_at, status = alert['fingerprint'], alert.get('starts_at_sent', alert['starts_at']), alert['status']
        key = episode_key(fingerprint, starts_at, status)
        if key in self.episodes:
            self.episodes.move_to_end(key)
            return 'duplicate'
        last, times = self.changes.get(fingerprint, (None, []))
        times = [t for t in times if now - t < self.flap_window]
        if last is not None and last != status:
            times.append(now)
        self.changes.remember(fingerprint, (status, times))
        if len(times) >= self.flap_limit:
            return 'flapping'
        recent = self.per_asset.get(asset_key) or []
        del recent[:bisect.bisect_right(recent, now - 60)]  # the clock is monotonic: the times are in order
        recent.append(now)
        self.per_asset.remember(asset_key, recent)
        if len(recent) > self.rate:
            return 'rate_limited'
        self.episodes.remember(key, True)
        if starts_at is None:  # no startsAt: the episode ends with its resolution, and the next firing starts one
            self.episodes.pop(episode_key(fingerprint, None, 'resolved' if status == 'firing' else 'firing'), None)
        return 'accepted'


_SERVER_KINDS = ('model_server', 'vector_db', 'agent')
_EXPLICIT_HOST_LABELS = tuple(key for key in alerts.HOST_LABELS if key != 'instance')
_WILDCARDS = ('0.0.0.0', '::', '*', '')


def _local(address):
    """True for an address Prometheus uses to scrape a target on its own machine (loopback, localhost)."""
    return address in ('localhost', 'ip6-localhost') or procfs.is_loopback(address)


def listener_index(assets, by_host):
    """(address, port) -> the server assets listening there, from the asset store's rows (built once per store change).

    A listener on a specific address is indexed under it; one on a wildcard or loopback address under ('*', port), for an
    `instance` on the loopback (a target scraped on its own machine). A host's discovered addresses (its listeners' specific
    addresses, its inventory name and address: by_host) lead to its assets on that port too. Linear in the listeners: a
    fleet's servers share a few ports, and the build runs (in a worker thread, Intake.fresh_store) whenever the store changes.
    """
    index, seen = {}, set()

    def add(key, record):
        if (key, id(record)) not in seen:  # an asset once per key, compared by identity: its dict is deep
            seen.add((key, id(record)))
            index.setdefault(key, []).append(record)

    for row in assets:
        record = row['record']
        if record.get('kind') not in _SERVER_KINDS:
            continue
        for item in (record.get('attributes') or {}).get('listeners') or []:
            port, address = item.get('port'), str(item.get('address') or '')
            if isinstance(port, int):
                add(('*', port) if address in _WILDCARDS or _local(address) else (address, port), record)
    for alias, records in by_host.items():  # a host's own names and addresses, with the port of one of its servers
        for record in records:
            if record.get('kind') not in _SERVER_KINDS:
                continue
            for item in (record.get('attributes') or {}).get('listeners') or []:
                if isinstance(item.get('port'), int):
                    add((alias, item['port']), record)
    return index


class Enricher(object):
    """Finds the asset an alert is about and what the registry says of it."""

    def __init__(self, store_path, reg):
        self.store_path = store_path
        self.registry = reg
        self._stamp = None
        self._by_id, self._by_host, self._matches, self._subjects = {}, {}, {}, {}
        self._by_listener = {}  # (address, port) and ('*', port) -> server assets listening there (instance resolution)
        self._polled = None  # when a store in PostgreSQL was last asked for its generation

    def due(self, clock=time.monotonic):
        """True when refresh() may find a changed store: its file's state moved (one stat), or a second passed since
        a store in PostgreSQL was last asked for its generation."""
        if database.is_database(self.store_path):
            return self._polled is None or clock() - self._polled >= 1.0
        return self._file_stamp() != self._stamp  # a store gone away too (None): refresh() forgets it

    def _file_stamp(self):
        try:
            info = os.stat(self.store_path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def refresh(self):
        """Re-read the store when its file changed (cheap when it did not: one stat); True when it read it.

        Unusable (damaged, another schema version, unreadable): the copy read last is kept, as for a database that is
        away, and the file is tried again when it changes again, not on every alert.
        """
        if database.is_database(self.store_path):
            return self._refresh_database()
        stamp = self._file_stamp()
        if stamp is None:
            self._by_id, self._by_host, self._matches, self._subjects, self._stamp = {}, {}, {}, {}, None
            self._by_listener = {}
            return False
        if stamp == self._stamp:
            return False
        try:
            data = asset_store.read_inventory(open_store(self.store_path, create=False))
        except AigovError as exc:
            self._stamp = stamp
            LOGGER.warning(_NOT_READ, exc)
            return False
        return self._take(data, stamp)

    def _refresh_database(self, clock=time.monotonic):
        """A store in PostgreSQL: its generation asked at most once a second, the store re-read when it moved.

        Unreachable: the copy read last is kept (the decision's audit write fails then too, with a 503).
        """
        now = clock()
        if self._polled is not None and now - self._polled < 1.0:
            return False
        self._polled = now
        store = open_store(self.store_path, create=False)
        try:
            stamp = store.stamp()
            if stamp == self._stamp:
                return False
            return self._take(asset_store.read_inventory(store), stamp)
        except AigovError as exc:
            LOGGER.warning(_NOT_READ, exc)
            return False

    def _take(self, data, stamp):
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
        self._by_listener = listener_index(data['assets'], self._by_host)
        self._matches = {}  # registry matches of the assets, filled as alerts come
        self._subjects = {}  # subjects by what an alert is looked up by, filled as alerts come
        self._stamp = stamp
        return True

    def _find(self, alert):
        if alert['asset_id']:
            return self._by_id.get(alert['asset_id'])
        candidates = [a for a in self._by_host.get(alert['host'] or '', []) if a['kind'] in _SERVER_KINDS]
        port = (alert['labels'].get('instance') or '').rpartition(':')[2]
        if not candidates and port.isdigit() and not any(alert['labels'].get(key) for key in _EXPLICIT_HOST_LABELS):
            # only `instance` names the host, and no inventory name or address is it: what listens there (docs/remediation.md)
            address = alert['host'] or ''
            candidates = self._by_listener.get((address, int(port))) or (
                self._by_listener.get(('*', int(port)), []) if _local(address) else [])
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
