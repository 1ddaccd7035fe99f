"""The inventory engine: hosts, host variables and groups from store rows."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.policy import policy
from ansible_collections.aigov.core.plugins.module_utils.store import asset_inventory
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import resolve_data_file

REGISTRY = {'use_cases': [{'id': 'chat', 'risk_tier': 'high', 'environment': 'cloud',
                           'owners': {'decision': 'Jane Doe', 'risk': 'sec@corp'}, 'assets': [{'name': 'vllm'}]}]}


def row(asset_id, kind, name, host='h1', removed_at=None, **attributes):
    record = {'schema_version': 1, 'id': asset_id, 'kind': kind, 'name': name, 'host': host, 'confidence': 'inferred',
              'attributes': attributes, 'evidence': [], 'inventory_hostname': host}
    return {'inventory_hostname': host, 'id': asset_id, 'kind': kind, 'record': record, 'digest': 'x',
            'first_seen': 'T1', 'last_seen': 'T2', 'removed_at': removed_at}


def data(*rows, hosts=('h1',)):
    return {'hosts': [{'inventory_hostname': name, 'host': name, 'address': None, 'probes': [], 'problems': [],
                       'asset_count': 0, 'first_scan': 'T1', 'last_scan': 'T2'} for name in hosts],
            'assets': list(rows)}


@pytest.mark.parametrize('parts, expected', [
    (('owner', 'Jane Doe'), 'aigov_owner_jane_doe'),
    (('owner', 'sec@corp'), 'aigov_owner_sec_corp'),
    (('risk', 'high'), 'aigov_risk_high'),
    (('kind', 'model-server.v2'), 'aigov_kind_model_server_v2'),
])
def test_group_names_are_safe(parts, expected):
    assert asset_inventory.group_name(*parts) == expected


def test_host_groups_from_registry_and_kinds():
    built = asset_inventory.build(data(row('model_server:1', 'model_server', 'vllm'), row('gpu:1', 'gpu', 'A100')),
                                  REGISTRY, [])
    (name, hostvars, groups), = built
    assert name == 'h1'
    assert groups == ['aigov_env_cloud', 'aigov_kind_gpu', 'aigov_kind_model_server', 'aigov_owner_jane_doe',
                      'aigov_owner_sec_corp', 'aigov_risk_high', 'aigov_shadow']
    assert hostvars['aigov_shadow_assets'] == 1 and hostvars['aigov_compliant'] is None
    assert hostvars['aigov_asset_counts'] == {'model_server': 1, 'gpu': 1}
    assert [a['first_seen'] for a in hostvars['ai_assets']] == ['T1', 'T1']


def test_removed_assets_count_for_nothing():
    built = asset_inventory.build(data(row('model_server:1', 'model_server', 'ollama', removed_at='T2', exposed=True,
                                           auth='none')), REGISTRY, policy.load_packs([resolve_data_file('policy pack', 'default', '/')]))
    (_name, hostvars, groups), = built
    assert groups == ['aigov_compliant']
    assert hostvars['aigov_asset_counts'] == {} and hostvars['aigov_findings'] == []
    assert hostvars['ai_assets'][0]['removed_at'] == 'T2'


def test_findings_land_on_their_host_and_a_host_without_assets_is_compliant():
    packs = policy.load_packs([resolve_data_file('policy pack', 'default', '/')])
    built = dict((name, (hostvars, groups)) for name, hostvars, groups in asset_inventory.build(
        data(row('model_server:1', 'model_server', 'vllm', exposed=True, auth='none'), hosts=('h1', 'empty')),
        REGISTRY, packs))
    # GV-002: the use case is high-risk and names no escalation owner
    assert [f['rule_id'] for f in built['h1'][0]['aigov_findings']] == ['AIGOV-GV-002', 'AIGOV-MS-001']
    assert built['h1'][0]['aigov_findings_by_severity']['high'] == 2
    assert 'aigov_noncompliant' in built['h1'][1]
    assert built['empty'][1] == ['aigov_compliant']


def test_waived_findings_are_listed_but_do_not_make_a_host_noncompliant(tmp_path):
    """As ai_policy_check: a waiver (from an exceptions file here) keeps the finding visible and the host compliant."""
    exceptions = tmp_path / 'exceptions.yml'
    exceptions.write_text(
        'schema_version: 1\nexceptions:\n'
        '  - {rule: AIGOV-MS-001, assets: [{name: vllm}], owner: sec@corp, reason: behind the VPN, expires: "2999-01-01"}\n'
        '  - {rule: AIGOV-GV-002, assets: [{name: vllm}], owner: sec@corp, reason: owner named next week, expires: "2999-01-01"}\n')
    packs = policy.load_packs([resolve_data_file('policy pack', 'default', '/')])
    rows = data(row('model_server:1', 'model_server', 'vllm', exposed=True, auth='none'))
    before = asset_inventory.build(rows, REGISTRY, packs)[0]
    after = asset_inventory.build(rows, REGISTRY, packs, policy.load_waivers(packs, [str(exceptions)]))[0]
    assert before[1]['aigov_compliant'] is False and 'aigov_noncompliant' in before[2]
    assert after[1]['aigov_compliant'] is True and 'aigov_compliant' in after[2]
    assert [(f['rule_id'], f['waived']) for f in after[1]['aigov_findings']] == [('AIGOV-GV-002', True), ('AIGOV-MS-001', True)]
    assert after[1]['aigov_findings_by_severity']['high'] == 0


def test_parameters_and_host_regions_reach_the_evaluation():
    registry = {'use_cases': [dict(REGISTRY['use_cases'][0], allowed_regions=['eu-west-1'])]}
    rows = data(row('model_server:1', 'model_server', 'vllm'),
                row('credential:1', 'credential', 'OPENAI_API_KEY', source='env_file', age_days=100))
    packs = policy.load_packs([resolve_data_file('policy pack', 'default', '/')])

    def rules(built):
        return sorted(f['rule_id'] for f in built[0][1]['aigov_findings'])

    plain = rules(asset_inventory.build(rows, registry, packs))
    assert 'AIGOV-GV-005' not in plain and 'AIGOV-CR-003' in plain
    located = rules(asset_inventory.build(rows, registry, packs, regions={'h1': 'us-east-1'}))
    assert 'AIGOV-GV-005' in located
    lenient = policy.load_packs([resolve_data_file('policy pack', 'default', '/')], {'credential_max_age_days': 365})
    assert 'AIGOV-CR-003' not in rules(asset_inventory.build(rows, registry, lenient))
