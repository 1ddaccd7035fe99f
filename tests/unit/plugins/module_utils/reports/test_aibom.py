"""AI-BOM engine: CycloneDX 1.6 mapping of asset records, validated with the official schema."""

import json
import random

import pytest

from ansible_collections.aigov.core.plugins.module_utils.reports import aibom
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from tests.contracts import cyclonedx_error

SHA = 'ab' * 32
FINGERPRINT = 'hmac-sha256:0123456789abcdef'
SECRET_PATH = '/srv/agent/secret-place/.env'
URL_TOKEN = 'tok3nInQueryString0042'


def asset(kind, ident, host='gpu-1', name=None, inventory='inv-gpu-1', registry=None, **attributes):
    record = {'schema_version': 1, 'id': '%s:%016x' % (kind, ident), 'kind': kind, 'name': name or kind, 'host': host,
              'confidence': 'inferred', 'attributes': attributes, 'evidence': []}
    if inventory:
        record['inventory_hostname'] = inventory
    if registry:
        record['registry'] = registry
    return record


def artifact(ident, path, sha256=SHA, fmt='gguf', pickle=None, executes=False, **kwargs):
    return asset('model_artifact', ident, name=path.rsplit('/', 1)[-1], path=path, format=fmt, size=1024, sha256=sha256,
                 mode='0644', uid=0, owner='root', world_writable=False, details={}, pickle=pickle,
                 executes_code_on_load=executes, **kwargs)


def server(ident, listeners=(), auth='none', exposed=None, model=None, kind='model_server', **kwargs):
    return asset(kind, ident, name='vllm', product='vllm', product_name='vLLM', model=model,
                 listeners=None if listeners is None else [dict(address=a, port=p, loopback=a in ('127.0.0.1', '::1'))
                                                           for a, p in listeners],
                 exposed=exposed, auth=auth, auth_evidence='', dev_mode=['debug'], uid=0, executable='/usr/bin/python3',
                 cmdline=['python3', '--api-key', '<redacted>'], pids=[4242], **kwargs)


def package(ident, name, version):
    return asset('ai_package', ident, name=name, package=name, version=version, category='ml_runtime',
                 site_packages='/opt/venv/lib/python3.11/site-packages', venv='/opt/venv')


def gpu(ident):
    return asset('gpu', ident, name='NVIDIA A100', vendor='nvidia', model='NVIDIA A100', uuid='GPU-1', pci_bus='0000:01:00.0',
                 memory_mib=81920, driver='550.54', source='nvidia-smi', processes=[{'pid': 99, 'name': 'x', 'used_memory_mib': 1}])


def credential(ident):
    return asset('credential', ident, name='openai', provider='openai', variable='OPENAI_API_KEY', source='env_file',
                 location=SECRET_PATH, fingerprint=FINGERPRINT, age_days=3.5, pids=[])


def mcp(ident, transport='stdio', url=None, command=('/usr/bin/npx', '-y', 'server-github')):
    return asset('mcp_server', ident, name='github', client='claude_desktop', config='/root/.config/Claude/c.json',
                 project=None, server='github', transport=transport, command=list(command) if command else None, url=url,
                 env_names=['GITHUB_TOKEN'], credentials=[{'variable': 'GITHUB_TOKEN', 'fingerprint': FINGERPRINT}],
                 plaintext_credentials=True)


REGISTERED = {'registered': True, 'shadow': False, 'use_case': 'support-bot', 'use_case_name': 'Support assistant',
              'risk_tier': 'high', 'owners': {'decision': 'alice', 'risk': 'bob'}, 'environment': 'cloud',
              'region': 'eu-west-1', 'model_approved': True}


def build(*assets, **kwargs):
    return aibom.build_bom(list(assets), '9.9.9', **kwargs)


def by_ref(bom, section='components'):
    return dict((item['bom-ref'], item) for item in bom[section])


def props(item):
    found = {}
    for prop in item.get('properties', []):
        found.setdefault(prop['name'][len('aigov:'):], []).append(prop['value'])
    return dict((name, values[0] if len(values) == 1 else values) for name, values in found.items())


