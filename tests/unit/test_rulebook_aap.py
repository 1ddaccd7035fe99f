"""The AAP rulebook (aiops_remediation_aap) and the remediate playbook against the AAP contract.

AAP cannot run here, so the controller's API is a stand-in (tests/aap_controller.py) that
serves the job templates and workflow of examples/aap/controller_config.yml. Everything else
is real: ansible-rulebook with the installed collection and its event source, and
ansible-playbook running aigov.core.remediate with the variables AAP would give the job.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.audit import audit_log, audit_verify
from ansible_collections.aigov.core.plugins.module_utils.remediation import remediation
from ansible_collections.aigov.core.plugins.module_utils.store import asset_store
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store
from tests.aap_controller import Controller
from tests.conftest import ROOT
from tests.fixtures.inventory import estate
from tests.ports import free_port

BIN = os.path.dirname(sys.executable)
CONFIG = os.path.join(ROOT, 'examples', 'aap', 'controller_config.yml')
SOURCE_TOKEN = 'aap-source-token-ut-5512'
CONTROLLER_TOKEN = 'aap-controller-token-ut-0931'
HOSTILE = "{{ lookup('pipe', 'touch %s') }}"


def post(port, alert):
    body = json.dumps({'alerts': [alert]}).encode()
    request = urllib.request.Request('http://127.0.0.1:%d/' % port, data=body, headers={
        'Content-Type': 'application/json', 'Authorization': 'Bearer ' + SOURCE_TOKEN})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def alert(instance, fingerprint, confidence='0.95', **labels):
    return {'status': 'firing', 'fingerprint': fingerprint,
            'labels': dict({'alertname': 'ModelServerDown', 'instance': instance, 'confidence': confidence}, **labels)}


def wait_for(predicate, proc, what, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % what)


@pytest.fixture
def env(tmp_path_factory):
    keys = tmp_path_factory.mktemp('keys') / 'decision.keys'  # as an AAP credential injects it, for the source and the jobs
    keys.write_text('aap:%s\n' % ('q' * 40))
    keys.chmod(0o600)
    collections = os.environ.get('ANSIBLE_COLLECTIONS_PATH', '')
    assert os.path.isfile(os.path.join(collections, 'ansible_collections', 'aigov', 'core', 'MANIFEST.json')), (
        'ANSIBLE_COLLECTIONS_PATH must hold the installed collection (make unit installs it)')
    return dict(os.environ, PATH=BIN + os.pathsep + os.environ['PATH'], ANSIBLE_NOCOLOR='1',
                EDA_JOB_TEMPLATE_REFRESH_DELAY='0.2', AIGOV_DECISION_KEY_FILE=str(keys),
                JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))


def test_decisions_launch_the_example_templates_and_an_aap_approval_lets_the_remediation_run(env, tmp_path):
    store, log = str(tmp_path / 'assets.sqlite3'), str(tmp_path / 'audit.jsonl')
    for when, scans in estate.SCANS:
        asset_store.record_scans(open_store(store), json.loads(json.dumps(scans)), when)
    with open(os.path.join(ROOT, 'guardrails', 'default.yml')) as handle:
        policy = yaml.safe_load(handle)
    policy['freeze_windows'] = []
    (tmp_path / 'guardrails.yml').write_text(yaml.safe_dump(policy))
    closed = free_port()   # cloud-vm-1 is in the inventory, but nothing answers there: the remediation fails
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(yaml.safe_dump({'all': {'hosts': {
        'localhost': {'ansible_connection': 'local', 'ansible_python_interpreter': os.path.join(BIN, 'python')},
        'cloud-vm-1': {'ansible_host': '127.0.0.1', 'ansible_port': closed, 'ansible_user': 'nobody',
                       'ansible_ssh_common_args': '-o ConnectTimeout=2 -o BatchMode=yes',
                       # a complete service definition: the plan lets it start (then the host does not answer)
                       'aigov_baseline_services': {'litellm': {'restart_command': '/usr/local/sbin/restart-litellm'}}}}}}))
    port = free_port()
    (tmp_path / 'vars.yml').write_text(yaml.safe_dump({
        'aigov_port': port, 'aigov_token': SOURCE_TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
        'aigov_guardrails': str(tmp_path / 'guardrails.yml'),
        'aigov_registry': os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml')}))
    with Controller(CONFIG, CONTROLLER_TOKEN) as controller:
        proc = subprocess.Popen(
            [os.path.join(BIN, 'ansible-rulebook'), '-r', 'aigov.core.aiops_remediation_aap', '-i', str(inventory),
             '--vars', str(tmp_path / 'vars.yml'), '--controller-url', controller.url,
             '--controller-token', CONTROLLER_TOKEN],
            cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    # gpu-onprem-1's vLLM, minimal risk: automate
                    assert post(port, alert('10.10.0.11:8000', 'a1', x=HOSTILE % (tmp_path / 'pwned'))) == 202
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0][-3000:]
                    time.sleep(0.3)
            assert post(port, alert('10.20.0.5:4000', 'r1')) == 202          # cloud-vm-1's LiteLLM, high risk: review
            assert post(port, alert('10.20.0.5:4000', 'r2')) == 202          # a second review, never approved
            assert post(port, alert('10.10.0.11:8000', 'e1', '0.1')) == 202  # low confidence: escalate
            assert post(port, alert('nowhere:1', 'u1')) == 202               # unknown asset: reject
            wait_for(lambda: len(controller.launches) == 4, proc, 'four launches')
            time.sleep(1)  # a fifth (the rejection) would show up by now
        finally:
            proc.terminate()
            output = proc.communicate(timeout=30)[0]
        launches = dict((launch['body']['extra_vars']['ansible_eda']['event']['alert']['fingerprint'], launch)
                        for launch in controller.launches)
        assert sorted(launches) == ['a1', 'e1', 'r1', 'r2'], controller.launches
        assert [(launches[f]['template'], launches[f]['type']) for f in ('a1', 'r1', 'e1')] == [
            ('aigov remediate', 'job_template'), ('aigov remediate after approval', 'workflow_job_template'),
            ('aigov escalate', 'job_template')]
        for fingerprint, decision in (('a1', 'automate'), ('r1', 'review'), ('e1', 'escalate')):
            event = remediation.decode_payload(launches[fingerprint]['body']['extra_vars']['ansible_eda']['event']['payload_b64'])
            assert (event['alert']['fingerprint'], event['decision']['decision']) == (fingerprint, decision)
        assert 'REJECTED' in output and CONTROLLER_TOKEN not in output and SOURCE_TOKEN not in output

        # Nothing ran before the approval. The approver approves r1 in AAP; the workflow launches the job.
        assert [e['action'] for e in audit_log_entries(log)] == ['decision'] * 5
        approved = controller.workflow(launches['r1'])
        job = controller.approve(approved, by='alice')
        run = remediate(env, tmp_path, inventory, launches['r1'], approved['id'], job, controller)
        assert run.returncode != 0 and not (tmp_path / 'pwned').exists()
        # The denied one: a job launched with that workflow's ids is refused by the controller's record.
        denied = controller.workflow(launches['r2'])
        controller.approve(denied, by='bob', verdict='deny')
        forged = remediate(env, tmp_path, inventory, launches['r2'], denied['id'], 4242, controller)
        assert forged.returncode != 0 and 'no approval in AAP workflow job %d' % denied['id'] in forged.stdout, forged.stdout[-3000:]

    entries = audit_log_entries(log)
    assert audit_verify.verify(log)['ok']
    approval_id = 'aap-workflow-approval-%d' % controller.nodes[approved['nodes'][0]]['job']
    assert [(e['action'], e['actor'], e['outcome'], e['subject'], e['owner']) for e in entries[5:]] == [
        ('approval.decision', 'alice', 'success', 'model_server:2000000000000001', 'Head of Support'),
        ('remediation.start', entries[6]['actor'], 'planned', 'model_server:2000000000000001', 'Head of Support'),
        ('remediation.outcome', entries[6]['actor'], 'failure', 'model_server:2000000000000001', 'Head of Support'),
        ('remediation.refused', entries[6]['actor'], 'refused', 'model_server:2000000000000001', 'Head of Support')]
    assert (entries[5]['details']['request'], entries[5]['details']['workflow_job']) == (approval_id, approved['id'])
    assert (entries[6]['details']['approval'], entries[6]['details']['awx_job_id']) == (approval_id, str(job))
    assert entries[8]['details'] == {'approval': None, 'awx_job_id': '4242', 'fingerprint': 'r2',
                                     'payload_sha256': entries[8]['details']['payload_sha256']}
    # the AAP approval is sealed and names the payload the workflow carried; the approved decision ran once
    assert entries[5]['details']['seal'].startswith('hmac-sha256:aap:')
    assert entries[5]['details']['payload_sha256'] == entries[6]['details']['payload_sha256']
    text = open(log).read()
    assert CONTROLLER_TOKEN not in text and SOURCE_TOKEN not in text


def audit_log_entries(log):
    return [entry for _line, entry in audit_log.read_entries(log)]


def remediate(env, tmp_path, inventory, launch, workflow_job, job, controller):
    """ansible-playbook aigov.core.remediate as AAP runs the workflow's job: the launch's variables,
    the template's own, the job ids, and the controller credential in the environment."""
    template = next(t for t in controller.templates.values() if t['name'] == 'aigov remediate')
    variables = dict(template['extra_vars'], **launch['body']['extra_vars'])
    variables.update(aigov_store_path=str(tmp_path / 'assets.sqlite3'), aigov_audit_log=str(tmp_path / 'audit.jsonl'),
                     aigov_guardrails=str(tmp_path / 'guardrails.yml'), aigov_remediation_timeout=3,
                     aigov_registry=os.path.join(ROOT, 'tests', 'fixtures', 'inventory', 'registry.yml'),
                     awx_job_id=job, awx_workflow_job_id=workflow_job)
    path = tmp_path / ('job-%d.json' % job)
    path.write_text(json.dumps(variables))
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), 'aigov.core.remediate',
                           '-e', '@%s' % path], cwd=str(tmp_path), text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=300, check=False,
                          env=dict(env, CONTROLLER_HOST=controller.url, CONTROLLER_OAUTH_TOKEN=CONTROLLER_TOKEN))
