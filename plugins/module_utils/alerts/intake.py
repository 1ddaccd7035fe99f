# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The intake pipeline of the event source: one request's body in, (HTTP status, reply) out, events queued.

Intake.receive() runs, for each request: authentication (alert_intake.RequestAuth), parsing
(alerts.read, cloudevents.read_*: partial, each unreadable alert refused on its own), the gate
(episodes already passed on, flapping, per-asset rate), enrichment (asset store and
registry), the decision on the proposed action (actions.propose, guardrails, the hourly action
memory of budget.py), the sealed decision entries (entries.decision) and what the request lost
(entries.alert_intake) appended in one group commit, and only then the events on the queue: a
decision is durable before its alert is answered 202. An episode still firing after its remediation
reported success is escalated once (episodes.py).

Plain Python and asyncio, no aiohttp: the event source file reads the options, serves HTTP and
hands each body here (docs/architecture.md, "The alert flow").
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import logging
import re
import time

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake, alerts, cloudevents, episode_claims, episodes, guardrails, spool
from ansible_collections.aigov.core.plugins.module_utils.alerts.budget import ActionBudget
from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import encode_payload, payload_json
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.common import fast_json
from ansible_collections.aigov.core.plugins.module_utils.remediation import actions

LOGGER = logging.getLogger('aigov.core.aiops_alerts')
_SURROGATE = re.compile(rb'\\u[dD][89a-fA-F]')
COUNTS = ('accepted', 'duplicate', 'flapping', 'rate_limited', 'escalated', 'ignored')
_MEMO = 10000  # encoded assets and decisions kept (bounded: keys come from senders)


class GroupCommit(object):
    """Appends the decisions of concurrent requests to the audit log in one write and one fsync.

    record() returns once its entries are on disk, or raises AuditLogError: requests that arrive
    while a write is in progress share the next one (group commit), off the event loop, through
    one audit_log.Writer (the log stays open; one write at a time).
    """

    def __init__(self, path):
        self.writer = audit_log.Writer(path)
        self.pending = []
        self.task = None

    async def record(self, records):
        done = asyncio.get_running_loop().create_future()
        self.pending.append((records, done))
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._drain())
        await done

    def close(self):
        self.writer.close()

    async def _drain(self):
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                await loop.run_in_executor(None, self.writer.append_many,
                                           [record for records, _done in batch for record in records])
                results = [None] * len(batch)
            except audit_log.AuditLogError:
                results = []  # one request's refused entry must not fail the others: write them one by one
                for records, _done in batch:
                    try:
                        await loop.run_in_executor(None, self.writer.append_many, records)
                        results.append(None)
                    except audit_log.AuditLogError as exc:
                        results.append(exc)
            for (_records, done), error in zip(batch, results):
                if not done.done():
                    done.set_exception(error) if error else done.set_result(None)


def refresh_store(enricher):
    """Re-read the asset store if it changed (True when it did). Its records (a large store is ~10^5 objects) then live until the next
    change: they are moved out of the collector's sight (gc.freeze), so that full garbage collections, which
    alerts' allocations trigger, do not traverse them again and again (measured: over a third of the CPU time
    at 100 alerts per request, in pauses of tens of ms). They are still freed by reference counting when replaced."""
    if enricher.refresh():
        gc.freeze()
        return True
    return False


def _json(body):
    """The parsed body: strict UTF-8 (json.loads of bytes would let lone surrogates through), nesting bounded, and a lone
    surrogate escape (\\udc80) replaced by U+FFFD, since no audit entry or event could be encoded with it."""
    value = fast_json.loads_bounded(body.decode('utf-8'))
    return _scrub(value) if b'\\u' in body and _SURROGATE.search(body) else value


def _scrub(value):
    if isinstance(value, str):
        return value.encode('utf-16', 'surrogatepass').decode('utf-16', 'replace')
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, dict):
        return dict((_scrub(key), _scrub(item)) for key, item in value.items())
    return value