def test_full_bom_is_valid_cyclonedx_1_6_and_a_broken_one_is_not():
    bom = build(artifact(1, '/models/llama.gguf', registry=REGISTERED), server(2, [('0.0.0.0', 8000), ('::', 8000)], exposed=True,
                model='/models/llama.gguf'), server(3, [('::1', 6333)], kind='vector_db', exposed=False),
                package(4, 'torch', '2.4.0+cu121'), gpu(5), credential(6), mcp(7), mcp(8, 'http', 'https://mcp.example.com/x'),
                scope={'hosts_scanned': ['inv-gpu-1'], 'hosts_missing': ['inv-down']})
    text = aibom.render_json(bom)
    assert cyclonedx_error(text) is None
    broken = json.loads(text)
    broken['components'][0]['type'] = 'model'
    assert "'model' is not one of" in cyclonedx_error(json.dumps(broken))
    del broken['components'][0]['type']
    broken['services'][0]['x-trust-boundary'] = 'yes'
    assert cyclonedx_error(json.dumps(broken))


def test_header_and_metadata():
    bom = build(gpu(1), scope={'hosts_scanned': ['b', 'a'], 'hosts_missing': ['c']})
    assert (bom['bomFormat'], bom['specVersion'], bom['version']) == ('CycloneDX', '1.6', 1)
    assert bom['serialNumber'].startswith('urn:uuid:') and bom['metadata']['timestamp'].endswith('Z')
    assert bom['metadata']['tools'] == {'components': [{'type': 'application', 'name': 'aigov.core', 'version': '9.9.9'}]}
    assert props(bom['metadata']) == {'scope:host_scanned': ['a', 'b'], 'scope:host_missing': 'c', 'scope:complete': 'false'}
    assert 'properties' not in build(gpu(1))['metadata']


@pytest.mark.parametrize('record, name, hashes, expected', [
    (artifact(1, '/models/llama.gguf'), 'llama.gguf', [{'alg': 'SHA-256', 'content': SHA}],
     {'format': 'gguf', 'size': '1024', 'path': '/models/llama.gguf'}),
    (artifact(1, '/models/big.safetensors', sha256=None, fmt='safetensors'), 'big.safetensors', None, {'format': 'safetensors'}),
    (artifact(1, '/srv/models/p.pkl', fmt='pickle', pickle={'imports': ['posix.system'], 'dangerous': ['posix.system'], 'error': None},
              executes=True), 'p.pkl', [{'alg': 'SHA-256', 'content': SHA}],
     {'executes_code_on_load': 'true', 'pickle_dangerous_import': 'posix.system'}),
    (artifact(1, '/opt/models/safe.pt', fmt='pytorch_zip', pickle={'imports': [], 'dangerous': [], 'error': None}), 'safe.pt',
     [{'alg': 'SHA-256', 'content': SHA}], {'executes_code_on_load': 'false'}),
    (artifact(1, '/root/.cache/huggingface/hub/models--org--enc/blobs/0a1b2c', fmt='safetensors'), 'org/enc',
     [{'alg': 'SHA-256', 'content': SHA}], {'path': '/root/.cache/huggingface/hub/models--org--enc/blobs/0a1b2c'}),
])
def test_model_files_become_ml_model_components(record, name, hashes, expected):
    [component] = [c for c in build(record)['components'] if c['type'] == 'machine-learning-model']
    assert (component['bom-ref'], component['name'], component.get('hashes')) == (record['id'], name, hashes)
    found = props(component)
    assert dict((key, found.get(key)) for key in expected) == expected
    assert found['host'] == 'gpu-1' and found['inventory_host'] == 'inv-gpu-1' and found['asset_kind'] == 'model_artifact'
    if record['attributes']['pickle'] is None:
        assert 'executes_code_on_load' not in found
    assert component['evidence'] == {'occurrences': [{'location': record['attributes']['path']}]}
    assert 'modelCard' not in component  # nothing known beyond the file: nothing invented


def test_registry_match_becomes_properties_and_a_model_card_use_case():
    component = by_ref(build(artifact(1, '/models/a.gguf', registry=REGISTERED)))['model_artifact:0000000000000001']
    found = props(component)
    assert (found['use_case'], found['risk_tier'], found['shadow'], found['model_approved']) == ('support-bot', 'high', 'false', 'true')
    assert (found['owner:decision'], found['owner:risk']) == ('alice', 'bob')
    assert component['modelCard'] == {'considerations': {'useCases': ['Support assistant']}}
    shadow = dict(REGISTERED, registered=False, shadow=True, use_case=None, use_case_name=None, risk_tier=None, owners={},
                  model_approved=None)
    component = by_ref(build(artifact(1, '/models/a.gguf', registry=shadow)))['model_artifact:0000000000000001']
    assert props(component)['shadow'] == 'true' and 'risk_tier' not in props(component) and 'modelCard' not in component


