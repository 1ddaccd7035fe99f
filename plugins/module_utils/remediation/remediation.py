# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an alert-driven remediation may run, on which host, and what it does.

plan() checks, in this order, and raises RemediationRefused naming the first
that fails (the caller records the refusal in the audit log):
  1. the event has an alert, an asset and a decision, and the alert is firing;
  2. the decision is automate, or review with a human approval on record;
  3. that decision is in the audit log, written by the event source for this
     very payload (details.payload_sha256: alert name, fingerprint, asset, target
     and decision are bound) and sealed with the decision key (decision_keys), so
     neither an event forged on the command line nor an entry appended by hand
     passes; the approval too is sealed and names this payload; and no
     remediation.start of this payload is on record (a decision runs once);
  4. the decision proposes a remediation (decision.remediation; a decision of an
     earlier version names none: the alert name is looked up) that the action
     table (data, actions.py) holds;
  5. the target is the asset's inventory_hostname from the asset store, and it
     is exactly one host of the inventory (a pattern is never evaluated);
  6. the blast-radius limit of the guardrail policy holds for the hosts the
     remediation touches (its `hosts` in the table);
  7. the remediation's own preconditions: the asset is of the
     kind it acts on, its service definition on the target is complete (an
     aigov_baseline_services entry with what the remediation runs, or pids
     with recorded start times to find its systemd unit by), a rollback has approved digests to go back to, and a
     GPU process to stop is one discovery saw on that GPU (pid and start
     time) and is not a protected model server's. No label lifts that
     protection: what the decision did not see cannot widen the action.
Alert label values are only compared and looked up here: nothing formats,
templates or executes them.

The playbooks receive the event as `payload_b64` (alerts/payload.py): no labels, inert to
templating. The audit entries read and written here are built and recognised by audit/entries.py.
"""

from __future__ import annotations

import datetime

from ansible_collections.aigov.core.plugins.module_utils.alerts import payload as _payload
from ansible_collections.aigov.core.plugins.module_utils.alerts.payload import (  # noqa: F401 pylint: disable=unused-import
    PID_LABEL, decode_payload as _decode, encode_payload, payload_digest, payload_json)  # (re-exported: the names callers know)
from ansible_collections.aigov.core.plugins.module_utils.audit import entries as kinds
from ansible_collections.aigov.core.plugins.module_utils.audit.audit_log import recordable
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation import container_target, service_config
from ansible_collections.aigov.core.plugins.module_utils.remediation.actions import proposed_remediation

SOURCE_ACTOR = kinds.SOURCE_ACTOR
APPROVAL_ACTION = kinds.APPROVAL_DECISION
START_ACTION = kinds.REMEDIATION_START
# Writers take an entry's time before they wait for the log's lock, so entries
# are not strictly in time order; this covers that and small clock steps.
LOOKBACK_SLACK = datetime.timedelta(minutes=10)


class RemediationRefused(AigovError):
    """The remediation may not run; the message says which check failed."""


def decode_payload(text):
    """The event a payload_b64 carries (alerts/payload.py); RemediationRefused when it is not one."""
    try:
        return _decode(text)
    except _payload.PayloadError as exc:
        raise RemediationRefused(str(exc))


def _mapping(value, where):
    if not isinstance(value, dict):
        raise RemediationRefused('the event has no %s object' % where)
    return value


def _time(entry):
    try:
        return datetime.datetime.fromisoformat(str(entry.get('time')))
    except ValueError:
        return None


def find_records(entries, event, digest, keyring, approval=None):
    """What the audit log holds about the payload with this digest, as a dict:

    decision: the source's decision entry naming this payload, with a valid seal, or None;
    approval: the sealed approval.decision approving request `approval` for this payload, or None;
    started: the remediation.start entry of this payload, or None (a decision runs once);
    forged_decision, forged_approval: why an entry claiming to be that decision or approval has no
    valid seal (decision_keys.KeyRing.check), or None;
    other_payload: True when the source decided this alert (fingerprint, receipt) for another payload.

    entries: the audit log newest first (audit_log.iter_newest_first). Starts and approvals come after
    their decision, so the scan stops at the decision, or at the first entry older than the event's
    receipt minus LOOKBACK_SLACK: the work is bounded by the event's age, not by the size of the log.
    """
    try:
        bound = datetime.datetime.fromisoformat(str((event.get('meta') or {}).get('received_at'))) - LOOKBACK_SLACK
    except ValueError:
        bound = None  # no usable receipt time: the whole log is searched
    found = dict(decision=None, approval=None, started=None, forged_decision=None, forged_approval=None,
                 other_payload=False)
    fingerprint, received_at = (event.get('alert') or {}).get('fingerprint'), (event.get('meta') or {}).get('received_at')
    for entry in entries:
        if entry is None:
            continue
        kind, mine = kinds.kind_of(entry), kinds.names_payload(entry, digest)
        if mine and kind == kinds.REMEDIATION_START:
            found['started'] = found['started'] or entry
        elif mine and kind == kinds.APPROVAL_DECISION and approval and found['approval'] is None:
            seen = kinds.read(entry)
            if seen['request'] == approval and seen['verdict'] == 'approve':
                problem = keyring.check(entry)
                found['approval' if problem is None else 'forged_approval'] = entry if problem is None else problem
        elif mine and kind == kinds.DECISION:
            problem = keyring.check(entry) if kinds.from_source(entry) else 'not written by the event source'
            if problem is None:
                found['decision'] = entry
                break
            found['forged_decision'] = found['forged_decision'] or problem  # the newest names it
        elif kinds.is_decision_of(entry, fingerprint, received_at):
            found['other_payload'] = True
        written = _time(entry) if bound is not None else None
        if written is not None and written.tzinfo is not None and written < bound:
            break
    return found


def _check_records(found, event, verdict, approval, remediation):
    """Refuse unless find_records' result lets this payload run now."""
    if found['decision'] is None:
        if found['forged_decision']:
            raise RemediationRefused('the decision entry of this payload has no valid seal (%s): it was not written by '
                                     'the event source with the decision key' % found['forged_decision'])
        if found['other_payload']:
            raise RemediationRefused('the source decided alert %s (received %s) for another payload: alert name, asset, '
                                     'target or decision differ from the recorded decision'
                                     % (recordable(event['alert'].get('fingerprint')), event['meta'].get('received_at')))
        raise RemediationRefused('the decision is not in the audit log: the event did not come from the event source')
    if verdict == 'review':
        if found['approval'] is None:
            raise RemediationRefused('request %s has no approval of this payload in the audit log%s' % (
                approval, ' with a valid seal (%s)' % found['forged_approval'] if found['forged_approval'] else ''))
        proposed = kinds.read(found['approval'])['proposed_action']
        if proposed is not None and proposed != remediation:
            raise RemediationRefused('request %s approved %s, not %s' % (approval, proposed, remediation))
    if found['started'] is not None:
        raise RemediationRefused('this decision already ran: remediation.start seq %s (a decision runs once)'
                                 % found['started'].get('seq'))


