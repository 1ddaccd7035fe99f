# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit vocabulary: every kind of entry the governed-remediation loop writes, built and read here.

Writers (the event source, remediation_plan, approval_queue, audit_append in remediate.yml and
escalate.yml) get an entry's append() arguments from one builder per kind; readers (the plan's
decision lookup, the approval queue, decision_verify, the hourly action limit, the seals check,
the governance KPIs) recognise entries and read their details through read(). The details of
each kind are published in schemas/audit-entry.v1.json (a test keeps KINDS, the builders and the
schema equal), so a key renamed here is renamed for every reader at once.

  decision             the event source's guardrail decision on a firing alert (sealed)
  approval.requested   a review decision queued for a human (approval_queue)
  approval.decision    a human's verdict, local queue or AAP workflow approval node (sealed)
  remediation.start    a plan that passed every check, before anything runs (remediation_plan)
  remediation.refused  a plan refused, naming the check that failed (remediation_plan)
  remediation.outcome  what the remediation did, verified on the host or not (remediate.yml)
  escalation.notify    the escalation owner notified, or not (escalate.yml)
  intake.refused_requests  the requests the event source refused (credentials) per source address, periodically
  alert.intake         what one request to the event source lost: its refused alerts (index and reason, no label
                       value) and the alerts its sender left out (truncatedAlerts); ignored events are counted in it
The secrets engine's entries (agent_secret.*, agent_credential.*, agent_secret_rotation.*) are
recognised here as rotations; their writers build them (docs/secrets.md).

Every entry links to its alert by details.fingerprint and to one event (one decision) by
details.payload_sha256 (and, for entries older than that, fingerprint + received_at).
"""

from __future__ import annotations

import re

from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import PayloadError, decode_event, payload_digest
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_log import OUTCOMES, recordable
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

SOURCE_ACTOR = 'aigov.core.aiops_alerts'
DECISION = 'decision'
APPROVAL_REQUESTED = 'approval.requested'
APPROVAL_DECISION = 'approval.decision'
REMEDIATION_START = 'remediation.start'
REMEDIATION_REFUSED = 'remediation.refused'
REMEDIATION_OUTCOME = 'remediation.outcome'
ESCALATION_NOTIFY = 'escalation.notify'
ALERT_INTAKE = 'alert.intake'
REFUSED_REQUESTS = 'intake.refused_requests'
KINDS = (DECISION, APPROVAL_REQUESTED, APPROVAL_DECISION, REMEDIATION_START, REMEDIATION_REFUSED, REMEDIATION_OUTCOME,
         ESCALATION_NOTIFY, ALERT_INTAKE, REFUSED_REQUESTS)
_MAX_REFUSALS = 100  # refusals named one by one in an alert.intake entry; refused_count has them all
# The secrets engine's families: action '<family>.<verb>' (secrets/agent_secret.py, secrets/short_lived_credentials.py;
# the agent_secret_rotation role writes its run summaries as agent_secret_rotation.<verb>).
AGENT_SECRET, AGENT_CREDENTIAL, SECRET_ROTATION = 'agent_secret', 'agent_credential', 'agent_secret_rotation'


def secret_action(family, verb):
    """The action of a secrets engine entry: agent_secret.rotate, agent_credential.issue, ..."""
    return '%s.%s' % (family, verb)


# The secret rotations the KPIs count.
ROTATIONS = tuple(secret_action(AGENT_SECRET, verb) for verb in ('create', 'update', 'rotate'))
ROTATION = 'rotation'
RECORDED_OVERRIDE = 'recorded_override'  # a human decision recorded some other way: details.override true or false
# The kinds a playbook writes through aigov.core.audit_append (kind + fields); the others are written by engines.
PLAYBOOK_KINDS = {REMEDIATION_OUTCOME: ('plan', 'outcome', 'note'), ESCALATION_NOTIFY: ('payload', 'notified', 'http_status')}
# What readers look up in details, whatever the kind (None when an entry does not say).
READ_KEYS = ('fingerprint', 'name', 'received_at', 'starts_at', 'decision', 'remediation', 'risk_tier', 'payload_sha256',
             'request', 'verdict', 'proposed_decision', 'proposed_action', 'approval', 'target', 'refused_count',
             'truncated_alerts', 'ignored', 'total', 'by_source')
_PLAIN_SUBJECT = re.compile(r'^[A-Za-z0-9_.:\[\]-]{1,253}$')


class EntryError(AigovError):
    """An entry cannot be built from what was given; the message names the kind and the field."""


def plain_subject(value):
    """value when it is a plain name (an asset id, a host), else 'unknown': a label value is never copied into the log."""
    return value if isinstance(value, str) and _PLAIN_SUBJECT.match(value) else 'unknown'


def _dict(value):
    return value if isinstance(value, dict) else {}


def details_of(entry):
    return _dict(entry.get('details')) if isinstance(entry, dict) else {}


# ---- recognising -------------------------------------------------------------------------------------------------

def kind_of(entry):
    """The kind of an entry: one of KINDS, ROTATION, RECORDED_OVERRIDE, or None (nothing the loop reads)."""
    action = entry.get('action')
    if action in KINDS:
        return action
    if action in ROTATIONS:
        return ROTATION
    if isinstance(details_of(entry).get('override'), bool):
        return RECORDED_OVERRIDE
    return None


def from_source(entry):
    """True for a decision entry the event source's name is on (its seal says whether it really wrote it)."""
    return entry.get('action') == DECISION and entry.get('actor') == SOURCE_ACTOR


