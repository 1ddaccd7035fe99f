"""No request body and no header value makes the intake pipeline raise or answer 5xx (Hypothesis), with the cases that
found something kept as examples."""

import asyncio
import json

from hypothesis import HealthCheck, example, given, settings, strategies as st

from tests.unit.plugins.module_utils.alerts.test_intake import BEARER, site  # noqa: F401  # pylint: disable=unused-import

TEXT = st.text(max_size=40)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
                    max_leaves=30)
ALERT_KEYS = st.sampled_from(['labels', 'annotations', 'status', 'startsAt', 'endsAt', 'fingerprint', 'name', 'confidence',
                              'alerts', 'specversion', 'id', 'source', 'type', 'data', 'truncatedAlerts', 'commonLabels'])
SHAPED = st.dictionaries(ALERT_KEYS, JSON, max_size=8)
HEADERS = st.dictionaries(st.sampled_from(['content-type', 'ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-subject',
                                           'webhook-id', 'webhook-timestamp', 'webhook-signature']), TEXT, max_size=5)
OK = (202, 400, 401, 403)
FOUND = [  # bodies that broke the pipeline before issue 12, kept
    b'[' * 100000,  # RecursionError in json.loads
    b'{"name": "X\\udcff", "labels": {"instance": "h:1"}}',  # a lone surrogate could not be written to the audit log
    b'{"name": "X", "confidence": "NaN"}',  # a confidence that is not a number refused the request
    b'{"alerts": [{"labels": {"alertname": "A"}}, {"labels": {}}]}',  # one unreadable alert refused the group
    b'{"specversion": "1.0", "id": "1", "source": "s", "type": "x.alert", "data": 7}',
]


def call(pipeline, raw, headers=None):
    return asyncio.run(pipeline.receive(raw, BEARER, None, None, '/alerts', headers=headers))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=st.one_of(JSON, SHAPED, st.lists(SHAPED, max_size=4), st.builds(lambda a: {'alerts': a}, st.lists(SHAPED, max_size=4))),
       headers=HEADERS)
def test_any_json_body_and_headers_get_an_answer(site, document, headers):
    _queue, pipeline, _log = site
    status, reply = call(pipeline, json.dumps(document).encode(), headers)
    assert status in OK and isinstance(reply, dict)
    json.dumps(reply)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
@example(raw=FOUND[0])
@example(raw=FOUND[1])
@example(raw=FOUND[2])
@example(raw=FOUND[3])
@example(raw=FOUND[4])
def test_any_bytes_get_an_answer(site, raw):
    _queue, pipeline, _log = site
    assert call(pipeline, raw)[0] in OK


def test_the_cases_that_found_something_are_answered_as_the_issue_says(site):
    queue, pipeline, _log = site
    assert call(pipeline, FOUND[0])[0] == 400
    assert call(pipeline, FOUND[1])[0] == 202 and queue.events[-1]['alert']['name'] == 'X\ufffd'
    assert call(pipeline, FOUND[2])[0] == 202 and queue.events[-1]['alert']['confidence'] is None
    status, reply = call(pipeline, FOUND[3])
    assert (status, reply['accepted'], len(reply['refused'])) == (202, 1, 1)


@settings(max_examples=60, deadline=None)
@given(header=st.text(max_size=30), stamp=st.text(max_size=30))
def test_no_header_value_breaks_the_signature_checks(header, stamp):
    from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake
    auth = alert_intake.RequestAuth(hmac_secret='s', grafana={'secret': 'g', 'timestamp_header': 'x-ts'},
                                    standard_webhooks='whsec_a2V5')
    for signature, headers in ((header, {}), (None, {'x-grafana-alerting-signature': header, 'x-ts': stamp}),
                               (None, {'webhook-id': header, 'webhook-timestamp': stamp, 'webhook-signature': header})):
        try:
            auth.check(None, signature, stamp, b'{}', headers)
        except alert_intake.AuthRefused as refused:
            assert refused.status in (401, 403)
