# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AIOps alerts in one shape (schemas/alert.v1.json), whatever sent them.

Alertmanager (webhook version 4), Grafana alerting webhooks, CloudEvents
(cloudevents.py: structured, binary and batched) and generic JSON (one alert or a
list, such as Prometheus' own POST /api/v2/alerts body) are recognised from the body.
Everything taken from a payload stays data: nothing here formats, evaluates or
templates a label value.

read() is partial: each alert that cannot be read is refused on its own (its index
and a reason that names where, never a label value) and the others are kept.
"""

from __future__ import annotations

import datetime
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
CUT_MARK = ' [cut at %d characters]' % _MAX_TEXT  # what a value cut to the size limit ends with
_ZERO_TIME = '0001-01-01T00:00:00Z'  # Go's zero time: Alertmanager's endsAt of an alert without an end
_FRACTION = re.compile(r'(\.\d{6})\d+')
FUTURE_SKEW = 60  # seconds a sender's clock may run ahead: a startsAt later than receipt plus this is not believed


class MalformedAlert(AigovError):
    """The payload is not an alert this source understands; the message says what is wrong where."""


def _text(value, where, required=False):
    if value is None or value == '':
        if required:
            raise MalformedAlert('%s is missing' % where)
        return None
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise MalformedAlert('%s must be a string, got %s' % (where, type(value).__name__))
    return cut(str(value))


def cut(text):
    """text, or its first characters and CUT_MARK when it is longer than the size limit (it says it was cut)."""
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - len(CUT_MARK)] + CUT_MARK


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
    """0..1 from 0.85, '0.85' or '85%'; None (unknown confidence) when absent, not a number or out of range."""
    if value is None or value == '' or isinstance(value, bool):
        return None
    text = str(value).strip()
    try:
        number = float(text[:-1]) / 100.0 if text.endswith('%') else float(text)
    except ValueError:
        return None
    return number if 0 <= number <= 1 else None  # nan and inf fail the comparison too


def _moment(text):
    """The aware datetime of an RFC 3339 text (naive is UTC), or None when it is not one."""
    try:
        moment = datetime.datetime.fromisoformat(_FRACTION.sub(r'\1', text.replace('Z', '+00:00')))
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc) if moment.tzinfo is None else moment


def ended(ends_at, now):
    """True when an endsAt text is a time before now (Go's zero time and unreadable text are no end)."""
    if not ends_at or ends_at == _ZERO_TIME or now is None:
        return False
    moment = _moment(ends_at)
    return moment is not None and moment <= now


_LATEST = {}  # now -> the latest believable start as UTC text to the second (one request's alerts share now)


def _latest(now):
    text = _LATEST.get(now)
    if text is None:
        if len(_LATEST) > 8:
            _LATEST.clear()
        text = _LATEST[now] = (now + datetime.timedelta(seconds=FUTURE_SKEW)).astimezone(
            datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S')
    return text


def believed_start(starts_at, now):
    """(start, the sender's start when it was replaced): a startsAt more than FUTURE_SKEW seconds after the receipt
    (now) is replaced by the receipt time, and said so (alert key starts_at_sent, the decision entry's details)."""
    if not starts_at or now is None or starts_at[:1] not in '0123456789':
        return starts_at, None
    if starts_at[-1:] == 'Z' and starts_at[:19] <= _latest(now):  # UTC text no later than now + skew: no parse (hot path)
        return starts_at, None
    moment = _moment(starts_at)
    if moment is None or (moment - now).total_seconds() <= FUTURE_SKEW:
        return starts_at, None
    return now.isoformat(timespec='seconds'), starts_at


def label_fingerprint(name, labels):
    """What Alertmanager would key the alert on when the sender gave no fingerprint."""
    material = json.dumps([name, sorted(labels.items())])
    return hashlib.sha256(material.encode('utf-8')).hexdigest()[:16]


def _normalize(raw, where, source, default_confidence, common_labels=None, common_annotations=None, now=None):
    if not isinstance(raw, dict):
        raise MalformedAlert('%s must be an object' % where)
    labels = dict(common_labels or {}, **_strings(raw.get('labels'), where + '.labels'))
    annotations = dict(common_annotations or {}, **_strings(raw.get('annotations'), where + '.annotations'))
    name = _text(labels.get('alertname') or raw.get('name') or raw.get('alertname'), where + '.labels.alertname', True)
    status = _text(raw.get('status'), where + '.status')
    ends_at = _text(raw.get('endsAt') or raw.get('ends_at'), where + '.endsAt')
    if status is None:  # Prometheus' own alerts carry no status: an endsAt in the past means resolved
        status = 'resolved' if source == 'generic' and ended(ends_at, now) else 'firing'
    status = status.lower()
    if status not in STATUSES:
        raise MalformedAlert('%s.status must be firing or resolved' % where)
    confidence = None
    for key in CONFIDENCE_KEYS:
        found = labels.get(key) or annotations.get(key) or raw.get(key)
        if found not in (None, ''):
            confidence = parse_confidence(found)
            break
    if confidence is None:
        confidence = default_confidence
    asset_id = next((labels[key] for key in ASSET_LABELS if labels.get(key)), None) or _text(raw.get('asset_id'), where)
    starts_at, sent = believed_start(_text(raw.get('startsAt') or raw.get('starts_at'), where + '.startsAt'), now)
    alert = {
        'schema_version': ALERT_SCHEMA_VERSION,
        'fingerprint': _text(raw.get('fingerprint'), where + '.fingerprint') or label_fingerprint(name, labels),
        'status': status,
        'name': name,
        'severity': (labels.get('severity') or _text(raw.get('severity'), where + '.severity') or 'unknown').lower(),
        'host': host_from_labels(labels) or _text(raw.get('host'), where + '.host'),
        'asset_id': asset_id,
        'labels': labels,
        'annotations': annotations,
        'starts_at': starts_at,
        'ends_at': ends_at,
        'source': source,
        'confidence': confidence,
    }
    if sent is not None:
        alert['starts_at_sent'] = sent  # the episode stays the sender's (alert_intake.AlertGate keys on it)
    return alert


def reading(alerts=None, refused=None, ignored=0, truncated=0, source=None):
    """What a request carried: its alerts, the refused ones ({index, reason}), ignored events, truncatedAlerts."""
    return {'alerts': alerts or [], 'refused': refused or [], 'ignored': ignored, 'truncated': truncated, 'source': source}


def each(items, where, build, found):
    """build(item, 'where[index]') of every item into found; each MalformedAlert becomes a refusal of its index."""
    for index, item in enumerate(items):
        try:
            found['alerts'].append(build(item, '%s[%d]' % (where, index)))
        except MalformedAlert as exc:
            found['refused'].append({'index': index, 'reason': str(exc)})
    return found


def _alert_group(body, source, default_confidence, now):
    alerts = body.get('alerts')
    if not isinstance(alerts, list) or not alerts:
        raise MalformedAlert('alerts must be a non-empty list')
    labels = _strings(body.get('commonLabels'), 'commonLabels')
    annotations = _strings(body.get('commonAnnotations'), 'commonAnnotations')
    truncated = body.get('truncatedAlerts')  # Alertmanager v0.25+: alerts of the group its max_alerts left out
    found = reading(truncated=truncated if isinstance(truncated, int) and not isinstance(truncated, bool) and truncated > 0
                    else 0, source=source)
    return each(alerts, 'alerts', lambda alert, where: _normalize(
        alert, where, source, default_confidence, labels, annotations, now), found)


def detect_source(body):
    """Which sender's format a parsed JSON body is in."""
    if isinstance(body, dict) and 'specversion' in body:
        return 'cloudevents'
    if isinstance(body, dict) and 'alerts' in body:
        return 'grafana' if 'orgId' in body or 'title' in body else 'alertmanager'
    return 'generic'


def read(body, default_confidence=None, now=None):
    """The reading() of a parsed JSON body (a CloudEvent is read as a generic alert: cloudevents.py reads those).

    MalformedAlert when the body as a whole is not alerts (not an object or a list, no alerts list).
    now: the receipt time (aware datetime), to tell a generic alert whose endsAt has passed.
    """
    source = detect_source(body)
    if source in ('alertmanager', 'grafana'):
        return _alert_group(body, source, default_confidence, now)
    if isinstance(body, list):
        if not body:
            raise MalformedAlert('the list of alerts is empty')
        return each(body, '', lambda item, where: _normalize(item, where, 'generic', default_confidence, now=now),
                    reading(source='generic'))
    if not isinstance(body, dict):
        raise MalformedAlert('the body must be an alert object, a list of alerts or an alert group')
    return each([body], 'body', lambda item, _where: _normalize(item, 'body', 'generic', default_confidence, now=now),
                reading(source='generic'))


def normalize(body, default_confidence=None, now=None):
    """The alerts a parsed JSON body carries, each in the alert.v1 shape; MalformedAlert names the first unreadable one."""
    found = read(body, default_confidence, now)
    if found['refused']:
        raise MalformedAlert(found['refused'][0]['reason'])
    return found['alerts']
