"""The AI-BOM end to end: discovery over real SSH on container hosts, then ai_bom on the controller."""

import json
import os
import struct
import sys

import pytest

from tests.contracts import cyclonedx_error
from tests.hosts import testhosts
from tests.integration.conftest import PLANTED_SECRETS, load_json

MODEL = '/models/tinyllama.gguf'  # what the fleet's llama-server is started with (-m)

PLAYBOOK = """
- name: Discover
  hosts: testhosts
  gather_facts: false
  tasks:
    - name: Discover AI assets
      aigov.core.ai_asset_facts:

- name: Export
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the AI-BOM
      aigov.core.ai_bom:
        hosts: "{{ groups['testhosts'] }}"
        registry: "{{ bom_registry }}"
        dest: "{{ bom_dest }}"
      register: bom

    - name: Keep the task result for the test
      ansible.builtin.copy:
        content: "{{ bom | to_json }}"
        dest: "{{ bom_result }}"
        mode: '0600'
      check_mode: false
"""


@pytest.fixture(scope='module')
def workdir(tmp_path_factory, fleet):
    """Playbooks, a registry claiming the exposed server, a localhost inventory; a model file on the guarded host."""
    path = tmp_path_factory.mktemp('aibom')
    (path / 'bom.yml').write_text(PLAYBOOK)
    (path / 'registry.yml').write_text(
        'schema_version: 1\nuse_cases:\n  - id: chat\n    name: Chat assistant\n    risk_tier: limited\n'
        '    owners: {decision: ml-platform}\n    assets: [{kind: model_server, host: "%s"}]\n' % fleet.exposed.name)
    (path / 'localhost.yml').write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}}}}))
    model = path / 'tinyllama.gguf'
    model.write_bytes(b'GGUF' + struct.pack('<IQQ', 3, 1, 2) + b'\0' * 64)
    testhosts.run_in(fleet.guarded, ['mkdir', '-p', '/models'])
    testhosts.copy_into(fleet.guarded, model, MODEL)
    yield path
    # The fleet is shared: leave it as the other tests expect it.
    testhosts.run_in(fleet.guarded, ['rm', '-f', MODEL])