@pytest.mark.parametrize('listeners, endpoints', [
    ([('0.0.0.0', 8000)], ['http://0.0.0.0:8000']),
    ([('127.0.0.1', 8080), ('::1', 8080)], ['http://127.0.0.1:8080', 'http://[0:0:0:0:0:0:0:1]:8080']),
    ([('::', 8000), ('0.0.0.0', 8000)], ['http://0.0.0.0:8000', 'http://[0:0:0:0:0:0:0:0]:8000']),
    ([('fe80::1', 80), ('fe80::1', 80)], ['http://[fe80:0:0:0:0:0:0:1]:80']),
    ([('::ffff:10.0.0.5', 80)], ['http://[0:0:0:0:0:ffff:a00:5]:80']),
    ([], None),
    (None, None),
])
def test_service_endpoints(listeners, endpoints):
    [service] = build(server(1, listeners))['services']
    assert service.get('endpoints') == endpoints
    assert cyclonedx_error(aibom.render_json(build(server(1, listeners)))) is None


@pytest.mark.parametrize('auth, exposed, authenticated, boundary', [
    ('configured', True, True, True),
    ('none', True, False, True),
    ('none', False, False, False),
    ('unknown', None, None, None),
])
def test_service_authenticated_and_trust_boundary(auth, exposed, authenticated, boundary):
    [service] = build(server(1, [('0.0.0.0', 1)], auth=auth, exposed=exposed))['services']
    assert service.get('authenticated') == authenticated and service.get('x-trust-boundary') == boundary
    assert ('authenticated' in service) is (authenticated is not None)
    assert ('x-trust-boundary' in service) is (boundary is not None)
    found = props(service)
    assert (service['name'], found['product'], found['auth'], found['dev_mode']) == ('vLLM', 'vllm', auth, 'debug')
    assert 'pids' not in found and '4242' not in json.dumps(service)


def test_vector_db_is_a_service_too():
    [service] = build(server(1, [('0.0.0.0', 6333)], kind='vector_db', exposed=True))['services']
    assert service['bom-ref'] == 'vector_db:0000000000000001' and props(service)['asset_kind'] == 'vector_db'


@pytest.mark.parametrize('record, endpoints, boundary, command', [
    (mcp(1), None, False, 'npx'),
    (mcp(1, 'http', 'https://user:pw@mcp.example.com:8443/sse/%s?key=%s' % (URL_TOKEN, URL_TOKEN), command=None),
     ['https://mcp.example.com:8443'], True, None),
    (mcp(1, 'http', 'http://127.0.0.1:3000/mcp', command=None), ['http://127.0.0.1:3000'], False, None),
    (mcp(1, 'http', 'http://[::1]:3000/mcp', command=None), ['http://[0:0:0:0:0:0:0:1]:3000'], False, None),
    (mcp(1, 'sse', 'not a url', command=None), None, None, None),
])
def test_mcp_servers_are_services_without_secrets(record, endpoints, boundary, command):
    [service] = build(record)['services']
    assert service.get('endpoints') == endpoints and service.get('x-trust-boundary') == boundary
    assert 'authenticated' not in service
    found = props(service)
    assert (found['client'], found.get('command'), found['credential_count'], found['plaintext_credentials']) == (
        'claude_desktop', command, '1', 'true')
    text = json.dumps(service)
    assert FINGERPRINT not in text and URL_TOKEN not in text and 'pw' not in text and 'server-github' not in text


def test_libraries_and_gpus():
    components = by_ref(build(package(1, 'torch', '2.4.0+cu121'), package(2, 'langchain-core', '0.3.15'), gpu(3)))
    torch = components['ai_package:0000000000000001']
    assert (torch['type'], torch['name'], torch['version'], torch['purl']) == ('library', 'torch', '2.4.0+cu121',
                                                                               'pkg:pypi/torch@2.4.0%2Bcu121')
    assert components['ai_package:0000000000000002']['purl'] == 'pkg:pypi/langchain-core@0.3.15'
    assert props(torch)['venv'] == '/opt/venv'
    card = components['gpu:0000000000000003']
    assert (card['type'], card['name'], card['manufacturer']) == ('device', 'NVIDIA A100', {'name': 'NVIDIA'})
    assert props(card)['memory_mib'] == '81920' and '"99"' not in json.dumps(card)  # no pids of GPU processes


