# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CloudEvents 1.0 over HTTP (the HTTP protocol binding, cloudevents/spec cloudevents/bindings/http-protocol-binding.md).

Three modes, told apart as the binding says:
- binary: the attributes are `ce-*` headers (ce-specversion, ce-id, ce-source, ce-type, ce-subject, ...), the body is
  the event's data (read as JSON when the Content-Type is JSON);
- structured: Content-Type application/cloudevents+json, the body is one event (attributes and `data`);
- batched: Content-Type application/cloudevents-batch+json, the body is a JSON array of structured events.
A structured event sent as application/json (it has `specversion`) is read as structured too.

Only the types the `types` patterns match (fnmatch, e.g. `*.alert.firing`) become alerts; the others are
acknowledged and counted as ignored, never decided. A type ending in `.resolved` (or data.status resolved)
is a resolved alert. The fingerprint is data.fingerprint, else a digest of source, subject and alert name:
never the event id, so a firing and a resolved event about the same thing share it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re

from ansible_collections.aigov.core.plugins.module_utils.alerts import alerts

DEFAULT_TYPES = ('*.alert', '*.alert.firing', '*.alert.resolved')
STRUCTURED, BATCH = 'application/cloudevents+json', 'application/cloudevents-batch+json'
_REQUIRED = ('specversion', 'id', 'source', 'type')


def type_matcher(patterns=DEFAULT_TYPES):
    """A compiled test of an event type against the fnmatch patterns (one regex, not one per pattern)."""
    return re.compile('|'.join('(?:%s)' % fnmatch.translate(str(p)) for p in patterns) or '(?!)').match


def media_type(content_type):
    return (content_type or '').split(';', 1)[0].strip().lower()


def is_binary(headers):
    """True when the request is a binary-mode CloudEvent (a ce-specversion header)."""
    return bool(headers.get('ce-specversion'))


def fingerprint(source, subject, name):
    material = json.dumps([source, subject or '', name])
    return hashlib.sha256(material.encode('utf-8')).hexdigest()[:16]


def _event_alert(attributes, data, where, accepts, default_confidence):
    """The alert of one event's attributes and data; None when its type is not listed (ignored)."""
    for key in _REQUIRED:
        alerts._text(attributes.get(key), '%s.%s' % (where, key), True)
    if str(attributes['specversion']).split('.', 1)[0] != '1':
        raise alerts.MalformedAlert('%s.specversion must be 1.x' % where)
    kind = str(attributes['type'])
    if not accepts(kind):
        return None
    data = data if isinstance(data, dict) else {}
    labels = data.get('labels') if isinstance(data.get('labels'), dict) else {}
    name = alerts._text(data.get('name') or data.get('alertname') or labels.get('alertname'), where + '.data.name') or kind
    raw = dict(data, name=name)
    raw['fingerprint'] = data.get('fingerprint') or fingerprint(str(attributes['source']), attributes.get('subject'), name)
    if kind.endswith('.resolved'):
        raw['status'] = 'resolved'
    if attributes.get('subject') and not raw.get('host'):
        raw['host'] = attributes['subject']
    raw.setdefault('labels', {})
    return alerts._normalize(raw, where + '.data', 'cloudevents', default_confidence)


def _structured(events, where_of, accepts, default_confidence, found):
    for index, event in enumerate(events):
        where = where_of(index)
        try:
            if not isinstance(event, dict):
                raise alerts.MalformedAlert('%s must be an object' % where)
            alert = _event_alert(event, event.get('data'), where, accepts, default_confidence)
        except alerts.MalformedAlert as exc:
            found['refused'].append({'index': index, 'reason': str(exc)})
            continue
        if alert is None:
            found['ignored'] += 1
        else:
            found['alerts'].append(alert)
    return found


def read_structured(body, default_confidence=None, accepts=None):
    """reading() of one structured event (parsed JSON)."""
    return _structured([body], lambda _index: 'event', accepts or type_matcher(), default_confidence,
                       alerts.reading(source='cloudevents'))


def read_batch(body, default_confidence=None, accepts=None):
    """reading() of a batch (parsed JSON array); MalformedAlert when it is not an array."""
    if not isinstance(body, list):
        raise alerts.MalformedAlert('a CloudEvents batch must be a JSON array of events')
    return _structured(body, lambda index: '[%d]' % index, accepts or type_matcher(), default_confidence,
                       alerts.reading(source='cloudevents'))


def read_binary(headers, data, default_confidence=None, accepts=None):
    """reading() of a binary-mode event: headers (lower-case names) hold ce-* attributes, data the parsed body or None."""
    attributes = dict((key[3:], value) for key, value in headers.items() if key.startswith('ce-'))
    found = alerts.reading(source='cloudevents')
    try:
        alert = _event_alert(attributes, data, 'event', accepts or type_matcher(), default_confidence)
    except alerts.MalformedAlert as exc:
        found['refused'].append({'index': 0, 'reason': str(exc)})
        return found
    if alert is None:
        found['ignored'] = 1
    else:
        found['alerts'].append(alert)
    return found