def sealed_kind(entry):
    """True for the entries that must carry a seal (decision_keys): the source's decisions and the approval verdicts."""
    return from_source(entry) or entry.get('action') == APPROVAL_DECISION


def names_payload(entry, digest):
    """True when the entry is about the payload with this digest (payload_digest of a payload_b64)."""
    return details_of(entry).get('payload_sha256') == digest


def is_decision_of(entry, fingerprint, received_at):
    """True for the source's decision about this alert (fingerprint as given to the source) and receipt, whatever payload."""
    details = details_of(entry)
    return (from_source(entry) and details.get('fingerprint') == recordable(fingerprint)
            and details.get('received_at') == received_at)


def spends_budget(decision):
    """True for a decision (or a decision entry's details) that counts toward the hourly action limit:
    automate, proposing a remediation (a decision of an earlier version names none and counts)."""
    return (isinstance(decision, dict) and decision.get('decision') == 'automate'
            and decision.get('remediation', '') is not None)


def read(entry):
    """What any reader needs of an entry, by name: kind, action, actor, subject, owner, outcome, time, the READ_KEYS of
    its details, status (a decision's alert status, 'firing' when not said), exceptions (a list), override (bool or None)."""
    details = details_of(entry)
    seen = dict((key, details.get(key)) for key in READ_KEYS)
    override = details.get('override')
    exceptions = details.get('exceptions')
    seen.update(kind=kind_of(entry), action=entry.get('action'), actor=entry.get('actor'), subject=entry.get('subject'),
                owner=entry.get('owner'), outcome=entry.get('outcome'), time=entry.get('time'),
                status=details.get('status', 'firing'), exceptions=exceptions if isinstance(exceptions, list) else [],
                override=override if isinstance(override, bool) else None)
    return seen


# ---- building ----------------------------------------------------------------------------------------------------

def decision(event, keyring):
    """The sealed entry (append() arguments) of an event's decision: no label value beyond name and fingerprint.

    event: the source's event ({alert, asset, decision, meta, payload_b64}); keyring: decision_keys.KeyRing.
    """
    alert, asset, verdict = event['alert'], event['asset'], event['decision']
    sent = {'starts_at_sent': recordable(alert['starts_at_sent'])} if alert.get('starts_at_sent') else {}
    return keyring.seal(dict(
        actor=SOURCE_ACTOR, action=DECISION,
        subject=plain_subject(asset.get('asset_id') or alert.get('host') or ''),
        owner=verdict['accountable'],
        outcome='refused' if verdict['decision'] == 'reject' else 'planned',
        reasons=verdict['reasons'],
        details={'fingerprint': recordable(alert['fingerprint']), 'name': recordable(alert['name']),
                 'status': alert['status'],
                 'decision': verdict['decision'], 'risk_tier': verdict['risk_tier'],
                 'confidence': verdict['confidence'], 'known': bool(asset.get('known')),
                 'policy': verdict['policy']['name'], 'received_at': event['meta']['received_at'],
                 # for the governance KPIs: MTTR runs from starts_at; exceptions are the policy limits that held it back
                 'starts_at': recordable(alert['starts_at']) if alert.get('starts_at') else None,
                 'exceptions': verdict['exceptions'], 'remediation': verdict.get('remediation'),
                 'payload_sha256': payload_digest(event['payload_b64']), **sent}))


