# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local approvals queue: review decisions wait here for a human verdict.

A JSON-lines file, append-only, written under an exclusive flock: a `request`
line per review (its id, derived from the event's payload_b64, the proposed
remediation, the payload)
and a `verdict` line when a human approves or denies it. A request is decided
once. On AAP the same step is a workflow approval node (docs/remediation.md).
A queue whose location is a PostgreSQL URL (common/paths.py rule 4: with the audit log in a database, the
queue is there too) holds the same records in a table (approvals_postgres.py), for jobs in different
containers; the rules below are the same for both.

ensure_requested() and ensure_decided() are the engine calls of aigov.core.approval_queue: they
check the decision is on record, change the queue and append the audit entry (audit/entries.py);
in check mode they predict the same result from the queue as it is and change nothing.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os

from ansible_collections.aigov.core.plugins.module_utils.alerts import approvals_postgres
from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import payload_digest
from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, entries
from ansible_collections.aigov.core.plugins.module_utils.common import database
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.module_utils.remediation.actions import proposed_remediation

SCHEMA_VERSION = 1
VERDICTS = ('approve', 'deny')
ID_LENGTH = 12
# Seconds a request waits for a verdict; then it has expired: it cannot be decided, and the event source escalates it
# to the escalation owner (episodes.Watch). aigov_approval_ttl sets it for the source and the playbooks alike.
APPROVAL_TTL = 14400


class ApprovalError(AigovError):
    """The queue cannot be read or written, or a verdict is not allowed."""


def request_id(payload):
    """The id of the request for an event's payload_b64: the start of its digest.

    The same event queued twice is one request, and a payload cannot be attached to another
    request's id: decide() and the remediation recompute it from the payload.
    """
    return payload_digest(payload)[:ID_LENGTH]


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def _locked(path, change, rid=None):
    """Read every record under an exclusive lock, let change(records) return new ones, append them.

    A queue in PostgreSQL: the records of request rid, under its lock, in one transaction."""
    if database.is_database(path):
        try:
            return approvals_postgres.locked(path, change, rid)
        except database.DatabaseError as exc:
            raise ApprovalError(str(exc))
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
    except OSError as exc:
        raise ApprovalError('cannot open approvals queue %s: %s' % (path, exc.strerror))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(os.dup(fd), 'rb') as handle:
            handle.seek(0)
            records = []
            for number, line in enumerate(handle, start=1):
                try:
                    records.append(json.loads(line.decode('utf-8')))
                except ValueError:
                    raise ApprovalError('approvals queue %s: line %d is not JSON' % (path, number))
        new, result = change(records)
        if new:
            os.write(fd, b''.join(json.dumps(r, sort_keys=True).encode('utf-8') + b'\n' for r in new))
            os.fsync(fd)
        return result
    except OSError as exc:
        raise ApprovalError('cannot write approvals queue %s: %s' % (path, exc.strerror))
    finally:
        os.close(fd)


def state(records, rid):
    """(request record, verdict record or None) of rid, or (None, None)."""
    found = next((r for r in records if r.get('kind') == 'request' and r.get('id') == rid), None)
    verdict = next((r for r in records if r.get('kind') == 'verdict' and r.get('id') == rid), None)
    return found, verdict


def _request_record(event, proposed_action, now=None, ttl=None):
    now = now or _now()
    record = {'expires_at': (_moment(now) + datetime.timedelta(seconds=ttl)).isoformat(timespec='seconds')} if ttl else {}
    record.update({'schema_version': SCHEMA_VERSION, 'kind': 'request', 'id': request_id(event['payload_b64']),
                   'requested_at': now, 'fingerprint': event['alert']['fingerprint'], 'alert_name': event['alert']['name'],
                   'asset_id': event['asset'].get('asset_id'), 'inventory_hostname': event['asset'].get('inventory_hostname'),
                   'decision': event['decision']['decision'], 'owner': event['decision'].get('accountable'),
                   'proposed_action': proposed_action, 'payload_b64': event['payload_b64']})
    return record


def _queued(records, record):
    """([new records], (created, record)): the request queued unless the same event is queued already."""
    existing, _decided = state(records, record['id'])
    return ([], (False, existing)) if existing else ([record], (True, record))


def request(path, event, proposed_action, now=None, ttl=None):
    """Queue a review (event: decoded payload); return (created, record). Queuing the same event again changes nothing.
    ttl: seconds until it expires (its expires_at), as the event source was told (aigov_approval_ttl)."""
    record = _request_record(event, proposed_action, now, ttl)
    return _locked(path, lambda records: _queued(records, record), record['id'])


def decide(path, rid, verdict, approver, now=None, ttl=APPROVAL_TTL):
    """Record a human verdict on a pending request; return (request, verdict record)."""
    return _locked(path, lambda records: _verdict(records, path, rid, verdict, approver, now, ttl), rid)


def _moment(text):
    try:
        moment = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def expires_at(found, ttl=APPROVAL_TTL):
    """When a request expires: the expires_at it was queued with (the rulebook's approval time, the one the event source
    escalates at), else its requested_at plus ttl seconds; None when its time cannot be read."""
    if found.get('expires_at'):
        return _moment(found['expires_at'])
    requested = _moment(found.get('requested_at'))
    return None if requested is None else requested + datetime.timedelta(seconds=ttl)


