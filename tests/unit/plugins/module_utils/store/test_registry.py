"""Registry: validation and matching of assets to use cases."""

import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.store import registry
from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..', '..')

REGISTRY = """schema_version: 1
use_cases:
  - id: support-bot
    name: Support assistant
    risk_tier: high
    owners: {decision: alice, risk: bob, escalation: oncall}
    environment: cloud
    region: eu-west-1
    approved_models:
      - {name: enc, sha256: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
    assets:
      - {kind: model_artifact, host: "gpu-*"}
      - {kind: model_server, name: vllm, host: "gpu-*"}
      - {id: "model_server:00000000000000ff"}
"""


def load(tmp_path, text):
    path = tmp_path / 'registry.yml'
    path.write_text(text)
    return registry.load_registry(str(path))


def test_bundled_registry_is_valid():
    assert registry.load_registry(os.path.join(ROOT, 'registry', 'default.yml'))['use_cases']


def test_match_by_glob_and_by_id(tmp_path):
    reg = load(tmp_path, REGISTRY)
    by_glob = registry.match(reg, {'id': 'x', 'kind': 'model_server', 'name': 'vllm', 'host': 'gpu-7'})
    assert by_glob == {'registered': True, 'shadow': False, 'use_case': 'support-bot', 'use_case_name': 'Support assistant',
                       'risk_tier': 'high', 'owners': {'decision': 'alice', 'risk': 'bob', 'escalation': 'oncall'},
                       'environment': 'cloud', 'region': 'eu-west-1', 'model_approved': None,
                       'allowed_regions': None}
    assert registry.match(reg, {'id': 'model_server:00000000000000ff', 'kind': 'model_server'})['registered']


def test_unmatched_asset_is_shadow(tmp_path):
    reg = load(tmp_path, REGISTRY)
    shadow = registry.match(reg, {'id': 'y', 'kind': 'model_server', 'name': 'vllm', 'host': 'web-1'})
    assert shadow['registered'] is False and shadow['shadow'] is True and shadow['use_case'] is None


@pytest.mark.parametrize('mutation, message', [
    (('risk_tier: high', 'risk_tier: extreme'), "risk_tier must be one of minimal, limited, high, prohibited, got 'extreme'"),
    (('decision: alice', 'approver: alice'), "unknown owner role 'approver'"),
    (('host: "gpu-*"', 'hostname: "gpu-*"'), "unknown selector key 'hostname'"),
    (('id: support-bot', 'id: Support Bot'), 'id must be lower-case'),
    (('environment: cloud', 'environment: moon'), "environment must be one of on_prem, cloud, edge, got 'moon'"),
    (('sha256: "aaaa', 'sha256: "AAAA'), 'approved_models[0]: sha256 must be 64 lower-case hex digits'),
    (('{name: enc,', '{path: models/enc, name: enc,'), 'approved_models[0]: path must be an absolute path'),
    (('{name: enc,', '{url: /x, name: enc,'), 'approved_models[0] must be a mapping with keys name, sha256 and an optional path'),
])
def test_invalid_registry_names_the_problem(tmp_path, mutation, message):
    with pytest.raises(DataFileError) as caught:
        load(tmp_path, REGISTRY.replace(*mutation))
    assert 'use_cases[0]' in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize('digest, approved', [('a' * 64, True), ('b' * 64, False), (None, None)])
def test_model_file_digest_against_approved_models(tmp_path, digest, approved):
    reg = load(tmp_path, REGISTRY)
    artifact = {'id': 'z', 'kind': 'model_artifact', 'name': 'enc.safetensors', 'host': 'gpu-1', 'attributes': {'sha256': digest}}
    assert registry.match(reg, artifact)['model_approved'] is approved


