"""Agent runtimes and running MCP servers over a fake /proc tree."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import agent_discovery, agents
from ansible_collections.aigov.core.plugins.module_utils.discovery.probes import PROBES

from tests.contracts import validate

from ..fakeproc import FakeProc

SECRET = 'sk-ant-aigovUNITagent000000000001'


@pytest.fixture
def proc(tmp_path):
    return FakeProc(tmp_path / 'proc')


def run(probe, proc):
    assets, problems = probe({'proc_root': proc.root}, 'node1', 'mid-1')
    for asset in assets:
        validate(asset, 'asset.v1.json')
    return assets, problems


@pytest.mark.parametrize('argv, framework', [
    (['/srv/agent/.venv/bin/python3', '/srv/agent/.venv/bin/langgraph', 'dev', '--host', '0.0.0.0', '--port', '2024'], 'langgraph'),
    (['python3', '-m', 'langgraph', 'up'], 'langgraph'),
    (['/usr/bin/python3', '/usr/local/bin/crewai', 'run'], 'crewai'),
    (['/usr/bin/python3', '/usr/local/bin/crewai', 'flow', 'kickoff'], 'crewai'),
    (['/opt/ag/bin/python', '/opt/ag/bin/autogenstudio', 'ui', '--port', '8081'], 'autogen_studio'),
    (['/usr/bin/python3', '/home/u/.local/bin/interpreter', '--model', 'gpt-4o'], 'open_interpreter'),
    (['/venv/bin/python', '-m', 'uvicorn', 'openhands.server.listen:app', '--port', '3000'], 'openhands'),
    (['/opt/letta/bin/python', '/opt/letta/bin/letta', 'server', '--port', '8283'], 'letta'),
    (['node', '/usr/local/bin/flowise', 'start'], 'flowise'),
])
def test_agent_runtimes_by_command_line(proc, argv, framework):
    proc.add(100, argv, env={})
    [asset], problems = run(agent_discovery.discover_agents, proc)
    assert (asset['kind'], asset['attributes']['framework']) == ('agent', framework)
    assert problems == []


@pytest.mark.parametrize('argv', [
    ['/usr/bin/interpreter'],                   # not Open Interpreter's Python script
    ['python3', '/usr/local/bin/crewai', 'create', 'crew', 'x'],  # scaffolding, not an agent run
    ['vim', 'langgraph.json'],
    ['grep', '-r', 'mcp-server-github', '.'],
])
def test_near_misses_are_not_agents_or_mcp_servers(proc, argv):
    proc.add(100, argv, env={})
    assert run(agent_discovery.discover_agents, proc)[0] == []
    assert run(agent_discovery.discover_mcp_processes, proc)[0] == []


def test_agent_reports_listeners_and_credential_names_never_values(proc, tmp_path):
    site = tmp_path / 'venv' / 'lib' / 'python3.11' / 'site-packages' / 'langgraph_cli-0.1.55.dist-info'
    site.mkdir(parents=True)
    (tmp_path / 'venv' / 'pyvenv.cfg').write_text('home = /usr/bin\n')
    argv = [str(tmp_path / 'venv' / 'bin' / 'python3'), str(tmp_path / 'venv' / 'bin' / 'langgraph'), 'dev',
            '--host', '0.0.0.0', '--api-key', SECRET]
    proc.add(100, argv, uid=1001, env={'ANTHROPIC_API_KEY': SECRET, 'MY_SERVICE_TOKEN': SECRET, 'LOG_LEVEL': 'info'},
             sockets=[(7001, '0.0.0.0', 2024)])
    [asset], _problems = run(agent_discovery.discover_agents, proc)
    attrs = asset['attributes']
    assert attrs['credential_env'] == ['ANTHROPIC_API_KEY', 'MY_SERVICE_TOKEN']
    assert attrs['listeners'] == [{'address': '0.0.0.0', 'port': 2024, 'loopback': False}] and attrs['exposed'] is True
    assert (attrs['uid'], attrs['version']) == (1001, '0.1.55')
    assert '<redacted>' in attrs['cmdline'] and SECRET not in repr(asset)


def test_unreadable_environment_is_a_problem_and_unresolved(proc):
    base = proc.add(100, ['/usr/bin/python3', '/usr/local/bin/letta', 'server'])  # no environ file
    assert base
    [asset], problems = run(agent_discovery.discover_agents, proc)
    assert asset['confidence'] == 'unresolved' and asset['attributes']['credential_env'] == []
    assert problems and problems[0].startswith('Letta server (pid 100): cannot read the environment')


@pytest.mark.parametrize('argv, name', [
    (['node', '/usr/bin/npx', '-y', '@modelcontextprotocol/server-github'], '@modelcontextprotocol/server-github'),
    (['npm', 'exec', '@modelcontextprotocol/server-filesystem@2025.1.1', '/data'], '@modelcontextprotocol/server-filesystem'),
    (['/root/.local/bin/uvx', 'mcp-server-fetch'], 'mcp-server-fetch'),
    (['/usr/bin/python3', '-m', 'mcp_server_git', '--repository', '/srv/repo'], 'mcp_server_git'),
    (['/usr/local/bin/github-mcp-server', 'stdio'], 'github-mcp-server'),
    (['node', '/root/.npm/_npx/1a2b/node_modules/.bin/mcp-server-github'], 'mcp-server-github'),
])
def test_mcp_server_names(argv, name):
    assert agents.mcp_server_name(argv) == name


def test_running_mcp_server_launcher_and_child_are_one_asset(proc):
    proc.add(100, ['node', '/usr/bin/npx', '-y', '@modelcontextprotocol/server-github'], uid=1000,
             env={'GITHUB_PERSONAL_ACCESS_TOKEN': SECRET})
    proc.add(101, ['node', '/root/.npm/_npx/1a2b/node_modules/@modelcontextprotocol/server-github/dist/index.js'], ppid=100,
             uid=1000, env={})
    proc.add(200, ['/root/.local/bin/uvx', 'mcp-server-fetch', '--port', '8808'], env={}, sockets=[(7002, '127.0.0.1', 8808)])
    assets, problems = run(agent_discovery.discover_mcp_processes, proc)
    assert problems == []
    found = dict((a['attributes']['server'], a['attributes']) for a in assets)
    assert sorted(found) == ['@modelcontextprotocol/server-github', 'mcp-server-fetch']
    github = found['@modelcontextprotocol/server-github']
    assert (github['running'], github['transport'], github['credential_env'], github['pids']) == (
        True, 'stdio', ['GITHUB_PERSONAL_ACCESS_TOKEN'], [100])
    assert found['mcp-server-fetch']['transport'] == 'http'


def test_same_mcp_server_started_twice_by_one_user_is_one_asset(proc):
    proc.add(100, ['/root/.local/bin/uvx', 'mcp-server-fetch'], env={})
    proc.add(300, ['/usr/bin/sh', '-c', 'mcp-server-fetch'], env={})
    proc.add(301, ['/root/.cache/uv/bin/python', '/root/.cache/uv/bin/mcp-server-fetch'], ppid=300, env={})
    [asset], _problems = run(agent_discovery.discover_mcp_processes, proc)
    assert asset['attributes']['pids'] == [100, 301]


def test_mcp_server_probe_reports_configured_and_running(proc, user_homes, tmp_path):
    user_homes(tmp_path / 'home')
    proc.add(100, ['/root/.local/bin/uvx', 'mcp-server-fetch'], env={})
    assets, _problems = PROBES['mcp_server']({'proc_root': proc.root}, 'node1', 'mid-1')
    assert [(a['kind'], a['attributes']['running']) for a in assets] == [('mcp_server', True)]
