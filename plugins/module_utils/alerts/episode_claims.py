# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One decision per episode across every instance of the event source that shares a PostgreSQL audit log.

The gate (alert_intake.AlertGate) remembers the episodes its own process passed on. Two instances behind one URL,
a sender retrying to the other one, or two ansible-rulebook instances that both lead, would each decide the same
alert. With the audit log in PostgreSQL (common/database.py) each admitted notification is claimed here, in the
database, before its decision is recorded and answered 202 (intake.Intake.receive):

- a claim is a row keyed by the episode (a digest of fingerprint, the sender's startsAt and status: stable
  across processes, unlike alert_intake.episode_key, which is Python's per-process hash), owned by one instance;
- it is first a lease (LEASE seconds); once the decision is in the audit log it is confirmed (held for good);
  when the decision could not be recorded (503) it is released. A lease left by an instance that died between
  its claim and its record expires, so the sender's retry is never a duplicate for ever;
- another instance's confirmed claim: the notification is a duplicate (counted so, nothing queued); another
  instance's live lease (it is deciding that episode right now): ClaimError, so the request is answered 503 and
  the sender's retry finds the episode decided (a duplicate) or, if that instance failed, free. A 202 thus always
  means "decided and recorded", never "someone else may still fail to";
- the table is bounded as the gate's memory is: the keep most recently notified claims (max_episodes), and
  expired leases, trimmed at most once a minute.

Why a lease and not the claim in the decision's own transaction: the decision goes through the audit log's group
commit (audit_log_postgres, one chained append for many requests), which the claim must not slow down or change.
The window this leaves: an instance that records a decision and dies before confirming leaves a lease that
expires; a retry after that is decided again (the event had not been queued either).

A file audit log has no claims (for_log() is None): the intake path does not change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid

from ansible_collections.aigov.core.plugins.module_utils.alerts import episodes
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log
from ansible_collections.aigov.core.plugins.module_utils.common import database

LOGGER = logging.getLogger('aigov.core.aiops_alerts')
COMPONENT, VERSION = 'episode_claims', 1
WHAT = 'episode claims'
LEASE = 30  # seconds an unconfirmed claim holds: longer than an audit append takes, short for a retry after a crash
TRIM_EVERY = 60.0  # seconds between trims of the table
WON, DECIDED, PENDING = 'won', 'decided', 'pending'
_SCHEMA = {1: [
    'CREATE TABLE aigov_episode_claims (episode text PRIMARY KEY, owner text NOT NULL, lease_until timestamptz, '
    'seen timestamptz NOT NULL)',
    'CREATE INDEX aigov_episode_claims_seen ON aigov_episode_claims (seen)']}
# One statement for a request's episodes, in key order (two instances' claims of the same episodes then queue on the
# first one in common, never deadlock): a free, expired or own unconfirmed claim is taken as a new lease.
_CLAIM = (
    'INSERT INTO aigov_episode_claims AS c (episode, owner, lease_until, seen) '
    'SELECT key, %(owner)s, now() + make_interval(secs => %(lease)s), now() FROM unnest(%(keys)s::text[]) AS key ORDER BY key '
    'ON CONFLICT (episode) DO UPDATE SET seen = now(), '
    'owner = CASE WHEN c.lease_until IS NOT NULL AND (c.lease_until < now() OR c.owner = EXCLUDED.owner) '
    'THEN EXCLUDED.owner ELSE c.owner END, '
    'lease_until = CASE WHEN c.lease_until IS NOT NULL AND (c.lease_until < now() OR c.owner = EXCLUDED.owner) '
    'THEN EXCLUDED.lease_until ELSE c.lease_until END '
    'RETURNING episode, owner = %(owner)s AND lease_until IS NOT NULL, lease_until IS NULL')
_CONFIRM = 'UPDATE aigov_episode_claims SET lease_until = NULL WHERE episode = ANY(%s) AND owner = %s'
_END = 'DELETE FROM aigov_episode_claims WHERE episode = ANY(%s) AND lease_until IS NULL'
_RELEASE = 'DELETE FROM aigov_episode_claims WHERE episode = ANY(%s) AND owner = %s AND lease_until IS NOT NULL'
_TRIM = ('DELETE FROM aigov_episode_claims WHERE lease_until < now() OR seen < '
         '(SELECT seen FROM aigov_episode_claims ORDER BY seen DESC OFFSET %s LIMIT 1)')


class ClaimError(audit_log.AuditLogError):
    """The claims could not be taken (database away) or another instance is deciding one of the episodes: 503."""


def for_log(location, keep):
    """The claims of an event source whose audit log is at location: None for a file log (no claims)."""
    if not database.is_database(location):
        return None
    return EpisodeClaims(Table(location), keep)


def _key(fingerprint, starts_at, step):
    return hashlib.sha256(json.dumps([fingerprint, starts_at, step]).encode('utf-8')).hexdigest()


def episode(event):
    """The claim key of a queued event: its episode and what is decided of it (the firing, resolved or escalated)."""
    alert = event['alert']
    return _key(alert['fingerprint'], alert.get('starts_at_sent', alert['starts_at']),
                'escalated' if _escalated(event) else alert['status'])


def ended(admitted):
    """The claims that admitted's notifications end, as the gate forgets them (alert_intake.AlertGate): an alert without
    startsAt is one episode until it resolves, and its next firing starts a new one."""
    found = []
    for _asset, event in admitted:
        alert = event['alert']
        if alert.get('starts_at_sent', alert['starts_at']) is None and not _escalated(event):
            found.append(_key(alert['fingerprint'], None, 'resolved' if alert['status'] == 'firing' else 'firing'))
    return found


def _escalated(event):
    return episodes.STILL_FIRING_KIND in ((event.get('decision') or {}).get('exceptions') or ())


class Table(object):
    """The boundary: aigov_episode_claims in PostgreSQL, one connection (reopened after an error), one call at a time."""

    def __init__(self, location):
        self.connection = database.KeptConnection(location, WHAT, (COMPONENT, VERSION, _SCHEMA), ClaimError, autocommit=True)
        self.lock = threading.Lock()

    def _call(self, what, work):
        with self.lock:
            return self.connection.call(what, work)

    def claim(self, keys, owner, lease):
        """{key: WON, DECIDED (another instance's confirmed claim) or PENDING (another's live lease)}."""
        def work(conn):
            rows = conn.execute(_CLAIM, {'owner': owner, 'lease': lease, 'keys': sorted(set(keys))}).fetchall()
            return dict((key, WON if won else DECIDED if confirmed else PENDING) for key, won, confirmed in rows)
        return self._call('claim episodes', work)

    def confirm(self, keys, owner, ends=()):
        """Hold keys for good; the confirmed claims of ends (episodes these notifications end) go. The number held."""
        def work(conn):
            held = conn.execute(_CONFIRM, (list(keys), owner)).rowcount
            if ends:
                conn.execute(_END, (list(ends),))
            return held
        return self._call('confirm episode claims', work)

    def release(self, keys, owner):
        return self._call('release episode claims', lambda conn: conn.execute(_RELEASE, (list(keys), owner)).rowcount)

    def trim(self, keep):
        return self._call('trim episode claims', lambda conn: conn.execute(_TRIM, (keep,)).rowcount)

    def close(self):
        with self.lock:
            self.connection.close()


class EpisodeClaims(object):
    """What intake.Intake.receive asks of the table, off the event loop: claim(), then confirm() or release()."""

    def __init__(self, table, keep, lease=LEASE, clock=time.monotonic):
        self.table, self.keep, self.lease, self.clock = table, keep, lease, clock
        self.owner = uuid.uuid4().hex  # this instance, this start: a restart's claims are new ones
        self.held = set()  # keys won and not yet confirmed or released
        self.trimmed = None

    async def _run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    async def claim(self, admitted, counts):
        """The (key, event) pairs of admitted that this instance decides; another instance's decided episodes are
        counted duplicate (counts: the request's reply) and left out. ClaimError (nothing held) when the database is
        away or another instance is deciding one of them right now."""
        keys = [episode(event) for _key, event in admitted]
        outcome = await self._run(self.table.claim, keys, self.owner, float(self.lease))
        won = [key for key in keys if outcome.get(key) == WON]
        if any(outcome.get(key) == PENDING for key in keys):
            if won:
                await self._release(won)
            raise ClaimError('another instance of the source is deciding %d of these alerts; the sender retries'
                             % sum(1 for key in keys if outcome.get(key) == PENDING))
        if len(self.held) > 100000:  # bounded: every claim is confirmed or released, this is only a safeguard
            self.held.clear()
        self.held.update(won)
        kept = []
        for key, pair in zip(keys, admitted):
            if outcome.get(key) == WON:
                kept.append(pair)
                continue
            counts['escalated' if _escalated(pair[1]) else 'accepted'] -= 1
            counts['duplicate'] += 1
        await self._trim()
        return kept

    async def confirm(self, admitted):
        """The decisions of admitted are recorded: their claims are held for good. A failure is logged: the lease expires."""
        keys = self._mine(admitted)
        if not keys:
            return
        try:
            confirmed = await self._run(self.table.confirm, keys, self.owner, ended(admitted))
        except ClaimError as exc:
            LOGGER.error('%d decided episode(s) not confirmed, their claims expire in %d s: %s', len(keys), self.lease, exc)
            return
        if confirmed != len(keys):
            LOGGER.error('%d of %d episode claims were taken over before their decision was recorded',
                         len(keys) - confirmed, len(keys))

    async def release(self, admitted):
        """The decisions of admitted could not be recorded: their claims go, so the sender's retry is decided."""
        keys = self._mine(admitted)
        if keys:
            await self._release(keys)

    async def _release(self, keys):
        try:
            await self._run(self.table.release, keys, self.owner)
        except ClaimError as exc:
            LOGGER.error('%d episode claim(s) not released, they expire in %d s: %s', len(keys), self.lease, exc)

    def _mine(self, admitted):
        keys = [key for key in (episode(event) for _key, event in admitted) if key in self.held]
        self.held.difference_update(keys)
        return keys

    async def _trim(self):
        now = self.clock()
        if self.trimmed is not None and now - self.trimmed < TRIM_EVERY:
            return
        self.trimmed = now
        try:
            await self._run(self.table.trim, self.keep)
        except ClaimError as exc:
            LOGGER.warning('episode claims not trimmed: %s', exc)

    def close(self):
        self.table.close()