# The published schema (schemas/registry.v1.json, for editors) and the loader agree.
SCHEMA_CASES = [
    ('valid', REGISTRY, True),
    ('bad tier', REGISTRY.replace('risk_tier: high', 'risk_tier: extreme'), False),
    ('bad owner role', REGISTRY.replace('escalation: oncall', 'sponsor: oncall'), False),
    ('bad digest', REGISTRY.replace('a' * 64, 'A' * 64), False),
    ('unknown key', REGISTRY.replace('    region: eu-west-1\n', '    regoin: eu-west-1\n'), False),
    ('empty selector', REGISTRY.replace('      - {id: "model_server:00000000000000ff"}', '      - {}'), False),
    ('unknown selector key', REGISTRY.replace('{id: "model_server', '{pid: "model_server'), False),
    ('bad id', REGISTRY.replace('id: support-bot', 'id: Support Bot'), False),
    ('bad environment', REGISTRY.replace('environment: cloud', 'environment: mars'), False),
    ('allowed regions as one string', REGISTRY.replace('    region: eu-west-1\n', '    region: eu-west-1\n    allowed_regions: eu-west-1\n'), False),
    ('approved model with a kept copy', REGISTRY.replace('{name: enc,', '{path: /srv/approved/enc.bin, name: enc,'), True),
    ('approved model with a relative path', REGISTRY.replace('{name: enc,', '{path: enc.bin, name: enc,'), False),
    ('container selectors', REGISTRY.replace('{id: "model_server', '{image: "registry.example.com/*", k8s_namespace: prod, '
                                             '"label:app.kubernetes.io/part-of": support, container: "vllm-*", id: "model_server'), True),
    ('an empty label name', REGISTRY.replace('{id: "model_server', '{"label:": x, id: "model_server'), False),
    ('allowed regions as a list', REGISTRY.replace('    region: eu-west-1\n', '    region: eu-west-1\n    allowed_regions: [eu-west-1, eu-central-1]\n'), True),
]


@pytest.mark.parametrize('name, text, valid', SCHEMA_CASES, ids=[case[0] for case in SCHEMA_CASES])
def test_published_schema_agrees_with_the_loader(tmp_path, name, text, valid):
    import yaml
    from tests.contracts import validate
    from jsonschema import ValidationError
    try:
        load(tmp_path, text)
        loader_ok = True
    except DataFileError:
        loader_ok = False
    try:
        validate(yaml.safe_load(text), 'registry.v1.json')
        schema_ok = True
    except ValidationError:
        schema_ok = False
    assert (loader_ok, schema_ok) == (valid, valid), name


def test_bundled_registry_follows_the_published_schema():
    import yaml
    from tests.contracts import validate
    with open(os.path.join(ROOT, 'registry', 'default.yml')) as handle:
        validate(yaml.safe_load(handle), 'registry.v1.json')


CONTAINER_REGISTRY = """schema_version: 1
use_cases:
  - id: prod-llm
    risk_tier: high
    assets:
      - {image: "registry.example.com/*", k8s_namespace: prod, "label:team": llm}
"""


def test_container_selectors_match_a_servers_container_and_a_mounted_files_container(tmp_path):
    reg = load(tmp_path, CONTAINER_REGISTRY)
    container = {'name': 'vllm-0', 'image': 'registry.example.com/vllm:0.6.3', 'kubernetes': {'namespace': 'prod'},
                 'labels': {'team': 'llm'}}
    server = {'id': 'a', 'kind': 'model_server', 'attributes': {'container': container}}
    assert registry.match(reg, server)['use_case'] == 'prod-llm'
    model_file = {'id': 'b', 'kind': 'model_artifact', 'attributes': {'containers': [container]}}
    assert registry.match(reg, model_file)['use_case'] == 'prod-llm'
    for change in ({'image': 'docker.io/vllm/vllm-openai:v0.6.3'}, {'kubernetes': None}, {'labels': {'team': 'web'}}):
        other = {'id': 'c', 'kind': 'model_server', 'attributes': {'container': dict(container, **change)}}
        assert registry.match(reg, other)['shadow'], change
    assert registry.match(reg, {'id': 'd', 'kind': 'model_server', 'attributes': {}})['shadow']  # not in a container
