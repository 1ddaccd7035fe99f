"""Discovery reports the provenance of every model artifact (attributes.signature), sharing the hash cache."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import artifact_discovery, model_signatures

from tests.contracts import validate
from tests.model_signing_kit import KeyPair
from tests.unit.plugins.module_utils.discovery.test_model_files import gguf_bytes, safetensors_bytes


@pytest.fixture
def estate(tmp_path):
    root = tmp_path / 'models'
    signed, unsigned = root / 'bert', root / 'loose'
    signed.mkdir(parents=True)
    unsigned.mkdir()
    (signed / 'model.safetensors').write_bytes(safetensors_bytes())
    (signed / 'config.json').write_text('{}')
    (signed / 'empty.txt').write_text('')
    (unsigned / 'tiny.gguf').write_bytes(gguf_bytes())
    (root / 'solo.gguf').write_bytes(gguf_bytes() + b'solo')
    key = KeyPair(tmp_path)
    key.sign(str(signed))
    key.sign(str(root / 'solo.gguf'))
    options = {'artifact_roots': [str(root)], 'hash_cache': str(tmp_path / 'h.json'),
               'model_signers': [{'name': 'release', 'public_key': key.public_pem}]}
    return root, options


def by_name(assets):
    return dict((asset['name'], asset['attributes']['signature']) for asset in assets)


def test_every_model_artifact_names_its_signature(estate):
    root, options = estate
    assets, problems = artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')
    for asset in assets:
        validate(asset, 'asset.v1.json')
    found = by_name(assets)
    assert (found['model.safetensors']['status'], found['model.safetensors']['signer'],
            found['model.safetensors']['scope']) == ('signed', 'release', 'directory')
    assert (found['solo.gguf']['status'], found['solo.gguf']['scope']) == ('signed', 'file')
    assert found['tiny.gguf']['status'] == 'unsigned'
    assert problems == []
    (root / 'bert' / 'config.json').write_text('{"changed": 1}')
    found = by_name(artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')[0])
    assert (found['model.safetensors']['status'], found['model.safetensors']['reasons']) == ('invalid', ['file_changed'])


def test_a_second_run_reads_no_file_again(estate, monkeypatch):
    _root, options = estate
    first = by_name(artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')[0])

    def must_not_hash(*_args, **_kwargs):
        raise AssertionError('hashed a file whose digest was cached')
    monkeypatch.setattr(artifact_discovery, 'sha256_within', must_not_hash)
    monkeypatch.setattr(model_signatures, 'sha256_within', must_not_hash)
    assert by_name(artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')[0]) == first


def test_bad_signer_settings_in_the_engine_are_a_problem(estate):
    _root, options = estate
    options['model_signers'] = [{'name': 'x'}]
    assets, problems = artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')
    assert any('exactly one' in problem for problem in problems)
    assert by_name(assets)['model.safetensors']['status'] == 'unverified'
