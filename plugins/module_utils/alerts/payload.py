# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event's payload_b64: the part of an aiops_alerts event a playbook is given, inert to templating.

ansible-core renders template syntax found in extra variables, and ansible-rulebook passes the
event to ansible-playbook as extra variables, so a label value such as
"{{ lookup('pipe', 'id') }}" would run on the controller the moment a playbook touched it.
Base64 has no template syntax; labels and annotations are left out. One codec for every path
that reads it: the event source (encode), the remediation, the approval queue and the escalation
(decode), the audit entries (digest).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

# The one label a remediation reads, reduced to an inert value by encode_payload(): a pid is
# digits only; any other value is dropped.
PID_LABEL = 'pid'
_PID = re.compile(r'^[1-9][0-9]{0,9}$')
ALERT_KEYS = ('fingerprint', 'name', 'status', 'severity', 'starts_at', 'source', 'confidence')
EVENT_PARTS = ('alert', 'asset', 'decision', 'meta')


class PayloadError(AigovError):
    """The text is not the payload_b64 of an aiops_alerts event; the message says what is wrong."""


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
    labels = alert.get('labels') if isinstance(alert.get('labels'), dict) else {}
    pid = str(labels.get(PID_LABEL, ''))
    target = {'pid': int(pid) if _PID.match(pid) else None}
    text = '{"alert": %s, "asset": %s, "decision": %s, "meta": %s, "target": %s}' % (
        _PAYLOAD_JSON.encode(dict((key, alert.get(key)) for key in ALERT_KEYS)),
        payload_json(event['asset']) if asset_json is None else asset_json,
        payload_json(event['decision']) if decision_json is None else decision_json,
        _PAYLOAD_JSON.encode({'received_at': event['meta']['received_at']}), _PAYLOAD_JSON.encode(target))
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def payload_digest(text):
    """sha256 hex of a payload_b64: what binds the decision, the approval and the start entries to one payload."""
    return hashlib.sha256(str(text).encode('utf-8')).hexdigest()


def decode_payload(text):
    """The event encode_payload() carried; PayloadError when it is not one."""
    try:
        data = json.loads(base64.b64decode(str(text).encode('ascii'), validate=True).decode('utf-8'))
    except (ValueError, UnicodeError, binascii.Error):
        raise PayloadError('the event payload is not base64 of JSON (payload_b64 of an aiops_alerts event)')
    if not isinstance(data, dict):
        raise PayloadError('the event payload is not an object')
    return data


def decode_event(text):
    """decode_payload(), and PayloadError unless it holds the alert, asset, decision and meta objects of an event."""
    event = decode_payload(text)
    missing = [key for key in EVENT_PARTS if not isinstance(event.get(key), dict)]
    if missing:
        raise PayloadError('the payload is not an aiops_alerts event: no %s object' % ', '.join(missing))
    return event