def verify_decision(payload, entries, keyring, expected=None, what='the decision of this payload'):
    """(event, decision entry) of a payload whose decision the event source recorded and sealed; RemediationRefused if
    none is on record (or, with expected, when the recorded decision is another one). What the escalation, the
    approval queue and decision_verify check before they act on a payload; plan() checks the same and more.
    what: how the refusal names the decision."""
    event = decode_payload(payload)
    for key in _payload.EVENT_PARTS:
        _mapping(event.get(key), key)
    found = find_records(entries, event, payload_digest(payload), keyring)
    if found['decision'] is None:
        raise RemediationRefused('%s is not in the audit log with a valid seal%s: the event did not come from the event '
                                 'source' % (what, ' (%s)' % found['forged_decision'] if found['forged_decision'] else ''))
    recorded = kinds.read(found['decision'])['decision']
    if expected is not None and recorded != expected:
        raise RemediationRefused('the recorded decision of this payload is %s, not %s' % (recorded, expected))
    return event, found['decision']


def escalation_notice(event):
    """What the escalation webhook is sent about a decoded event: the decision and the asset, no labels, no secrets."""
    alert = event.get('alert') or {}
    return {'kind': 'aigov.escalation', 'decision': event.get('decision'), 'asset': event.get('asset'),
            'alert': dict((key, alert.get(key)) for key in ('fingerprint', 'name', 'status'))}


def needs_approval(event):
    """True for a firing alert's review decision that holds an alert, an asset and a decision (plan() checks the rest)."""
    parts = [event.get(key) for key in ('alert', 'asset', 'decision')] if isinstance(event, dict) else []
    return (len(parts) == 3 and all(isinstance(part, dict) for part in parts)
            and parts[0].get('status') == 'firing' and parts[2].get('decision') == 'review')


def _gpu_target(event, record, protected_pids):
    """The pid to stop on a GPU asset and its start time, as discovery saw them on that GPU."""
    target = event.get('target') if isinstance(event.get('target'), dict) else {}
    pid = target.get('pid')
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1:
        raise RemediationRefused('the alert names no pid (label %s, a whole number) of a process to stop' % PID_LABEL)
    seen = dict((item.get('pid'), item.get('start_time')) for item in (record.get('attributes') or {}).get('processes') or []
                if isinstance(item, dict))
    if pid not in seen:
        raise RemediationRefused('pid %d is not a compute process discovery saw on GPU %s' % (pid, record['id']))
    if not isinstance(seen[pid], int) or isinstance(seen[pid], bool):
        raise RemediationRefused('discovery recorded no start time of pid %d on GPU %s: it cannot be told from a later '
                                 'process with the same pid (run discovery again)' % (pid, record['id']))
    if pid in protected_pids:
        raise RemediationRefused('pid %d belongs to a model server or vector database on %s (protected)'
                                 % (pid, record.get('inventory_hostname')))
    return {'pid': pid, 'start_time': seen[pid], 'gpu_uuid': (record.get('attributes') or {}).get('uuid'),
            'protected_pids': sorted(protected_pids)}


