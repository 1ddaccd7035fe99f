"""aap_approval: the approval of an AAP workflow, confirmed by the controller (a stand-in of its API)."""

import json
import os
import socket

import pytest

from ansible_collections.aigov.core.plugins.module_utils.alerts import aap_approval
from tests.aap_controller import Controller
from tests.conftest import ROOT

CONFIG = os.path.join(ROOT, 'examples', 'aap', 'controller_config.yml')
TOKEN = 'controller-token-ut-7781'
PAYLOAD = 'eyJhbGVydCI6IHt9fQ=='


def launch_review(controller, payload=PAYLOAD):
    """What the AAP rulebook does for a review decision: launch the approval workflow with the event."""
    [tid] = [tid for tid, t in controller.templates.items() if t['name'] == 'aigov remediate after approval']
    controller._launch(tid, {'extra_vars': {'ansible_eda': {'event': {'payload_b64': payload}}}})
    return controller.launches[-1]


@pytest.fixture(params=['api/controller/v2/', 'api/v2/'], ids=['gateway', 'controller'])
def controller(request):
    with Controller(CONFIG, TOKEN, prefix=request.param) as running:
        yield running


def api(controller, token=TOKEN):
    return aap_approval.ControllerApi(controller.url, token=token)


def test_an_approved_node_before_this_job_is_the_approval(controller):
    workflow = controller.workflow(launch_review(controller))
    job = controller.approve(workflow, by='alice')
    found = aap_approval.verified_approval(api(controller), workflow['id'], job, PAYLOAD)
    approval_id = controller.nodes[workflow['nodes'][0]]['job']
    assert found == {'request': 'aap-workflow-approval-%d' % approval_id, 'approver': 'alice',
                     'workflow_job': workflow['id'], 'approved_at': '2026-11-25T12:00:00Z'}


@pytest.mark.parametrize('verdict, message', [('deny', 'is failed, not approved'), ('timeout', 'is timed out, not approved')])
def test_a_denied_or_timed_out_node_is_no_approval(controller, verdict, message):
    workflow = controller.workflow(launch_review(controller))
    controller.approve(workflow, verdict=verdict)
    # A job launched by hand with this workflow's ids: its node holds no job, so it is not part of it either.
    with pytest.raises(aap_approval.AapApprovalError, match='is not a node of workflow job'):
        aap_approval.verified_approval(api(controller), workflow['id'], 99999, PAYLOAD)
    node = controller.nodes[workflow['nodes'][1]]
    node['job'] = 4242  # as if the controller had run the next node anyway
    with pytest.raises(aap_approval.AapApprovalError, match=message):
        aap_approval.verified_approval(api(controller), workflow['id'], 4242, PAYLOAD)


def test_the_workflow_must_carry_this_event(controller):
    workflow = controller.workflow(launch_review(controller, payload='b3RoZXI='))
    job = controller.approve(workflow)
    with pytest.raises(aap_approval.AapApprovalError, match='was not launched for this event'):
        aap_approval.verified_approval(api(controller), workflow['id'], job, PAYLOAD)


def test_a_job_that_does_not_follow_the_approval_node_is_refused(controller):
    workflow = controller.workflow(launch_review(controller))
    job = controller.approve(workflow)
    approval_node = controller.nodes[workflow['nodes'][0]]
    approval_node['success_nodes'] = []
    with pytest.raises(aap_approval.AapApprovalError, match='does not follow an approval node'):
        aap_approval.verified_approval(api(controller), workflow['id'], job, PAYLOAD)


def test_a_refused_credential_names_the_url_and_never_the_token(controller):
    with pytest.raises(aap_approval.AapApprovalError) as failed:
        aap_approval.verified_approval(api(controller, token='wrong-token-x'), 1, 2, PAYLOAD)
    assert controller.url in str(failed.value) and 'wrong-token-x' not in str(failed.value)


def test_an_unknown_workflow_job_is_named(controller):
    with pytest.raises(aap_approval.AapApprovalError, match='HTTP 404 for .*workflow_jobs/777/'):
        aap_approval.verified_approval(api(controller), 777, 2, PAYLOAD)


def test_unreachable_controller_and_bad_settings_are_clear_errors():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    with pytest.raises(aap_approval.AapApprovalError, match=r'controller http://127.0.0.1:%d/ unreachable' % port):
        aap_approval.verified_approval(aap_approval.ControllerApi('http://127.0.0.1:%d' % port, token='t'), 1, 2, PAYLOAD)
    with pytest.raises(aap_approval.AapApprovalError, match='without credentials in it') as failed:
        aap_approval.ControllerApi('https://admin:hunter2@aap.example.com', token='t')
    assert 'hunter2' not in str(failed.value)
    with pytest.raises(aap_approval.AapApprovalError, match='no controller credential'):
        aap_approval.ControllerApi('https://aap.example.com')
    with pytest.raises(aap_approval.AapApprovalError, match='must be job ids'):
        aap_approval.verified_approval(None, '{{ x }}', 2, PAYLOAD)


def test_event_payload_is_read_from_the_json_string_the_api_returns():
    extra = json.dumps({'ansible_eda': {'event': {'payload_b64': PAYLOAD}}})
    assert aap_approval._event_payload(extra) == PAYLOAD
    assert aap_approval._event_payload('not json') is None and aap_approval._event_payload({}) is None
