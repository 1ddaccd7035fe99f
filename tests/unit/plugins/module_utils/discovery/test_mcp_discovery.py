"""The mcp_server probe over fake user homes with real client config formats."""

import json

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import credentials, mcp_discovery

from tests.contracts import validate

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