def test_every_asset_depends_on_its_host_and_servers_on_what_they_serve():
    bom = build(
        artifact(1, '/models/llama.gguf'),
        artifact(2, '/models/shards/a.safetensors'), artifact(3, '/models/shards/b.safetensors'),
        artifact(4, '/models/shards-old/c.safetensors'),
        artifact(5, '/root/.cache/huggingface/hub/models--facebook--opt-125m/blobs/ff'),
        artifact(6, '/models/llama.gguf', host='other', inventory='inv-other'),
        server(10, model='/models/llama.gguf'), server(11, model='/models/shards/'), server(12, model='facebook/opt-125m'),
        server(13, model='llama.gguf'), server(14, model='models/llama.gguf'), server(15, model=None),
        server(16, kind='vector_db'), package(20, 'torch', '2.4.0'), gpu(21), mcp(22), credential(23))
    deps = dict((d['ref'], d['dependsOn']) for d in bom['dependencies'])
    host, other = 'host:inv-gpu-1', 'host:inv-other'
    assert deps['model_server:000000000000000a'] == [host, 'model_artifact:0000000000000001']  # not the other host's copy
    assert deps['model_server:000000000000000b'] == [host, 'model_artifact:0000000000000002', 'model_artifact:0000000000000003']
    assert deps['model_server:000000000000000c'] == [host, 'model_artifact:0000000000000005']
    for unclear in ('d', 'e', 'f'):  # a bare or relative name could be any file: no link
        assert deps['model_server:000000000000000' + unclear] == [host]
    assert deps['model_artifact:0000000000000006'] == [other] and deps[host] == [] and deps[other] == []
    leaves = ('vector_db:0000000000000010', 'ai_package:0000000000000014', 'gpu:0000000000000015', 'mcp_server:0000000000000016')
    assert all(deps[ref] == [host] for ref in leaves)
    refs = set(by_ref(bom)) | set(by_ref(bom, 'services'))
    assert set(deps) == refs and all(set(on) <= refs for on in deps.values())
    hosts = [c for c in bom['components'] if props(c)['asset_kind'] == 'host']
    found = [(c['name'], c['type'], props(c)['credential_count']) for c in hosts]
    assert found == [('inv-gpu-1', 'device', '1'), ('inv-other', 'device', '0')]


def test_host_without_inventory_name_is_keyed_by_its_own_name():
    bom = build(gpu(1) | {'inventory_hostname': None}, package(2, 'torch', '1') | {'host': 'b'})
    assert sorted(c['bom-ref'] for c in bom['components'] if c['bom-ref'].startswith('host:')) == ['host:gpu-1', 'host:inv-gpu-1']


def test_output_is_deterministic_apart_from_serial_and_timestamp():
    records = [artifact(i, '/models/m%d.gguf' % i) for i in range(5)]
    records += [server(9, [('::', 1), ('0.0.0.0', 1)]), package(7, 'torch', '2'), gpu(8)]
    first, second = build(*records), build(*random.Random(7).sample(records, len(records)))
    assert first['serialNumber'] != second['serialNumber']
    assert aibom.content(first) == aibom.content(second) and aibom.same_content(first, second)
    fixed = dict(serial_number='urn:uuid:00000000-0000-4000-8000-000000000000', timestamp='2026-01-01T00:00:00Z')
    assert aibom.render_json(build(*records, **fixed)) == aibom.render_json(build(*reversed(records), **fixed))
    refs = [c['bom-ref'] for c in first['components']]
    assert refs == sorted(refs)


@pytest.mark.parametrize('old, same', [
    (None, False), ([], False), ('text', False), ({}, False),
])
def test_same_content_with_foreign_files(old, same):
    assert aibom.same_content(old, build(gpu(1))) is same


def test_same_content_sees_a_changed_property():
    old, new = build(gpu(1)), build(gpu(1))
    assert aibom.same_content(old, new)
    new['components'][0]['properties'][0]['value'] += 'x'
    assert not aibom.same_content(old, new)


def test_duplicate_asset_ids_are_exported_once():
    record = gpu(1)
    bom = build(record, dict(record, inventory_hostname='alias'))
    assert [c['bom-ref'] for c in bom['components']].count('gpu:0000000000000001') == 1


