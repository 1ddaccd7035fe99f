"""Registry: model_signers, require_signed_models and trusted_signers (docs/model-provenance.md)."""

import textwrap

import pytest
import yaml

from ansible_collections.aigov.core.plugins.module_utils.common.errors import DataFileError
from ansible_collections.aigov.core.plugins.module_utils.store import registry, registry_signers

from tests.contracts import validate
from tests.fixtures import policy_assets as pa
from tests.model_signing_kit import KeyPair


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    directory = tmp_path_factory.mktemp('keys')
    return KeyPair(directory, 'release').public_pem, KeyPair(directory, 'vendor').public_pem


def write(tmp_path, release, vendor, use_case_extra):
    data = {'schema_version': 1,
            'model_signers': [{'name': 'ml-release', 'public_key': release}, {'name': 'vendor', 'public_key': vendor}],
            'use_cases': [dict({'id': 'fraud', 'risk_tier': 'high', 'assets': [{'kind': 'model_artifact'}]}, **use_case_extra)]}
    path = tmp_path / 'registry.yml'
    path.write_text(yaml.safe_dump(data))
    validate(data, 'registry.v1.json')
    return registry.load_registry(str(path))


def test_match_says_whether_the_signer_is_trusted(tmp_path, keys):
    reg = write(tmp_path, *keys, use_case_extra={'require_signed_models': True, 'trusted_signers': ['ml-release']})
    trusted = registry.match(reg, pa.signed_model_file('signed', 'ml-release'))
    other = registry.match(reg, pa.signed_model_file('signed', 'vendor'))
    unsigned = registry.match(reg, pa.signed_model_file('unsigned'))
    assert (trusted['require_signed_models'], trusted['trusted_signers'], trusted['signer_trusted']) == (True, ['ml-release'], True)
    assert other['signer_trusted'] is False and unsigned['signer_trusted'] is None
    for match in (trusted, other, unsigned):
        validate(dict(pa.model_file(), registry=match), 'asset.v1.json')


def test_without_trusted_signers_every_registry_signer_is_trusted(tmp_path, keys):
    reg = write(tmp_path, *keys, use_case_extra={'require_signed_models': True})
    assert registry.match(reg, pa.signed_model_file('signed', 'vendor'))['signer_trusted'] is True
    trust = registry_signers.trust_for(reg, 'fraud')
    assert trust['required'] is True and [signer['name'] for signer in trust['signers']] == ['ml-release', 'vendor']
    assert registry_signers.trust_for(reg, 'nope') == {'required': False, 'signers': []}


def test_records_without_provenance_keep_their_shape(tmp_path):
    path = tmp_path / 'r.yml'
    path.write_text('schema_version: 1\nuse_cases:\n  - {id: chat, assets: [{kind: model_artifact}]}\n')
    match = registry.match(registry.load_registry(str(path)), pa.model_file())
    assert 'signer_trusted' not in match and 'require_signed_models' not in match


@pytest.mark.parametrize('extra, top, message', [
    ({'trusted_signers': ['ghost']}, None, 'ghost, not in model_signers'),
    ({'trusted_signers': 'ml-release'}, None, 'trusted_signers must be a list'),
    ({'require_signed_models': 'yes'}, None, 'require_signed_models must be true or false'),
    ({}, [{'name': 'broken', 'public_key': 'no pem here'}], 'model_signers\\[0\\] \\(broken\\): public_key must hold one PEM'),
])
def test_bad_provenance_settings_name_the_problem(tmp_path, keys, extra, top, message):
    data = {'schema_version': 1, 'model_signers': top or [{'name': 'ml-release', 'public_key': keys[0]}],
            'use_cases': [dict({'id': 'fraud', 'assets': [{'kind': 'model_artifact'}]}, **extra)]}
    path = tmp_path / 'registry.yml'
    path.write_text(textwrap.dedent(yaml.safe_dump(data)))
    with pytest.raises(DataFileError, match=message):
        registry.load_registry(str(path))
