"""Alert normalization: Alertmanager, Grafana, CloudEvents and generic JSON in one shape."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import alerts, cloudevents

ALERTMANAGER = {
    'version': '4', 'groupKey': '{}:{alertname="ModelServerDown"}', 'truncatedAlerts': 0, 'status': 'firing',
    'receiver': 'aigov', 'groupLabels': {'alertname': 'ModelServerDown'},
    'commonLabels': {'alertname': 'ModelServerDown', 'severity': 'critical', 'job': 'vllm'},
    'commonAnnotations': {'summary': 'vLLM is down'}, 'externalURL': 'http://127.0.0.1:9093',
    'alerts': [
        {'status': 'firing', 'labels': {'alertname': 'ModelServerDown', 'severity': 'critical', 'job': 'vllm',
                                        'instance': '10.88.0.5:8000', 'confidence': '0.9'},
         'annotations': {'summary': 'vLLM is down'}, 'startsAt': '2026-11-25T09:00:00.000Z',
         'endsAt': '0001-01-01T00:00:00Z', 'generatorURL': 'http://127.0.0.1:9090/graph', 'fingerprint': 'c6b2d1e0a1b2c3d4'},
        {'status': 'resolved', 'labels': {'alertname': 'ModelServerDown', 'instance': '[fd00::5]:8000'},
         'annotations': {}, 'startsAt': '2026-11-25T08:00:00Z', 'endsAt': '2026-11-25T08:05:00Z', 'fingerprint': 'aa'},
    ],
}
GRAFANA = {
    'receiver': 'aigov', 'status': 'firing', 'orgId': 1, 'title': '[FIRING:1] GPU hot', 'state': 'alerting',
    'alerts': [{'status': 'firing', 'labels': {'alertname': 'GPUHot', 'hostname': 'gpu-1'},
                'annotations': {'confidence': '75%'}, 'startsAt': '2026-11-25T09:00:00Z', 'fingerprint': 'f00d',
                'values': {'B': 91}}],
}
CLOUDEVENT = {'specversion': '1.0', 'type': 'com.example.model.drift', 'source': '/aiops/drift', 'id': 'e-1',
              'subject': 'edge-box-1', 'data': {'severity': 'warning', 'labels': {'model': 'tiny'}}}


def test_alertmanager_group_becomes_one_alert_each():
    first, second = alerts.normalize(ALERTMANAGER)
    assert (first['source'], first['fingerprint'], first['status'], first['name']) == (
        'alertmanager', 'c6b2d1e0a1b2c3d4', 'firing', 'ModelServerDown')
    assert (first['severity'], first['host'], first['confidence']) == ('critical', '10.88.0.5', 0.9)
    assert first['annotations'] == {'summary': 'vLLM is down'}
    assert (second['status'], second['host'], second['ends_at']) == ('resolved', 'fd00::5', '2026-11-25T08:05:00Z')
    assert second['labels']['job'] == 'vllm'  # common labels apply to every alert
    assert second['confidence'] is None


def test_grafana_and_cloudevents_and_generic():
    [grafana] = alerts.normalize(GRAFANA)
    assert (grafana['source'], grafana['host'], grafana['confidence']) == ('grafana', 'gpu-1', 0.75)
    drift = cloudevents.type_matcher(['com.example.model.*'])
    [event] = cloudevents.read_structured(CLOUDEVENT, 0.5, drift)['alerts']
    assert (event['source'], event['name'], event['host'], event['severity'], event['confidence']) == (
        'cloudevents', 'com.example.model.drift', 'edge-box-1', 'warning', 0.5)
    again = dict(CLOUDEVENT, id='e-2')  # another event about the same thing: the same fingerprint
    assert event['fingerprint'] == cloudevents.read_structured(again, None, drift)['alerts'][0]['fingerprint']
    assert cloudevents.read_structured(CLOUDEVENT)['ignored'] == 1  # not a listed type by default
    generic = alerts.normalize([{'name': 'KeyLeaked', 'host': 'cloud-vm-1', 'asset_id': 'credential:00000000000000aa',
                                 'confidence': 1}])
    assert (generic[0]['source'], generic[0]['asset_id'], generic[0]['status']) == ('generic', 'credential:00000000000000aa', 'firing')


@pytest.mark.parametrize('instance, host', [
    ('gpu-1:9100', 'gpu-1'), ('gpu-1', 'gpu-1'), ('10.0.0.1:8000', '10.0.0.1'), ('[::1]:8000', '::1'),
    ('[fd00::1]', 'fd00::1'), ('fd00::1', 'fd00::1'), ('::1', '::1'),
])
def test_host_from_instance_is_ipv6_safe(instance, host):
    assert alerts.host_from_labels({'instance': instance}) == host


def test_label_fingerprint_is_stable_and_order_free():
    a = alerts.normalize({'name': 'X', 'labels': {'a': '1', 'b': '2'}})[0]['fingerprint']
    b = alerts.normalize({'name': 'X', 'labels': {'b': '2', 'a': '1'}})[0]['fingerprint']
    c = alerts.normalize({'name': 'X', 'labels': {'a': '1', 'b': '3'}})[0]['fingerprint']
    assert a == b != c


def test_hostile_label_values_stay_text():
    hostile = "{{ lookup('pipe', 'id') }}; rm -rf /"
    [alert] = alerts.normalize({'name': 'X', 'labels': {'host': hostile, 'remediation': hostile}})
    assert alert['labels']['remediation'] == hostile and alert['host'] == hostile


@pytest.mark.parametrize('body, problem', [
    ({'alerts': []}, 'alerts must be a non-empty list'),
    ({'alerts': ['x']}, 'alerts[0] must be an object'),
    ({'alerts': [{'labels': {}}]}, 'alerts[0].labels.alertname is missing'),
    ({'alerts': [{'labels': {'alertname': 'X'}, 'status': 'pending'}]}, 'alerts[0].status must be firing or resolved'),
    ({'name': 'X', 'labels': ['a']}, 'body.labels must be an object of strings'),
    ({'name': 'X', 'labels': {'a': {'nested': 1}}}, 'body.labels.a must be a string'),
    ([], 'the list of alerts is empty'),
    ('just text', 'the body must be an alert object, a list of alerts or an alert group'),
])
def test_malformed_payloads_say_what_is_wrong_where(body, problem):
    with pytest.raises(alerts.MalformedAlert, match=problem.replace('[', r'\[').replace(']', r'\]').replace('(', r'\(')):
        alerts.normalize(body)


def test_alerts_follow_the_published_schema():
    from tests.contracts import validate
    for found in (alerts.read(ALERTMANAGER), alerts.read(GRAFANA),
                  cloudevents.read_structured(CLOUDEVENT, accepts=cloudevents.type_matcher(['*']))):
        for alert in found['alerts']:
            validate(alert, 'alert.v1.json')


def test_a_start_in_the_future_beyond_the_skew_becomes_the_receipt_time_and_says_so():
    import datetime
    now = datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.timezone.utc)
    far, near = '2026-11-25T10:00:00Z', '2026-11-25T09:00:30Z'
    (late,) = alerts.normalize({'labels': {'alertname': 'X'}, 'startsAt': far}, now=now)
    assert (late['starts_at'], late['starts_at_sent']) == ('2026-11-25T09:00:00+00:00', far)
    (skewed,) = alerts.normalize({'labels': {'alertname': 'X'}, 'startsAt': near}, now=now)
    assert skewed['starts_at'] == near and 'starts_at_sent' not in skewed  # within the small skew: believed
    from tests.contracts import validate
    validate(late, "alert.v1.json")


def test_a_future_start_repeated_later_is_the_same_episode():
    import datetime
    from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake
    gate, raw = alert_intake.AlertGate(), {'labels': {'alertname': 'X'}, 'startsAt': '2026-11-25T10:00:00Z'}
    first = alerts.normalize(raw, now=datetime.datetime(2026, 11, 25, 9, 0, tzinfo=datetime.timezone.utc))[0]
    again = alerts.normalize(raw, now=datetime.datetime(2026, 11, 25, 9, 5, tzinfo=datetime.timezone.utc))[0]
    assert first['starts_at'] != again['starts_at']  # each receipt is its own start ...
    assert (gate.admit(first, 'k'), gate.admit(again, 'k')) == ('accepted', 'duplicate')  # ... of one episode