def alert_intake(found, received_at, path):
    """The entry of what a request lost (found: alerts.reading(): refused, truncated, ignored, source).

    Refusals are named by index and reason (where in the body, never a label value), the first _MAX_REFUSALS of them.
    """
    refused = [{'index': item['index'], 'reason': recordable(str(item['reason'])[:300])}
               for item in found['refused'][:_MAX_REFUSALS]]
    reasons = ['%d alert(s) refused' % len(found['refused'])] if found['refused'] else []
    if found['truncated']:
        reasons.append('the sender left out %d alert(s) (truncatedAlerts)' % found['truncated'])
    return dict(actor=SOURCE_ACTOR, action=ALERT_INTAKE, subject=plain_subject(found.get('source') or 'unknown'),
                owner=None, outcome='refused' if found['refused'] else 'success', reasons=reasons,
                details={'refused': refused, 'refused_count': len(found['refused']), 'truncated_alerts': found['truncated'],
                         'ignored': found['ignored'], 'received_at': received_at, 'path': recordable(str(path)[:256])})


def refused_requests(counts):
    """The entry of the requests the source refused since its last one (alert_intake.RefusedRequests.drain()): per source
    address and status, and by reason (the 401/403 reply's words: never a credential)."""
    return dict(actor=SOURCE_ACTOR, action=REFUSED_REQUESTS, subject='aiops_alerts', owner=None, outcome='refused',
                reasons=['%d request(s) refused from %d source address(es)' % (
                    counts['total'], len(counts['by_source']) + (1 if counts['other_sources'] else 0))],
                details=dict((key, counts[key]) for key in ('since', 'until', 'total', 'by_source', 'other_sources', 'reasons')))


def approval_requested(request, queue, actor, jobs=None):
    """The entry of a review queued for a human; request: the approvals queue's request record."""
    proposed = request.get('proposed_action')
    return dict(actor=actor, action=APPROVAL_REQUESTED, subject=plain_subject(request.get('asset_id')),
                owner=request.get('owner'), outcome='planned',
                reasons=['review decision: %s waits for a human verdict' % (proposed or 'no mapped remediation')],
                details=dict(jobs or {}, request=request['id'], fingerprint=recordable(request.get('fingerprint')),
                             proposed_action=proposed, queue=queue, payload_sha256=payload_digest(request['payload_b64'])))


def approval_decision(request, verdict, approver, keyring, run_by, jobs=None, workflow=None):
    """The sealed entry of a human verdict on a request (the approvals queue's record, or an AAP approval's).

    workflow: {workflow_job, approved_at} when the verdict was given on an AAP workflow approval node.
    """
    override = verdict == 'deny'  # the human differs from the proposed remediation
    where = ' in AAP workflow job %s' % workflow['workflow_job'] if workflow else ''
    details = dict(jobs or {}, request=request['id'], verdict=verdict, fingerprint=recordable(request.get('fingerprint')),
                   proposed_decision=request.get('decision'), proposed_action=request.get('proposed_action'),
                   override=override, run_by=run_by, payload_sha256=payload_digest(request['payload_b64']))
    details.update(workflow or {})
    return keyring.seal(dict(
        actor=approver, action=APPROVAL_DECISION, subject=plain_subject(request.get('asset_id')),
        owner=request.get('owner'), outcome='success' if verdict == 'approve' else 'refused',
        reasons=['%s %s %s%s (proposed: %s)' % (approver, 'denied' if override else 'approved',
                                                request.get('proposed_action'), where, request.get('decision'))],
        details=details))


def event_request(event, payload, request_id):
    """An approval request record (the approvals queue's shape) for an event approved elsewhere (an AAP workflow)."""
    alert, asset, verdict = _dict(event.get('alert')), _dict(event.get('asset')), _dict(event.get('decision'))
    return dict(id=request_id, asset_id=asset.get('asset_id'), owner=verdict.get('accountable'),
                fingerprint=alert.get('fingerprint'), decision=verdict.get('decision'),
                proposed_action=verdict.get('remediation'), payload_b64=payload)


def _linked(plan):
    """What links a remediation entry to its alert, decision and payload (the plan carries it)."""
    return dict((key, plan.get(key)) for key in ('remediation', 'target', 'fingerprint', 'decision', 'approval', 'risk_tier',
                                                 'starts_at', 'received_at', 'payload_sha256'))