class Intake(object):
    """One request at a time through auth, parsing, the gate, enrichment, the guardrails and the audit log.

    queue: where events go (anything with `async put(event)`). config: auth (RequestAuth), gate (AlertGate),
    enricher (Enricher), policy (guardrail policy), actions (action table), confidence (default or None),
    keyring (decision_keys.KeyRing), audit_log (path).
    """

    def __init__(self, queue, config):
        self.queue, self.config = queue, config
        self.audit = GroupCommit(config['audit_log'])
        self.decider = guardrails.Decider(config['policy'])
        self.budget = ActionBudget(config['audit_log'])
        self.outcomes = episodes.Outcomes(config['audit_log'], config['gate'].episodes.max_entries, watch=episodes.Watch(
            config.get('outcome_timeout') or episodes.OUTCOME_TIMEOUT, config.get('approval_ttl') or episodes.APPROVAL_TTL),
            settle=config.get('still_firing_settle') or episodes.STILL_FIRING_SETTLE)
        self.refusals = alert_intake.RefusedRequests()
        self.claims = episode_claims.for_log(config['audit_log'], config['gate'].episodes.max_entries)  # None: a file
        self.refusals_recorded = time.monotonic()
        self.accepts = cloudevents.type_matcher(config.get('cloudevent_types') or cloudevents.DEFAULT_TYPES)
        self._seed()
        # id -> (asset or decision, its JSON in the payload): the enricher and the decider hand out the same dict
        # for the same asset and decision, so each is encoded once; holding it keeps its id from being reused.
        # The decider's decisions last one second (decided_at), its assets until the store changes.
        self.encoded = {'asset': {}, 'decision': {}}
        self.second = None
        self.refreshing = None  # the re-read of the asset store in progress (fresh_store)

    def _seed(self):
        try:
            self.budget.seed()
        except audit_log.AuditLogError as exc:
            LOGGER.error('%s; the hourly action limit is counted once the log can be read', exc)
            return
        try:
            found = episodes.rebuild(self.config['gate'], self.outcomes, self.config['audit_log'])
            LOGGER.info('remembered %d decided episode(s) from the audit log', found)
        except audit_log.AuditLogError as exc:  # budget.seed read it a moment ago: rare
            LOGGER.error('%s; episodes decided before this start are not remembered', exc)

    def _read(self, body, headers, now):
        """alerts.reading() of a request; ValueError (not JSON, nested too deep) or MalformedAlert for the whole body."""
        confidence = self.config['confidence']
        if cloudevents.is_binary(headers):
            data = None
            if body.strip() and 'json' in cloudevents.media_type(headers.get('content-type')):
                data = _json(body)
            return cloudevents.read_binary(headers, data, confidence, self.accepts)
        parsed = _json(body)
        if cloudevents.media_type(headers.get('content-type')) == cloudevents.BATCH:
            return cloudevents.read_batch(parsed, confidence, self.accepts)
        if alerts.detect_source(parsed) == 'cloudevents':
            return cloudevents.read_structured(parsed, confidence, self.accepts)
        return alerts.read(parsed, confidence, now)

    def close(self):
        self.audit.close()
        if self.claims is not None:
            self.claims.close()

    def _json(self, kind, value):
        memo = self.encoded[kind]
        known = memo.get(id(value))
        if known is None:
            if len(memo) >= _MEMO:
                memo.clear()
            known = memo[id(value)] = (value, payload_json(value))
        return known[1]

    async def fresh_store(self):
        """Return once the enricher holds the asset store as it is now. A changed store is re-read in a worker thread,
        so the event loop, which the engine shares, keeps running (10,000 hosts take seconds to read); every request
        meanwhile waits for that copy rather than decide on the old one, and none touches the enricher until it is in."""
        if self.refreshing is None:
            if not self.config['enricher'].due():
                return
            self.refreshing = asyncio.get_running_loop().run_in_executor(None, refresh_store, self.config['enricher'])
            self.refreshing.add_done_callback(self._refreshed)  # runs before any waiter resumes
        await asyncio.shield(self.refreshing)  # a request that goes away does not stop the read for the others

    def _refreshed(self, future):
        self.refreshing = None
        if not future.cancelled() and future.exception() is None and future.result():
            self.encoded['asset'] = {}  # the enricher hands out new subjects

    async def receive(self, body, authorization, signature, timestamp, path, remote=None, headers=None):
        """(HTTP status, reply body) of one request; its admitted events are on the queue when the status is 202.

        headers: the request's headers (any mapping; CloudEvents binary mode and the other senders' signatures).
        """
        headers = dict((str(key).lower(), str(value)) for key, value in headers.items()) if headers else {}
        try:
            self.config['auth'].check(authorization, signature, timestamp, body, headers)
        except alert_intake.AuthRefused as refused:
            self.refusals.note(remote, refused)  # recorded periodically: record_refusals()
            LOGGER.warning('refused a request from %s: %s', remote, refused)
            return refused.status, {'error': str(refused)}
        # One instant for the whole request: its alerts arrived together (received_at has whole seconds).
        now, clock = datetime.datetime.now(datetime.timezone.utc), time.monotonic()
        try:
            found = self._read(body, headers, now)
        except ValueError as exc:  # UnicodeDecodeError and a nesting too deep are ValueErrors too
            return 400, {'error': 'body is not JSON: %s' % exc.__class__.__name__}
        except alerts.MalformedAlert as exc:
            return 400, {'error': str(exc)}
        counts = dict.fromkeys(COUNTS, 0)
        counts['ignored'] = found['ignored']
        await self.fresh_store()  # nothing below awaits before the alerts are enriched: they see one store
        received_at = now.isoformat(timespec='seconds')
        if received_at != self.second:  # the decider starts afresh each second: so does the memory of its decisions
            self.second = received_at
            self.encoded['decision'] = {}
        if not self.budget.seeded:
            self._seed()
        meta = {'received_at': received_at, 'path': path}
        if found['truncated']:
            meta['truncated_alerts'] = found['truncated']
        admitted, polled = [], False
        for alert in found['alerts']:
            subject = self.config['enricher'].subject(alert)
            key = subject['asset_id'] or alert['host'] or alert['fingerprint']
            verdict = self.config['gate'].admit(alert, key)
            if verdict == 'duplicate' and alert['status'] == 'firing':
                if not polled:
                    self.outcomes.poll()  # at most once a second, and only when a decided episode is notified again
                    polled = True
                remediation = self.outcomes.due(alert)
                if remediation is not None:
                    self.outcomes.escalating(alert)
                    verdict = 'escalated'
                    admitted.append((key, self._event(alert, subject, key, now, clock, meta, remediation)))
            counts[verdict] += 1
            if verdict == 'accepted':
                admitted.append((key, self._event(alert, subject, key, now, clock, meta)))
        try:
            if self.claims is not None and admitted:  # one source instance decides each episode (episode_claims.py)
                admitted = await self.claims.claim(admitted, counts)
            # The decisions are on disk before any event reaches a rule: no action without its record.
            records = [entries.decision(event, self.config['keyring']) for _key, event in admitted if event['decision']]
            if found['refused'] or found['truncated']:
                records.append(entries.alert_intake(found, received_at, path))
            if records:
                await self.audit.record(records)
            if self.config.get('spool') is not None and admitted:  # kept until the engine's feedback (alerts/spool.py)
                await self.config['spool'].record([event for _key, event in admitted])
        except (audit_log.AuditLogError, spool.SpoolError) as exc:
            if self.claims is not None:
                await self.claims.release(admitted)
            for _key, event in admitted:
                self.config['gate'].forget(event['alert'])  # the sender's retry is not a duplicate
                self.outcomes.escalated.pop((event['alert']['fingerprint'], event['alert']['starts_at']), None)
            LOGGER.error('queued nothing: %s', exc)
            return 503, {'error': 'the decision could not be recorded in the audit log; nothing was queued'}
        if self.claims is not None:
            await self.claims.confirm(admitted)
        counts['refused'] = [{'index': item['index'], 'reason': item['reason']} for item in found['refused']]
        if not found['alerts'] and not found['ignored']:
            return 400, dict(counts, error='nothing in the request is an alert')
        for key, event in admitted:
            self.budget.spend(key, event['decision'], clock)
            self.outcomes.watch.expect(event)  # its exits (failure, refusal, no outcome, expiry) escalate: check_exits
            await self.queue.put(event)
        return 202, counts

    async def record_refusals(self, interval=60.0):
        """Every `interval` seconds at most, the requests refused since the last time (per source address, bounded) as
        one intake.refused_requests audit entry: a security signal, counted in the governance report. The number."""
        if time.monotonic() - self.refusals_recorded < interval:
            return 0
        self.refusals_recorded = time.monotonic()
        counts = self.refusals.drain()
        if counts is None:
            return 0
        try:
            await self.audit.record([entries.refused_requests(counts)])
        except audit_log.AuditLogError as exc:
            LOGGER.error('the counts of %d refused requests are lost: %s', counts['total'], exc)
            return 0
        return counts['total']

    async def check_exits(self):
        """Escalate, once each, the remediations decided here whose run or post-check failed, whose plan was refused, that
        reported no outcome in time or whose approval expired (episodes.Watch): sealed escalate decisions, recorded, then
        queued for the rulebook's escalate rule. The event source calls it about once a second; the number escalated."""
        self.outcomes.poll()
        due = self.outcomes.watch.due()
        if not due:
            return 0
        received_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
        escalations = []
        for event, kind, reason in due:
            decision = episodes.exception(event['decision'], kind, reason)
            escalation = {'alert': event['alert'], 'asset': event['asset'], 'decision': decision,
                          'meta': dict(event['meta'], received_at=received_at, exception=kind)}
            escalation['payload_b64'] = encode_payload(escalation, self._json('asset', event['asset']), payload_json(decision))
            escalations.append(escalation)
        try:
            await self.audit.record([entries.decision(event, self.config['keyring']) for event in escalations])
            if self.config.get('spool') is not None:  # kept until the engine's feedback, as every event
                await self.config['spool'].record(escalations)
        except (audit_log.AuditLogError, spool.SpoolError) as exc:
            self.outcomes.watch.ready.extend(due)  # tried again on the next call
            LOGGER.error('escalated nothing: %s', exc)
            return 0
        for event in escalations:
            self.outcomes.escalating(event['alert'])
            LOGGER.warning('escalating (%s) asset %s', event['meta']['exception'], event['asset'].get('asset_id'))
            await self.queue.put(event)
        return len(escalations)

    def _event(self, alert, subject, key, now, clock, meta, still_firing_after=None):
        """The event of an admitted alert; its asset and decision are shared with other events about the same.

        still_firing_after: the remediation that reported success on this episode, which is still firing: escalated.
        """
        decision = None
        if alert['status'] == 'firing':
            decision = self.decider.decide(subject, alert['confidence'], now, actions_last_hour=self.budget.used(key, clock),
                                           action=actions.propose(self.config['actions'], alert))
            if still_firing_after is not None:
                decision = episodes.still_firing(decision, still_firing_after)
        event = {'alert': alert, 'asset': subject, 'decision': decision,
                 'meta': dict(meta)}  # ansible-rulebook adds meta.source
        if decision is not None:
            event['payload_b64'] = encode_payload(event, self._json('asset', subject), self._json('decision', decision))
        return event