def test_no_credential_data_in_the_bom():
    text = aibom.render_json(build(credential(1), mcp(2, 'http', 'https://k:%s@h.example/p?t=%s' % (URL_TOKEN, URL_TOKEN)),
                                   server(3, [('0.0.0.0', 1)])))
    for leak in (FINGERPRINT, 'hmac-sha256', SECRET_PATH, URL_TOKEN, 'OPENAI_API_KEY', 'GITHUB_TOKEN', 'credential:', '<redacted>'):
        assert leak not in text, leak
    assert cyclonedx_error(text) is None


def test_inventory_lines_name_each_component_and_service():
    lines = aibom.inventory_lines(build(gpu(1), server(2)))
    assert lines == ('component device gpu:0000000000000001 (NVIDIA A100)\ncomponent device host:inv-gpu-1 (inv-gpu-1)\n'
                     'service model_server:0000000000000002 (vLLM)\n')
    assert aibom.inventory_lines({'components': 'junk'}) == '' and aibom.inventory_lines(None) == ''


@pytest.mark.parametrize('assets, message', [
    ('not a list', 'assets must be a list of asset records'),
    ([42], 'assets[0] is not a mapping'),
    ([{'id': 'gpu:1', 'kind': 'gpu'}], 'assets[0] (id gpu:1): missing name, host, attributes'),
    ([gpu(1), dict(gpu(2), kind='toaster')], "assets[1] (id gpu:0000000000000002): unknown kind 'toaster'"),
    ([dict(gpu(1), attributes=[])], 'attributes must be a mapping'),
])
def test_bad_assets_are_refused_by_name(assets, message):
    with pytest.raises(AigovError) as raised:
        aibom.build_bom(assets, '1')
    assert message in str(raised.value)


def test_agents_and_running_mcp_servers_as_discovery_reports_them_are_services():
    """ai_asset_facts reports `agent` assets and running MCP servers; the BOM must take them, not refuse."""
    agent = asset('agent', 9, name='langgraph', framework='langgraph', framework_name='LangGraph', version='0.2.60',
                  version_source='package-metadata:/opt/a/lib', cmdline=['langgraph', 'dev', '--host', '0.0.0.0'],
                  listeners=[{'address': '0.0.0.0', 'port': 2024, 'loopback': False}], exposed=True,
                  credential_env=['OPENAI_API_KEY'], uid=1000, executable='/opt/a/bin/python', pids=[77])
    running = asset('mcp_server', 10, name='github', running=True, server='github', command=['npx', 'server-github'],
                    listeners=[], exposed=False, credential_env=['GITHUB_TOKEN'], uid=1000, pids=[78])
    bom = build(agent, running)
    assert cyclonedx_error(aibom.render_json(bom)) is None
    services = by_ref(bom, 'services')
    service = services[agent['id']]
    assert (service['name'], service['version'], service['endpoints'], service['x-trust-boundary']) == (
        'LangGraph', '0.2.60', ['http://0.0.0.0:2024'], True)
    assert 'OPENAI_API_KEY' not in json.dumps(bom) and '<redacted>' not in json.dumps(bom)
    assert props(service)['credential_count'] == '1'
    assert running['id'] in services


def test_model_components_record_signature_status_and_signer():
    from tests.fixtures import policy_assets as pa
    signed = pa.signed_model_file('signed', registry=pa.provenance_match('high', signer_trusted=True), key=11)
    broken = pa.signed_model_file('invalid', reasons=['file_changed', 'file_added'], key=12)
    unsigned = pa.signed_model_file('unsigned', key=13)
    bom = build(signed, broken, unsigned)
    assert cyclonedx_error(aibom.render_json(bom)) is None
    components = by_ref(bom)
    found = props(components[signed['id']])
    assert (found['signature_status'], found['signature_signer'], found['signature_method'], found['signer_trusted']) == \
        ('signed', 'ml-release', 'key', 'true')
    assert found['signature_signer_fingerprint'] == 'sha256:' + 'c' * 64
    found = props(components[broken['id']])
    assert found['signature_status'] == 'invalid' and found['signature_invalid_reason'] == ['file_added', 'file_changed']
    assert props(components[unsigned['id']])['signature_status'] == 'unsigned'
    assert 'signature_signer' not in props(components[unsigned['id']])