def _requirements(remediation, kinds, record, event, approved_models, protected_pids, services=None):
    """The remediation's own preconditions; the plan's extra fields."""
    if record.get('kind') not in kinds:
        raise RemediationRefused('%s acts on %s assets, and asset %s is a %s' % (
            remediation, ' or '.join(kinds), record['id'], record.get('kind')))
    if services is not None:  # the service definition the host step will need (service_config.NEEDS), before the start
        problem = service_config.plan_problem(remediation, record, services)
        if problem:
            raise RemediationRefused('the service definition of asset %s on %s is incomplete: %s (host variable '
                                     'aigov_baseline_services, docs/remediation.md)'
                                     % (record['id'], record.get('inventory_hostname'), problem))
    if remediation == 'rollback_model':
        if not approved_models:
            raise RemediationRefused('no approved model digest is known for asset %s (the approved_models of its use '
                                     'case in the registry)' % record['id'])
        return {'model': (record.get('attributes') or {}).get('model'), 'approved_models': list(approved_models)}
    if remediation == 'stop_gpu_process':
        return _gpu_target(event, record, set(protected_pids or ()))
    return {}


def plan(payload, inventory_hosts, max_hosts, entries, keyring, actions, approval=None, asset_record=None,
         approved_models=None, protected_pids=None, services_of=None):
    """Return the plan {remediation, target, asset_id, ...}; raise RemediationRefused naming the failed check.

    payload: the event's payload_b64. inventory_hosts: the names of the inventory's hosts. entries: the audit
    log's entries, newest first (find_records). keyring: the decision keys (decision_keys.KeyRing).
    actions: the action table (actions.load_actions). approval: the request id of an approved review. asset_record:
    the asset as the store holds it (found by the event's asset id).
    approved_models: the registry's approved models ({name, sha256, path}) of
    the asset's use case. protected_pids: pids of the model servers and vector
    databases the store knows on the target host. services_of: host name -> its service definitions
    (aigov_baseline_services), checked before the start (service_config.plan_problem); None: not checked here.
    """
    event = decode_payload(payload)
    alert, asset, decision, _meta = (_mapping(event.get(key), key) for key in ('alert', 'asset', 'decision', 'meta'))
    if alert.get('status') != 'firing':
        raise RemediationRefused('the alert is %s, not firing' % alert.get('status'))
    verdict = decision.get('decision')
    if verdict == 'review' and not approval:
        raise RemediationRefused('the decision is review and no approval was given')
    if verdict not in ('automate', 'review'):
        raise RemediationRefused('the decision is %s: only automate, or an approved review, runs' % verdict)
    digest = payload_digest(payload)
    found = find_records(entries, event, digest, keyring, approval if verdict == 'review' else None)
    remediation = proposed_remediation(actions, event)
    _check_records(found, event, verdict, approval, remediation)
    if remediation is None:
        raise RemediationRefused('no remediation is mapped to this alert name')
    props = actions['remediations'].get(remediation)
    if props is None:
        raise RemediationRefused('the decision proposes %s, which the action table %s does not hold (it holds %s)'
                                 % (remediation, actions['name'], ', '.join(sorted(actions['remediations']))))
    target = asset.get('inventory_hostname')
    if not isinstance(target, str) or target not in set(inventory_hosts):
        raise RemediationRefused('the asset is not on a host of this inventory')
    if asset_record is None or asset_record.get('inventory_hostname') != target:
        raise RemediationRefused('the asset store does not hold asset %s on host %s' % (asset.get('asset_id'), target))
    if props['hosts'] > max_hosts:
        raise RemediationRefused('the action would touch %d host%s, more than the blast-radius limit of %d'
                                 % (props['hosts'], '' if props['hosts'] == 1 else 's', max_hosts))
    extra = _requirements(remediation, props['kinds'], asset_record, event, approved_models, protected_pids,
                          None if services_of is None else services_of(target))
    listeners = (asset_record.get('attributes') or {}).get('listeners') or []
    container = (asset_record.get('attributes') or {}).get('container')
    return dict(extra, container=container_target.plan_container(container), **{
        'remediation': remediation,
        'target': target,
        'asset_id': asset_record['id'],
        'asset_name': asset_record.get('name'),
        'pids': [pid for pid in (asset_record.get('attributes') or {}).get('pids') or [] if isinstance(pid, int)],
        'start_times': (asset_record.get('attributes') or {}).get('start_times') or {},
        # where the post-check reaches the server from the host: a container's published host ports
        'ports': container_target.plan_ports(listeners, container),
        # what the audit entries name the alert by (the source's decision entry writes them the same way)
        'fingerprint': recordable(alert.get('fingerprint')),
        'alert_name': alert.get('name'),
        'decision': verdict,
        'approval': approval,
        'owner': decision.get('accountable'),
        'risk_tier': decision.get('risk_tier'),
        # what the governance KPIs link an outcome to its alert and decision by
        'starts_at': recordable(alert['starts_at']) if alert.get('starts_at') else None,
        'received_at': event['meta'].get('received_at'),
        'payload_sha256': digest,
    })