def _verdict(records, path, rid, verdict, approver, now=None, ttl=APPROVAL_TTL):
    """([the verdict record], (request, verdict record)) of a verdict on a pending request; ApprovalError if not allowed."""
    if verdict not in VERDICTS:
        raise ApprovalError('verdict must be approve or deny, got %r' % verdict)
    if not approver:
        raise ApprovalError('an approver must be named')
    found, decided = state(records, rid)
    if found is None:
        raise ApprovalError('no request %s in approvals queue %s' % (rid, database.display(path)))
    if request_id(found.get('payload_b64')) != rid:
        raise ApprovalError('the payload queued under request %s is not the one its id was derived from: the queue was '
                            'edited; nothing decided' % rid)
    if decided is not None:
        raise ApprovalError('request %s was already decided (%s by %s at %s)'
                            % (rid, decided['verdict'], decided['approver'], decided['decided_at']))
    moment, until = _moment(now) if now else datetime.datetime.now(datetime.timezone.utc), expires_at(found, ttl)
    if until is None or moment >= until:
        raise ApprovalError('request %s expired at %s (no verdict within %d s): it was escalated to the escalation owner; '
                            'nothing decided' % (rid, until.isoformat(timespec='seconds') if until else 'an unknown time', ttl))
    record = {'schema_version': SCHEMA_VERSION, 'kind': 'verdict', 'id': rid, 'verdict': verdict,
              'approver': approver, 'decided_at': now or _now()}
    return [record], (found, record)


def _read(path, rid=None):
    """The queue's records as they are (a queue in PostgreSQL: of request rid, all when None), without a lock or creating
    anything (check mode)."""
    if database.is_database(path):
        try:
            return approvals_postgres.read(path, rid)
        except database.DatabaseError as exc:
            raise ApprovalError(str(exc))
    if not os.path.exists(path):
        return []
    return _locked(path, lambda records: ([], records))


def ensure_requested(path, payload, table, log_path, keyring, run_by, jobs=None, check_mode=False, ttl=None):
    """(created, request record): a review decision on record (sealed, this payload) queued and its
    approval.requested entry appended; the same event queued again changes nothing."""
    event = remediation.decode_payload(payload)
    if not all(isinstance(event.get(key), dict) for key in ('alert', 'asset', 'decision', 'meta')) \
            or event['decision'].get('decision') != 'review':
        raise ApprovalError('only a review decision is queued for approval')
    audit_log.check_appendable(log_path)  # nothing is queued that the log cannot record
    try:
        remediation.verify_decision(payload, audit_log.iter_newest_first(log_path), keyring, what='the review decision')
    except remediation.RemediationRefused as refused:
        raise ApprovalError('%s; nothing queued' % refused)
    queued = dict(event, payload_b64=payload)
    proposed = proposed_remediation(table, event)
    if check_mode:
        record = _request_record(queued, proposed, ttl=ttl)
        return _queued(_read(path, record['id']), record)[1]
    created, record = request(path, queued, proposed, ttl=ttl)
    if created:
        audit_log.append(log_path, **entries.approval_requested(record, database.display(path), run_by, jobs))
    return created, record


def ensure_decided(path, rid, verdict, approver, log_path, keyring, run_by, jobs=None, check_mode=False, ttl=APPROVAL_TTL):
    """(request, verdict record): a human's verdict on a pending request (not expired: ttl) recorded in the queue and,
    sealed, in the audit log (approval.decision)."""
    audit_log.check_appendable(log_path)  # nothing is decided that the log cannot record
    if check_mode:
        return _verdict(_read(path, rid), path, rid, verdict, approver, ttl=ttl)[1]
    found, record = decide(path, rid, verdict, approver, ttl=ttl)
    audit_log.append(log_path, **entries.approval_decision(found, verdict, approver, keyring, run_by, jobs))
    return found, record


def pending(path):
    """The requests without a verdict."""
    if database.is_database(path):
        records = _read(path)
    elif not os.path.exists(path):
        return []
    else:
        records = _locked(path, lambda found: ([], found))
    decided = set(r.get('id') for r in records if r.get('kind') == 'verdict')
    return [r for r in records if r.get('kind') == 'request' and r.get('id') not in decided]


LISTED = ('id', 'asset_id', 'inventory_hostname', 'owner', 'proposed_action', 'alert_name', 'requested_at')


def listing(path, ttl=APPROVAL_TTL, now=None):
    """The requests without a verdict, oldest first, as an operator reads them: LISTED, age_s, expires_at and expired
    (an expired request cannot be decided: the event source escalated it). Read-only."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    found = []
    for record in sorted(pending(path), key=lambda item: str(item.get('requested_at'))):
        item = dict((key, record.get(key)) for key in LISTED)
        requested, until = _moment(record.get('requested_at')), expires_at(record, ttl)
        item.update(age_s=int((now - requested).total_seconds()) if requested else None,
                    expires_at=until.isoformat(timespec='seconds') if until else None,
                    expired=until is None or now >= until)
        found.append(item)
    return found


def describe(item):
    """One line of listing() for a person: what to approve, for whom, how old, until when."""
    return '%s  %s on %s (owner %s): %s for %s, waiting %s, %s %s' % (
        item['id'], item['asset_id'], item['inventory_hostname'], item['owner'], item['proposed_action'],
        item['alert_name'], '?' if item['age_s'] is None else '%dm%02ds' % divmod(item['age_s'], 60),
        'EXPIRED at' if item['expired'] else 'expires', item['expires_at'])
