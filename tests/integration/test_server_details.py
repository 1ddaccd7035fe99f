"""Server details on a real host over SSH: version from the venv a server runs from, the optional
HTTP probe (off by default), agent and MCP server processes, and planted secrets that never leak."""

import json
import os

import pytest

from tests.contracts import validate
from tests.hosts import testhosts
from tests.integration.conftest import FAKE_SERVERS, VLLM, start_server, wait_listening

API_KEY = 'sk-aigovSERVERdetails0004b1f0c9e7d2a'
AGENT_KEY = 'sk-ant-aigovAGENTenv000077e1c3a9b5d2'
VENV = '/opt/vllm-venv'
SITE = VENV + '/lib/python3.11/site-packages'
OPEN_LOG, GUARDED_LOG = '/tmp/open-requests.log', '/tmp/guarded-requests.log'


@pytest.fixture(scope='module')
def details_host(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('details')
    with testhosts.test_hosts(1, 'aigov-sd-%d' % os.getpid(), str(workdir)) as hosts:
        host = hosts[0]
        testhosts.copy_into(host, FAKE_SERVERS, '/opt/fake')
        # A virtualenv as `python -m venv` + pip leave it, holding vLLM's package metadata.
        testhosts.run_in(host, ['sh', '-c', 'mkdir -p %s/bin %s/vllm-0.6.3.dist-info && ln -s /usr/bin/python3 %s/bin/python3 && '
                                'printf "home = /usr/bin\\ninclude-system-site-packages = false\\n" > %s/pyvenv.cfg'
                                % (VENV, SITE, VENV, VENV)])
        fake = {'FAKE_SERVER_VERSION': '0.6.4'}
        start_server(host, [VENV + '/bin/python3'] + VLLM[1:] + ['--port', '8000'], env=dict(fake, FAKE_REQUEST_LOG=OPEN_LOG))
        start_server(host, VLLM + ['--port', '8001', '--api-key', API_KEY], env=dict(fake, FAKE_REQUEST_LOG=GUARDED_LOG))
        # An agent runtime (LangGraph dev server) with a provider key in its environment, and an MCP server.
        for name in ('langgraph', 'mcp-server-fetch'):
            testhosts.run_in(host, ['cp', '/opt/fake/bin/llama-server', '/usr/local/bin/' + name])
        start_server(host, ['python3', '/usr/local/bin/langgraph', 'dev', '--host', '0.0.0.0', '--port', '2024'],
                     env={'ANTHROPIC_API_KEY': AGENT_KEY})
        start_server(host, ['python3', '/usr/local/bin/mcp-server-fetch', '--host', '127.0.0.1', '--port', '8808'])
        for port in (8000, 8001, 2024, 8808):
            wait_listening(host, port)
        yield host, str(testhosts.write_inventory(hosts, workdir / 'inventory.json'))


def facts(ansible, inventory, args):
    proc = ansible.run('ansible', '-i', inventory, 'testhosts', '-m', 'aigov.core.ai_asset_facts', '-a', args)
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index('{'):])
    for asset in result['ansible_facts']['ai_assets']:
        validate(asset, 'asset.v1.json')
    return result['ansible_facts']


def servers_by_port(found):
    return dict((a['attributes']['listeners'][0]['port'], a['attributes']) for a in found['ai_assets'] if a['kind'] == 'model_server')


def request_log(host, path):
    result = testhosts.run_in(host, ['cat', path])
    return result.stdout.splitlines() if result.returncode == 0 else []


def test_version_from_the_venv_and_no_request_without_http_probe(ansible, details_host):
    host, inventory = details_host
    servers = servers_by_port(facts(ansible, inventory, 'probes=model_server'))
    assert sorted(servers) == [8000, 8001]
    assert servers[8000]['version'] == '0.6.3'
    assert servers[8000]['version_source'] == 'package-metadata:%s/vllm-0.6.3.dist-info' % SITE
    assert (servers[8001]['version'], servers[8001]['http']) == (None, None)  # system python3: no vLLM metadata
    assert request_log(host, OPEN_LOG) == [] and request_log(host, GUARDED_LOG) == []  # off by default: nothing asked


def test_http_probe_observes_auth_models_and_running_version(ansible, details_host):
    host, inventory = details_host
    found = facts(ansible, inventory, 'probes=model_server http_probe=true http_timeout=3')
    servers = servers_by_port(found)
    open_http, guarded_http = servers[8000]['http'], servers[8001]['http']
    assert (open_http['auth_observed'], open_http['models']) == ('not_required', ['facebook/opt-125m'])
    assert (guarded_http['auth_observed'], guarded_http['models']) == ('required', None)
    assert open_http['endpoint'] == 'http://127.0.0.1:8000'  # bound to 0.0.0.0, asked on loopback
    # The running server's answer wins over the metadata on disk.
    assert (servers[8000]['version'], servers[8000]['version_source']) == ('0.6.4', 'http:/version')
    assert found['ai_discovery']['problems'] == []
    for log in (OPEN_LOG, GUARDED_LOG):
        lines = request_log(host, log)
        assert sorted(line.split()[0] for line in lines) == ['/v1/models', '/version']
        assert all(line.endswith('credentials=False') for line in lines)


def test_agent_and_mcp_processes_found_and_planted_secrets_never_shown(ansible, details_host, tmp_path):
    _host, inventory = details_host
    playbook = tmp_path / 'discover.yml'
    playbook.write_text(
        '- hosts: testhosts\n  gather_facts: false\n  tasks:\n'
        '    - aigov.core.ai_asset_facts:\n        probes: [model_server, agent, mcp_server, credential]\n        http_probe: true\n'
        '    - ansible.builtin.copy:\n        content: "{{ ansible_facts.ai_assets | to_json }}"\n        dest: "%s"\n'
        '      delegate_to: localhost\n' % (tmp_path / 'assets.json'))
    proc = ansible.playbook('-i', inventory, str(playbook), '-vvv')
    assert proc.returncode == 0, proc.stdout[-3000:]
    text = (tmp_path / 'assets.json').read_text()
    for secret in (API_KEY, AGENT_KEY):
        assert secret not in proc.stdout + proc.stderr and secret not in text
    assets = json.loads(text)
    [agent] = [a['attributes'] for a in assets if a['kind'] == 'agent']
    assert (agent['framework'], agent['exposed']) == ('langgraph', True)
    assert 'ANTHROPIC_API_KEY' in agent['credential_env']  # by name; the container's own variables may add more
    assert agent['listeners'] == [{'address': '0.0.0.0', 'port': 2024, 'loopback': False}]
    [mcp] = [a['attributes'] for a in assets if a['kind'] == 'mcp_server']
    assert (mcp['running'], mcp['server'], mcp['transport']) == (True, 'mcp-server-fetch', 'http')
    # The agent's key is still inventoried, by fingerprint only.
    assert [a['attributes']['variable'] for a in assets if a['kind'] == 'credential' and a['attributes']['source'] == 'process_env'] == [
        'ANTHROPIC_API_KEY']