def export(ansible, fleet, workdir, dest, *extra):
    result = workdir / 'result.json'
    if result.exists():
        result.unlink()
    proc = ansible.playbook('-i', fleet.inventory, '-i', workdir / 'localhost.yml', workdir / 'bom.yml',
                            '-e', 'bom_dest=%s' % dest, '-e', 'bom_registry=%s' % (workdir / 'registry.yml'),
                            '-e', 'bom_result=%s' % result, *extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc, load_json(str(result))


def assert_no_secrets(*texts):
    for text in texts:
        for secret in PLANTED_SECRETS:
            assert secret not in text, 'a planted secret leaked'


@pytest.fixture(scope='module')
def exported(ansible, fleet, workdir):
    """Check mode with diff on a new file, then a real run, then a second real run."""
    dest = workdir / 'out' / 'ai-bom.cdx.json'
    checked = export(ansible, fleet, workdir, dest, '--check', '--diff')
    assert not dest.exists() and not dest.parent.exists()  # check mode writes nothing
    written = export(ansible, fleet, workdir, dest, '-v')
    text = dest.read_text()
    stat = os.stat(str(dest))
    again = export(ansible, fleet, workdir, dest, '--diff')
    return dict(dest=dest, text=text, stat=stat, checked=checked, written=written, again=again)


def by_name(items):
    return dict((item['name'], item) for item in items)


def props(item):
    return dict((p['name'][len('aigov:'):], p['value']) for p in item.get('properties', []))


def test_written_bom_is_valid_cyclonedx_1_6(exported):
    assert cyclonedx_error(exported['text']) is None
    proc, result = exported['written']
    bom = json.loads(exported['text'])
    assert result['changed'] is True and result['dest'] == str(exported['dest'])
    assert (result['components'], result['services']) == (len(bom['components']), len(bom['services']))
    assert 'AI-BOM written to %s' % exported['dest'] in proc.stdout


def test_servers_are_services_with_endpoints_auth_and_trust_boundary(exported, fleet):
    bom = json.loads(exported['text'])
    services = dict(((props(s)['inventory_host'], props(s)['product']), s) for s in bom['services'])
    assert sorted(services) == sorted([(fleet.exposed.name, 'vllm'), (fleet.guarded.name, 'vllm'), (fleet.guarded.name, 'llama_cpp')])
    exposed = services[(fleet.exposed.name, 'vllm')]
    assert (exposed['endpoints'], exposed['authenticated'], exposed['x-trust-boundary']) == (['http://0.0.0.0:8000'], False, True)
    assert (props(exposed)['use_case'], props(exposed)['risk_tier'], props(exposed)['owner:decision']) == ('chat', 'limited', 'ml-platform')
    guarded = services[(fleet.guarded.name, 'vllm')]
    assert (guarded['endpoints'], guarded['authenticated'], guarded['x-trust-boundary']) == (['http://0.0.0.0:8001'], True, True)
    assert props(guarded)['shadow'] == 'true' and props(exposed)['shadow'] == 'false'
    llama = services[(fleet.guarded.name, 'llama_cpp')]
    assert (llama['endpoints'], llama['x-trust-boundary']) == (['http://127.0.0.1:8080'], False)


def test_model_file_is_hashed_and_linked_to_the_server_that_serves_it(exported, fleet):
    bom = json.loads(exported['text'])
    [model] = [c for c in bom['components'] if c['type'] == 'machine-learning-model']
    digest = testhosts.run_in(fleet.guarded, ['sha256sum', MODEL]).stdout.split()[0]  # independent of the module
    assert (model['name'], model['hashes']) == ('tinyllama.gguf', [{'alg': 'SHA-256', 'content': digest}])
    assert props(model)['path'] == MODEL and props(model)['format'] == 'gguf'
    deps = dict((d['ref'], d['dependsOn']) for d in bom['dependencies'])
    [llama] = [s for s in bom['services'] if props(s)['product'] == 'llama_cpp']
    assert deps[llama['bom-ref']] == sorted(['host:' + fleet.guarded.name, model['bom-ref']])
    hosts = by_name(c for c in bom['components'] if props(c)['asset_kind'] == 'host')
    assert sorted(hosts) == sorted(h.name for h in fleet.hosts)
    assert props(hosts[fleet.guarded.name])['credential_count'] == '2'  # the two planted secrets, counted only
    assert props(bom['metadata'])['scope:complete'] == 'true'


def test_planted_secrets_absent_from_file_and_output(exported):
    assert_no_secrets(exported['text'])
    assert 'hmac-sha256:' not in exported['text']  # the discovery facts carry fingerprints; the BOM does not
    for run in ('checked', 'written', 'again'):
        proc, result = exported[run]
        assert_no_secrets(proc.stdout, proc.stderr, json.dumps(result))
        assert 'hmac-sha256:' not in json.dumps(result)


def test_check_mode_reports_the_change_and_shows_the_inventory_diff(exported, fleet):
    proc, result = exported['checked']
    assert result['changed'] is True and 'would be written' in result['msg']
    assert '+component machine-learning-model model_artifact:' in proc.stdout
    assert '+component device host:%s (%s)' % (fleet.exposed.name, fleet.exposed.name) in proc.stdout
    assert '+service model_server:' in proc.stdout


def test_second_run_changes_nothing(exported):
    proc, result = exported['again']
    assert result['changed'] is False and 'is up to date' in result['msg']
    assert exported['dest'].read_text() == exported['text']  # serial number and timestamp kept too
    assert os.stat(str(exported['dest'])).st_mtime_ns == exported['stat'].st_mtime_ns
    assert '+component' not in proc.stdout


def test_a_changed_inventory_rewrites_the_file_and_diffs_only_what_changed(ansible, fleet, workdir, exported):
    dest = workdir / 'changed.cdx.json'
    dest.write_text(exported['text'])
    testhosts.run_in(fleet.guarded, ['mv', MODEL, '/tmp/parked.gguf'])  # out of every artifact root
    try:
        proc, result = export(ansible, fleet, workdir, dest, '--diff')
    finally:
        testhosts.run_in(fleet.guarded, ['mv', '/tmp/parked.gguf', MODEL])
    assert result['changed'] is True
    assert '-component machine-learning-model model_artifact:' in proc.stdout and '+component' not in proc.stdout
    assert cyclonedx_error(dest.read_text()) is None
    assert json.loads(dest.read_text())['serialNumber'] != json.loads(exported['text'])['serialNumber']


def test_bad_calls_fail_with_a_clear_message(ansible, workdir):
    (workdir / 'broken.yml').write_text('schema_version: 1\nuse_cases:\n  - id: x\n    risk_tier: extreme\n    assets: [{kind: gpu}]\n')
    (workdir / 'a-file').write_text('not a directory')
    bad_calls = [
        {'assets': [], 'dest': str(workdir)},
        {'assets': [], 'dest': str(workdir / 'a-file' / 'bom.json')},
        {'assets': [], 'registry': str(workdir / 'broken.yml'), 'dest': str(workdir / 'x.json')},
        {'assets': [], 'hosts': ['localhost'], 'dest': str(workdir / 'x.json')},
        {'assets': [{'id': 'gpu:1', 'kind': 'toaster', 'name': 't', 'host': 'h', 'attributes': {}}], 'dest': str(workdir / 'x.json')},
    ]
    result = workdir / 'errors.json'
    tasks = [{'name': 'bad call %d' % index, 'aigov.core.ai_bom': call, 'register': 'bad%d' % index, 'ignore_errors': True}
             for index, call in enumerate(bad_calls)]
    tasks.append({'name': 'Keep the messages', 'ansible.builtin.copy': {
        'content': '{{ [%s] | to_json }}' % ', '.join('bad%d.msg' % index for index in range(len(bad_calls))),
        'dest': str(result), 'mode': '0600'}})
    (workdir / 'errors.yml').write_text(json.dumps([{'name': 'Refusals', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}]))
    proc = ansible.playbook('-i', workdir / 'localhost.yml', workdir / 'errors.yml')
    assert proc.returncode == 0, proc.stdout[-3000:]
    messages = load_json(str(result))
    assert "dest '%s' is a directory; give the path of the AI-BOM file" % workdir in messages[0]
    assert "cannot write the AI-BOM to '%s'" % (workdir / 'a-file' / 'bom.json') in messages[1]
    assert 'AI-BOM not built: %s is invalid' % (workdir / 'broken.yml') in messages[2] and 'extreme' in messages[2]
    assert messages[3] == 'give one of assets, hosts and store, not several'
    assert "unknown kind 'toaster'" in messages[4]
    assert not (workdir / 'x.json').exists()
