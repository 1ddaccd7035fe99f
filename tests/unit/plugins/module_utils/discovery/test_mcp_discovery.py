"""The mcp_server probe over fake user homes with real client config formats."""

import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import credentials, mcp_discovery, probes

from tests.contracts import validate

from ..conftest import NOBODY, user_dir

GITHUB_PAT = 'ghp_unitTESTmcpTOKEN000000000000000001'
BEARER = 'Bearer sk-unitTESTmcpHEADER000001'


@pytest.fixture
def homes(tmp_path, user_homes):
    alice, bob = tmp_path / 'alice', tmp_path / 'bob'
    desktop = alice / '.config' / 'Claude'
    desktop.mkdir(parents=True)
    (desktop / 'claude_desktop_config.json').write_text(json.dumps({'mcpServers': {
        'github': {'command': 'npx', 'args': ['-y', '@modelcontextprotocol/server-github'],
                   'env': {'GITHUB_PERSONAL_ACCESS_TOKEN': GITHUB_PAT}},
        'files': {'command': 'npx', 'args': ['-y', '@modelcontextprotocol/server-filesystem', '/home/alice']}}}))
    (bob / '.vscode').mkdir(parents=True)
    (bob / '.vscode' / 'mcp.json').write_text(json.dumps({'servers': {
        'remote': {'type': 'http', 'url': 'https://mcp.example.com/mcp', 'headers': {'Authorization': BEARER}},
        'safe': {'command': 'uvx', 'args': ['mcp-server-time'], 'env': {'API_TOKEN': '${input:token}'}}}}))
    (bob / '.claude.json').write_text(json.dumps({'projects': {'/srv/app': {'mcpServers': {
        'db': {'command': 'docker', 'args': ['run', 'mcp/postgres', 'postgresql://app:s3cret@db/app']}}}}}))
    (bob / '.cursor').mkdir()
    (bob / '.cursor' / 'mcp.json').write_text('{"mcpServers": {broken')
    user_homes(alice, bob)
    return alice, bob


def test_every_configured_server_is_an_asset(homes):
    assets, problems = mcp_discovery.discover_mcp_servers({}, 'ws1', 'mid')
    by_name = dict((a['name'], a['attributes']) for a in assets)
    assert sorted(by_name) == ['db', 'files', 'github', 'remote', 'safe']
    assert by_name['github']['client'] == 'claude_desktop' and by_name['github']['plaintext_credentials'] is True
    assert by_name['github']['env_names'] == ['GITHUB_PERSONAL_ACCESS_TOKEN']
    assert by_name['remote']['transport'] == 'http' and by_name['remote']['credentials'][0]['variable'] == 'Authorization'
    assert by_name['safe']['plaintext_credentials'] is False  # ${input:token} is a reference, not a secret
    assert by_name['db']['project'] == '/srv/app' and 'postgresql://app:<redacted>@db/app' in by_name['db']['command']
    assert [p for p in problems if 'malformed JSON' in p and '.cursor/mcp.json' in p]
    for asset in assets:
        assert asset['confidence'] == 'declared'
        validate(asset, 'asset.v1.json')


def test_no_secret_in_servers_or_credentials(homes):
    text = repr(mcp_discovery.discover_mcp_servers({}, 'ws1', 'mid')) + repr(credentials.discover_credentials(
        {'proc_root': '/nonexistent', 'credential_files': []}, 'ws1', 'mid'))
    for secret in (GITHUB_PAT, BEARER, 's3cret', BEARER.split()[1]):
        assert secret not in text


def test_credential_probe_reports_mcp_secrets_with_the_same_fingerprint(homes, tmp_path):
    (tmp_path / 'proc').mkdir()
    creds = credentials.discover_credentials({'proc_root': str(tmp_path / 'proc'), 'credential_files': []}, 'ws1', 'mid')[0]
    mcp = dict((a['name'], a['attributes']) for a in mcp_discovery.discover_mcp_servers({}, 'ws1', 'mid')[0])
    from_mcp = dict((c['attributes']['variable'], c['attributes']) for c in creds if c['attributes']['source'] == 'mcp_config')
    assert sorted(from_mcp) == ['Authorization', 'GITHUB_PERSONAL_ACCESS_TOKEN']
    assert from_mcp['GITHUB_PERSONAL_ACCESS_TOKEN']['fingerprint'] == mcp['github']['credentials'][0]['fingerprint']
    assert from_mcp['GITHUB_PERSONAL_ACCESS_TOKEN']['provider'] == 'mcp:github'


