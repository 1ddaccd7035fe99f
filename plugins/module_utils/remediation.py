# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an alert-driven remediation may run, on which host, and what it does.

plan() checks, in this order, and raises RemediationRefused naming the first
that fails (the caller records the refusal in the audit log):
  1. the event has an alert, an asset and a decision, and the alert is firing;
  2. the decision is automate, or review with a human approval on record;
  3. that decision is in the audit log, written by the event source (so an
     event cannot be forged on the command line);
  4. the alert maps to a remediation in the action table (data);
  5. the target is the asset's inventory_hostname from the asset store, and it
     is exactly one host of the inventory (a pattern is never evaluated);
  6. the blast-radius limit of the guardrail policy holds.
Alert label values are only compared and looked up here: nothing formats,
templates or executes them.

The playbooks receive the event as `payload_b64` (encode_payload): ansible-core
renders template syntax found in extra variables, and ansible-rulebook passes
the event to ansible-playbook as extra variables, so a label value such as
"{{ lookup('pipe', 'id') }}" would run on the controller the moment a playbook
touched it. Base64 has no template syntax; labels and annotations are left out.
"""

from __future__ import annotations

import base64
import binascii
import json

from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError

SOURCE_ACTOR = 'aigov.core.aiops_alerts'
APPROVAL_ACTION = 'approval.decision'
# alert name -> remediation; a user's table (aigov_remediation_actions) replaces it.
ACTIONS = {
    'ModelServerDown': 'restart_model_server',
    'ModelServerUnhealthy': 'restart_model_server',
    'ModelServerExposed': 'rebind_loopback',
}
REMEDIATIONS = ('restart_model_server', 'rebind_loopback')


_ALERT_KEYS = ('fingerprint', 'name', 'status', 'severity', 'starts_at', 'source', 'confidence')


class RemediationRefused(AigovError):
    """The remediation may not run; the message says which check failed."""


_PAYLOAD_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(value, sort_keys=True), without a new encoder per call


def payload_json(value):
    """The JSON text encode_payload() gives value (an event's asset or decision) inside the payload."""
    return _PAYLOAD_JSON.encode(value)


def encode_payload(event, asset_json=None, decision_json=None):
    """The part of an event a playbook needs, as base64 of its JSON (inert to templating).

    asset_json and decision_json: payload_json() of the event's asset and decision when the caller
    has them already (the event source sends many events about the same asset and decision). The
    payload is the same bytes either way: a dict's sorted JSON is its sorted members' JSON joined.
    """
    alert = event['alert']
    text = '{"alert": %s, "asset": %s, "decision": %s, "meta": %s}' % (
        _PAYLOAD_JSON.encode(dict((key, alert.get(key)) for key in _ALERT_KEYS)),
        payload_json(event['asset']) if asset_json is None else asset_json,
        payload_json(event['decision']) if decision_json is None else decision_json,
        _PAYLOAD_JSON.encode({'received_at': event['meta']['received_at']}))
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def decode_payload(text):
    """The event encode_payload() carried; RemediationRefused when it is not one."""
    try:
        data = json.loads(base64.b64decode(str(text).encode('ascii'), validate=True).decode('utf-8'))
    except (ValueError, UnicodeError, binascii.Error):
        raise RemediationRefused('the event payload is not base64 of JSON (payload_b64 of an aiops_alerts event)')
    if not isinstance(data, dict):
        raise RemediationRefused('the event payload is not an object')
    return data


def _mapping(value, where):
    if not isinstance(value, dict):
        raise RemediationRefused('the event has no %s object' % where)
    return value


def check_actions(table):
    """The action table, validated: alert name -> one of REMEDIATIONS."""
    if not isinstance(table, dict) or not table:
        raise RemediationRefused('the action table must map alert names to remediations')
    wrong = sorted(str(name) for name, action in table.items() if action not in REMEDIATIONS)
    if wrong:
        raise RemediationRefused('the action table maps %s to no known remediation (known: %s)'
                                 % (', '.join(wrong), ', '.join(REMEDIATIONS)))
    return table


def recorded_decision(entries, event):
    """The source's audit entry of this event's decision, or None."""
    alert, asset, decision = event['alert'], event['asset'], event['decision']
    for entry in reversed(entries):
        if entry is None or entry.get('actor') != SOURCE_ACTOR or entry.get('action') != 'decision':
            continue
        details = entry.get('details') or {}
        if (details.get('fingerprint') == alert.get('fingerprint') and details.get('decision') == decision.get('decision')
                and entry.get('subject') == asset.get('asset_id')
                and details.get('received_at') == (event.get('meta') or {}).get('received_at')):
            return entry
    return None


def recorded_approval(entries, request_id, fingerprint):
    """The audit entry of the human approval of request_id (verdict approve), or None."""
    for entry in reversed(entries):
        details = (entry or {}).get('details') or {}
        if (entry and entry.get('action') == APPROVAL_ACTION and details.get('request') == request_id
                and details.get('verdict') == 'approve' and details.get('fingerprint') == fingerprint):
            return entry
    return None


def plan(event, inventory_hosts, max_hosts, entries, actions=None, approval=None, asset_record=None):
    """Return the plan {remediation, target, asset_id, ...}; raise RemediationRefused naming the failed check.

    inventory_hosts: the names of the inventory's hosts. entries: the audit
    log's entries. approval: the request id of an approved review. asset_record:
    the asset as the store holds it (found by the event's asset id).
    """
    event = _mapping(event, 'event')
    alert, asset, decision = (_mapping(event.get(key), key) for key in ('alert', 'asset', 'decision'))
    if alert.get('status') != 'firing':
        raise RemediationRefused('the alert is %s, not firing' % alert.get('status'))
    verdict = decision.get('decision')
    if verdict == 'review':
        if not approval:
            raise RemediationRefused('the decision is review and no approval was given')
        if recorded_approval(entries, approval, alert.get('fingerprint')) is None:
            raise RemediationRefused('request %s has no approval in the audit log' % approval)
    elif verdict != 'automate':
        raise RemediationRefused('the decision is %s: only automate, or an approved review, runs' % verdict)
    if recorded_decision(entries, event) is None:
        raise RemediationRefused('the decision is not in the audit log: the event did not come from the event source')
    table = check_actions(actions if actions is not None else ACTIONS)
    remediation = table.get(alert.get('name'))
    if remediation is None:
        raise RemediationRefused('no remediation is mapped to this alert name')
    target = asset.get('inventory_hostname')
    if not isinstance(target, str) or target not in set(inventory_hosts):
        raise RemediationRefused('the asset is not on a host of this inventory')
    if asset_record is None or asset_record.get('inventory_hostname') != target:
        raise RemediationRefused('the asset store does not hold asset %s on host %s' % (asset.get('asset_id'), target))
    if 1 > max_hosts:
        raise RemediationRefused('the action would touch 1 host, more than the blast-radius limit of %d' % max_hosts)
    listeners = (asset_record.get('attributes') or {}).get('listeners') or []
    return {
        'remediation': remediation,
        'target': target,
        'asset_id': asset_record['id'],
        'asset_name': asset_record.get('name'),
        'pids': [pid for pid in (asset_record.get('attributes') or {}).get('pids') or [] if isinstance(pid, int)],
        'ports': sorted(set(item['port'] for item in listeners if isinstance(item.get('port'), int))),
        'fingerprint': alert.get('fingerprint'),
        'alert_name': alert.get('name'),
        'decision': verdict,
        'approval': approval,
        'owner': decision.get('accountable'),
    }
