# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AIOps alerts in one shape (schemas/alert.v1.json), whatever sent them.

Alertmanager (webhook version 4), Grafana alerting webhooks, CloudEvents
(structured JSON) and generic JSON (one alert or a list) are recognised from
the body. Everything taken from a payload stays data: nothing here formats,
evaluates or templates a label value.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

ALERT_SCHEMA_VERSION = 1
STATUSES = ('firing', 'resolved')
HOST_LABELS = ('aigov_host', 'host', 'hostname', 'nodename', 'instance')
ASSET_LABELS = ('aigov_asset_id', 'asset_id')
CONFIDENCE_KEYS = ('aigov_confidence', 'confidence')
_HOST_PORT = re.compile(r'^\[(?P<v6>[0-9A-Fa-f:.]+)\](?::\d+)?$|^(?P<name>[^:\[\]]+)(?::\d+)?$')
_MAX_TEXT = 4096


class MalformedAlert(AigovError):
    """The payload is not an alert this source understands; the message says what is wrong where."""


def _text(value, where, required=False):
    if value is None or value == '':
        if required:
            raise MalformedAlert('%s is missing' % where)
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise MalformedAlert('%s must be a string, got %s' % (where, type(value).__name__))
    return str(value)[:_MAX_TEXT]


def _strings(mapping, where):
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise MalformedAlert('%s must be an object of strings' % where)
    strings = {}
    for key, value in mapping.items():
        if value.__class__ is not str or len(value) > _MAX_TEXT:  # plain short strings, most values, are kept as they are
            value = _text(value, '%s.%s' % (where, key)) or ''
        strings[key if key.__class__ is str and len(key) <= 256 else str(key)[:256]] = value
    return strings


def host_from_labels(labels):
    """The host an alert is about: the first host-like label, without its port (IPv6-safe)."""
    for key in HOST_LABELS:
        value = labels.get(key)
        if not value:
            continue
        if value.count(':') > 1 and not value.startswith('['):
            return value  # a bare IPv6 address: its colons are not a port separator
        match = _HOST_PORT.match(value)
        if match:
            return match.group('v6') or match.group('name')
    return None


def parse_confidence(value):
    """0..1 from 0.85, '0.85' or '85%'; None when absent; MalformedAlert when out of range."""
    if value is None or value == '':
        return None
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100.0 if text.endswith('%') else float(text)
    except ValueError:
        raise MalformedAlert('confidence %r is not a number' % text[:64])
    if not 0 <= number <= 1:
        raise MalformedAlert('confidence %r is not between 0 and 1 (or 0%% and 100%%)' % text[:64])
    return number


def label_fingerprint(name, labels):
    """What Alertmanager would key the alert on when the sender gave no fingerprint."""
    material = json.dumps([name, sorted(labels.items())])
    return hashlib.sha256(material.encode('utf-8')).hexdigest()[:16]


def _normalize(raw, where, source, default_confidence, common_labels=None, common_annotations=None):
    if not isinstance(raw, dict):
        raise MalformedAlert('%s must be an object' % where)
    labels = dict(common_labels or {}, **_strings(raw.get('labels'), where + '.labels'))
    annotations = dict(common_annotations or {}, **_strings(raw.get('annotations'), where + '.annotations'))
    name = _text(labels.get('alertname') or raw.get('name') or raw.get('alertname'), where + '.labels.alertname', True)
    status = (_text(raw.get('status'), where + '.status') or 'firing').lower()
    if status not in STATUSES:
        raise MalformedAlert('%s.status must be firing or resolved, got %r' % (where, status[:64]))
    confidence = None
    for key in CONFIDENCE_KEYS:
        found = labels.get(key) or annotations.get(key) or raw.get(key)
        if found not in (None, ''):
            confidence = parse_confidence(found)
            break
    if confidence is None:
        confidence = default_confidence
    asset_id = next((labels[key] for key in ASSET_LABELS if labels.get(key)), None) or _text(raw.get('asset_id'), where)
    return {
        'schema_version': ALERT_SCHEMA_VERSION,
        'fingerprint': _text(raw.get('fingerprint'), where + '.fingerprint') or label_fingerprint(name, labels),
        'status': status,
        'name': name,
        'severity': (labels.get('severity') or _text(raw.get('severity'), where + '.severity') or 'unknown').lower(),
        'host': host_from_labels(labels) or _text(raw.get('host'), where + '.host'),
        'asset_id': asset_id,
        'labels': labels,
        'annotations': annotations,
        'starts_at': _text(raw.get('startsAt') or raw.get('starts_at'), where + '.startsAt'),
        'ends_at': _text(raw.get('endsAt') or raw.get('ends_at'), where + '.endsAt'),
        'source': source,
        'confidence': confidence,
    }


def _alert_group(body, source, default_confidence):
    alerts = body.get('alerts')
    if not isinstance(alerts, list) or not alerts:
        raise MalformedAlert('alerts must be a non-empty list')
    labels = _strings(body.get('commonLabels'), 'commonLabels')
    annotations = _strings(body.get('commonAnnotations'), 'commonAnnotations')
    return [_normalize(alert, 'alerts[%d]' % index, source, default_confidence, labels, annotations)
            for index, alert in enumerate(alerts)]


def _cloudevent(body, default_confidence):
    for key in ('id', 'source', 'type'):
        _text(body.get(key), key, True)
    data = body.get('data') if isinstance(body.get('data'), dict) else {}
    raw = dict(data, name=data.get('name') or data.get('alertname') or body['type'],
               fingerprint=data.get('fingerprint') or hashlib.sha256(
                   json.dumps([body['source'], body['id']]).encode('utf-8')).hexdigest()[:16])
    raw.setdefault('labels', {})
    if body.get('subject') and not raw.get('host'):
        raw['host'] = body['subject']
    return [_normalize(raw, 'data', 'cloudevents', default_confidence)]


def detect_source(body):
    """Which sender's format a parsed JSON body is in."""
    if isinstance(body, dict) and 'specversion' in body:
        return 'cloudevents'
    if isinstance(body, dict) and 'alerts' in body:
        return 'grafana' if 'orgId' in body or 'title' in body else 'alertmanager'
    return 'generic'


def normalize(body, default_confidence=None):
    """Return the alerts a parsed JSON body carries, each in the alert.v1 shape."""
    source = detect_source(body)
    if source == 'cloudevents':
        return _cloudevent(body, default_confidence)
    if source in ('alertmanager', 'grafana'):
        return _alert_group(body, source, default_confidence)
    if isinstance(body, list):
        if not body:
            raise MalformedAlert('the list of alerts is empty')
        return [_normalize(item, '[%d]' % index, 'generic', default_confidence) for index, item in enumerate(body)]
    return [_normalize(body, 'body', 'generic', default_confidence)]