def remediation_start(plan, run_by, jobs=None, plan_ms=None):
    """The entry of a plan that passed every check (remediation.plan()'s result), before anything runs."""
    why = '%s on %s for alert %s (decision %s)' % (plan['remediation'], plan['target'], plan['fingerprint'], plan['decision'])
    reasons = [why]
    signatures = plan.get('model_signatures') or {}
    if signatures.get('required'):  # model provenance: the rollback refuses candidates that do not satisfy this
        reasons.append('the use case requires signed models: a candidate must carry a valid model signature by %s'
                       % ' or '.join(str(signer.get('name')) for signer in signatures.get('signers') or []))
    return dict(actor=run_by, action=REMEDIATION_START, subject=plan['asset_id'], owner=plan.get('owner'), outcome='planned',
                reasons=reasons, details=dict(jobs or {}, plan_ms=plan_ms, **_linked(plan)))


def remediation_refused(event, payload, approval, why, run_by, jobs=None):
    """The entry of a refused plan: why names the failed check. event: the decoded payload (possibly incomplete)."""
    alert, asset, verdict = _dict(event.get('alert')), _dict(event.get('asset')), _dict(event.get('decision'))
    return dict(actor=run_by, action=REMEDIATION_REFUSED, subject=plain_subject(str(asset.get('asset_id') or '')),
                owner=verdict.get('accountable'), outcome='refused', reasons=[str(why)],
                details=dict(jobs or {}, fingerprint=recordable(alert.get('fingerprint') or ''), approval=approval,
                             payload_sha256=payload_digest(payload)))


def remediation_outcome(plan, outcome, note, run_by, jobs=None):
    """The entry of what a remediation did: outcome success (its post-check held), failure or planned (check mode)."""
    if outcome not in OUTCOMES:
        raise EntryError('%s: outcome must be one of %s, not %r' % (REMEDIATION_OUTCOME, ', '.join(OUTCOMES), outcome))
    return dict(actor=run_by, action=REMEDIATION_OUTCOME, subject=plan['asset_id'], owner=plan.get('owner') or None,
                outcome=outcome, reasons=['%s on %s: %s' % (plan['remediation'], plan['target'], note)],
                details=dict(jobs or {}, **_linked(plan)))


def escalation_notify(payload, notified, http_status, run_by, jobs=None):
    """The entry of an escalation: the owner of the payload's decision notified (notified true) or not."""
    try:
        event = decode_event(payload)
    except PayloadError as exc:
        raise EntryError('%s: %s' % (ESCALATION_NOTIFY, exc))
    alert, asset, verdict = event['alert'], event['asset'], event['decision']
    return dict(actor=run_by, action=ESCALATION_NOTIFY, subject=plain_subject(asset.get('asset_id')),
                owner=verdict.get('accountable'), outcome='success' if notified else 'failure',
                reasons=[str(reason) for reason in verdict.get('reasons') or []],
                details=dict(jobs or {}, fingerprint=recordable(alert.get('fingerprint')), decision=verdict.get('decision'),
                             http_status=http_status, received_at=event['meta'].get('received_at'),
                             payload_sha256=payload_digest(payload)))


def build(kind, fields, run_by, jobs=None):
    """The entry of a kind a playbook records (PLAYBOOK_KINDS) from its fields; EntryError names what is wrong."""
    if kind not in PLAYBOOK_KINDS:
        raise EntryError('kind %s is not recorded by a playbook (playbook kinds: %s; %s)' % (
            kind, ', '.join(sorted(PLAYBOOK_KINDS)), 'written by its engine' if kind in KINDS else 'not an entry kind'))
    fields = _dict(fields)
    wanted = PLAYBOOK_KINDS[kind]
    unknown = sorted(set(fields) - set(wanted))
    if unknown:
        raise EntryError('%s: unknown field(s) %s (fields: %s)' % (kind, ', '.join(unknown), ', '.join(wanted)))
    if kind == REMEDIATION_OUTCOME:
        plan = fields.get('plan')
        missing = [key for key in ('asset_id', 'remediation', 'target') if not _dict(plan).get(key)]
        if missing or not fields.get('outcome'):
            raise EntryError('%s needs fields plan (remediation_plan\'s plan: %s) and outcome' % (kind, ', '.join(missing) or 'ok'))
        return remediation_outcome(plan, fields['outcome'], fields.get('note') or '', run_by, jobs)
    if not fields.get('payload') or not isinstance(fields.get('notified'), bool):
        raise EntryError('%s needs fields payload (the event\'s payload_b64) and notified (true or false)' % kind)
    return escalation_notify(fields['payload'], fields['notified'], fields.get('http_status'), run_by, jobs)
