"""Which findings the ai_baseline role remediates, skips (and why), and what it reports after."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.policy import baseline
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

SERVER = {'id': 'model_server:00000000000000a1', 'kind': 'model_server', 'name': 'vllm',
          'attributes': {'product': 'vllm', 'pids': [42], 'cmdline': ['vllm'], 'executable': '/usr/bin/python3',
                         'dev_mode': ['VLLM_SERVER_DEV_MODE'], 'listeners': [{'address': '0.0.0.0', 'port': 8000, 'loopback': False}]}}
MODEL = {'id': 'model_artifact:00000000000000b1', 'kind': 'model_artifact', 'name': 'a.pkl',
         'attributes': {'path': '/models/a.pkl', 'sha256': 'a' * 64, 'mode': '0666'}}
ENV_KEY = {'id': 'credential:00000000000000c1', 'kind': 'credential', 'name': 'openai',
           'attributes': {'source': 'env_file', 'location': '/srv/app/.env', 'variable': 'OPENAI_API_KEY'}}
PROC_KEY = {'id': 'credential:00000000000000c2', 'kind': 'credential', 'name': 'openai',
            'attributes': {'source': 'process_env', 'location': 'python app.py', 'variable': 'OPENAI_API_KEY'}}
MCP = {'id': 'mcp_server:00000000000000d1', 'kind': 'mcp_server', 'name': 'github',
       'attributes': {'running': False, 'config': '/root/.cursor/mcp.json',
                      'credentials': [{'variable': 'GITHUB_TOKEN', 'fingerprint': 'hmac-sha256:0000000000000000'}]}}
ASSETS = [SERVER, MODEL, ENV_KEY, PROC_KEY, MCP]


def finding(rule, asset, rid, disruptive=False, automatable=True, host='h1', waived=False):
    return {'id': '%s-%s' % (rule, asset['id'][-2:]), 'rule_id': rule, 'asset_id': asset['id'], 'asset_kind': asset['kind'],
            'asset_name': asset['name'], 'inventory_hostname': host, 'waived': waived,
            'remediation': {'id': rid, 'automatable': automatable, 'disruptive': disruptive} if rid else None}


FINDINGS = [
    finding('R-MS-1', SERVER, 'bind_loopback', disruptive=True),
    finding('R-MS-2', SERVER, 'disable_dev_mode', disruptive=True),
    finding('R-MA-1', MODEL, 'quarantine_model_file', disruptive=True),
    finding('R-MA-2', MODEL, 'quarantine_model_file', disruptive=True),
    finding('R-MA-3', MODEL, 'fix_model_file_mode'),
    finding('R-CR-1', ENV_KEY, 'restrict_credential_file'),
    finding('R-CR-2', ENV_KEY, 'move_plaintext_secret'),
    finding('R-CR-3', PROC_KEY, 'restrict_credential_file'),
    finding('R-MCP-1', MCP, 'move_plaintext_secret'),
    finding('R-SH-1', SERVER, None),
    finding('R-X-1', MODEL, 'pin_model'),
    finding('R-W-1', MODEL, 'fix_model_file_mode', waived=True),
    finding('R-MS-1', SERVER, 'bind_loopback', host='h2'),
]


def reasons(plan):
    return dict((item['rule_id'], item['reason']) for item in plan['skipped'])


def test_audit_default_skips_disruptive_and_says_why_for_every_skip():
    plan = baseline.plan(FINDINGS, ASSETS, 'h1')
    assert plan['mode'] == 'audit'
    assert sorted(plan['remediate']) == ['fix_model_file_mode', 'move_plaintext_secret', 'restrict_credential_file']
    assert reasons(plan) == {'R-MS-1': 'disruptive', 'R-MS-2': 'disruptive', 'R-MA-1': 'disruptive', 'R-MA-2': 'disruptive',
                             'R-CR-3': 'no_target', 'R-SH-1': 'manual', 'R-X-1': 'unsupported', 'R-W-1': 'waived'}
    # Only h1's findings: the h2 one is another host's business.
    assert len(plan['findings']) == 12


def test_allow_disruptive_merges_two_rules_asking_for_one_quarantine():
    plan = baseline.plan(FINDINGS, ASSETS, 'h1', 'enforce', allow_disruptive=True)
    [quarantine] = plan['remediate']['quarantine_model_file']
    assert quarantine['path'] == '/models/a.pkl' and quarantine['sha256'] == 'a' * 64
    assert quarantine['rule_ids'] == ['R-MA-1', 'R-MA-2'] and len(quarantine['finding_ids']) == 2
    [rebind] = plan['remediate']['bind_loopback']
    assert rebind['pids'] == [42] and rebind['listeners'][0]['port'] == 8000


def test_secret_targets_by_file_with_their_variables():
    plan = baseline.plan(FINDINGS, ASSETS, 'h1', 'enforce')
    targets = dict((t['path'], (t['format'], t['variables'])) for t in plan['remediate']['move_plaintext_secret'])
    assert targets == {'/srv/app/.env': ('env_file', ['OPENAI_API_KEY']), '/root/.cursor/mcp.json': ('mcp_config', ['GITHUB_TOKEN'])}


def test_toggles_disable_rules_and_remediations():
    plan = baseline.plan(FINDINGS, ASSETS, 'h1', 'enforce', rules_disabled=['R-CR-1'],
                         remediations_disabled=['move_plaintext_secret'], allow_disruptive=True)
    assert 'restrict_credential_file' not in plan['remediate'] and 'move_plaintext_secret' not in plan['remediate']
    assert reasons(plan)['R-CR-1'] == 'disabled' and reasons(plan)['R-MCP-1'] == 'disabled'


@pytest.mark.parametrize('kwargs, message', [
    ({'mode': 'fix'}, "aigov_baseline_mode must be one of audit, enforce, got 'fix'"),
    ({'remediations_disabled': ['bind_lo']}, 'names unknown remediations bind_lo'),
    ({'rules_disabled': [1]}, 'must be a list of rule ids'),
])
def test_bad_options_are_clear_errors(kwargs, message):
    with pytest.raises(AigovError, match=message):
        baseline.plan(FINDINGS, ASSETS, 'h1', **kwargs)


def test_outcome_fixed_only_when_every_finding_of_a_target_is_gone():
    plan = baseline.plan(FINDINGS, ASSETS, 'h1', 'enforce', allow_disruptive=True)
    still_open = [f for f in FINDINGS if f['rule_id'] in ('R-MA-2', 'R-SH-1')]
    result = baseline.outcome(plan, still_open, 'h1', [{'changed': True}, {'changed': False}])
    fixed = set((item['remediation'], item['target']) for item in result['fixed'])
    assert ('quarantine_model_file', '/models/a.pkl') not in fixed  # R-MA-2 is still open
    assert ('bind_loopback', SERVER['id']) in fixed
    assert [(r['rule_id'], r['planned']) for r in result['remaining']] == [('R-MA-2', True), ('R-SH-1', False)]
    assert result['changed'] == 1