def test_mcp_config_files_replace_the_well_known_paths_and_name_the_client(homes, tmp_path):
    """A config outside any home (a copied home, a shared team config) is read when named; the homes are not."""
    shared = tmp_path / 'estate' / 'home' / 'dev' / '.cursor'
    shared.mkdir(parents=True)
    (shared / 'mcp.json').write_text(json.dumps({'mcpServers': {'search': {'command': 'npx', 'env': {'SEARCH_API_KEY': 'k-unitTEST-1'}}}}))
    (tmp_path / 'estate' / 'team.json').write_text(json.dumps({'servers': {'wiki': {'url': 'https://wiki.example.com/mcp'}}}))
    options = {'mcp_config_files': [str(tmp_path / 'estate' / '*' / '*' / '.cursor' / 'mcp.json'), str(tmp_path / 'estate' / '*.json')]}
    assets, problems = mcp_discovery.discover_mcp_servers(options, 'ws1', 'mid')
    by_name = dict((a['name'], a['attributes']) for a in assets)
    assert problems == [] and sorted(by_name) == ['search', 'wiki']  # alice's and bob's configs are not in the list
    assert by_name['search']['client'] == 'cursor' and by_name['wiki']['client'] == 'other'
    for asset in assets:
        validate(asset, 'asset.v1.json')
    creds = credentials.discover_credentials(dict(options, proc_root=str(tmp_path / 'noproc'), credential_files=[]), 'ws1', 'mid')[0]
    assert [(c['attributes']['variable'], c['attributes']['source']) for c in creds] == [('SEARCH_API_KEY', 'mcp_config')]
    assert 'k-unitTEST-1' not in repr(assets) + repr(creds)


def test_without_scan_processes_only_files_are_looked_at(homes, tmp_path, monkeypatch):
    """scan_processes false (the demo estate, a copied home): no process is read by any probe."""
    def no_processes(*_args, **_kwargs):
        raise AssertionError('a process was looked at')
    monkeypatch.setattr(credentials.procfs, 'list_pids', no_processes)
    monkeypatch.setattr(probes, 'discover_mcp_processes', no_processes)
    options = {'scan_processes': False, 'proc_root': '/proc', 'credential_files': [], 'probe_timeout': 30}
    for name in ('model_server', 'vector_db', 'agent'):
        assert probes.run_probe(name, options, 'ws1', 'mid') == ([], [])
    assets, problems = probes.run_probe('mcp_server', options, 'ws1', 'mid')
    assert sorted(a['name'] for a in assets) == ['db', 'files', 'github', 'remote', 'safe']
    assert not [p for p in problems if 'probe failed' in p]
    assets, problems = probes.run_probe('credential', options, 'ws1', 'mid')
    assert problems == [] and sorted(a['attributes']['variable'] for a in assets) == ['Authorization', 'GITHUB_PERSONAL_ACCESS_TOKEN']
    with pytest.raises(AssertionError):  # the default still reads processes
        credentials.discover_credentials({'proc_root': '/proc', 'credential_files': []}, 'ws1', 'mid')


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_a_users_symlink_in_mcp_config_files_is_not_followed(base):
    """A named config path inside a user's directory is read as that user: a symlink to root's file shows nothing of it."""
    home = user_dir(base)
    secret = base / 'root-mcp.json'
    secret.write_text(json.dumps({'mcpServers': {'vault': {'command': 'x', 'env': {'VAULT_TOKEN': 's.unitTESTroot'}}}}))
    secret.chmod(0o600)
    os.symlink(str(secret), str(home / 'mcp.json'))
    os.lchown(str(home / 'mcp.json'), NOBODY, NOBODY)
    options = {'mcp_config_files': [str(home / 'mcp.json')], 'proc_root': str(base / 'noproc'), 'credential_files': []}
    assets, problems = mcp_discovery.discover_mcp_servers(options, 'n', 'm')
    assert assets == [] and [p for p in problems if str(home / 'mcp.json') in p]
    assert credentials.discover_credentials(options, 'n', 'm')[0] == []
