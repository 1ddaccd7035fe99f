"""Model files recognised by content, described, and discovered under roots."""

import json
import os
import pickle
import struct
import zipfile

import pytest

from ansible_collections.aigov.core.plugins.module_utils.discovery import artifact_discovery, model_files
from ansible_collections.aigov.core.plugins.module_utils.host.hash_cache import sha256_file

from tests.contracts import validate


class RunsCommand(object):
    def __reduce__(self):
        return (os.system, ('true',))


def gguf_bytes():
    return b'GGUF' + struct.pack('<IQQ', 3, 2, 5) + b'\0' * 64


def safetensors_bytes():
    header = json.dumps({'w': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
                         '__metadata__': {'format': 'pt'}}).encode()
    return struct.pack('<Q', len(header)) + header + b'\0' * 8


def torch_zip(path, payload):
    with zipfile.ZipFile(str(path), 'w') as archive:
        archive.writestr('archive/data.pkl', pickle.dumps(payload, protocol=2))
        archive.writestr('archive/version', '3\n')


def plant(root):
    root.mkdir(exist_ok=True)
    (root / 'llama.gguf').write_bytes(gguf_bytes())
    (root / 'model.safetensors').write_bytes(safetensors_bytes())
    torch_zip(root / 'ok.pt', {'w': [1.0]})
    torch_zip(root / 'evil.pt', {'w': RunsCommand()})
    (root / 'evil.pkl').write_bytes(pickle.dumps(RunsCommand(), protocol=0))
    (root / 'model.onnx').write_bytes(b'\x08\x07\x12\x07pytorch' + b'\0' * 16)
    (root / 'weights.h5').write_bytes(model_files.HDF5_MAGIC + b'\0' * 16)
    (root / 'README.md').write_text('not a model, even at length ' * 4)
    (root / 'notes.zip').write_bytes(b'PK\x05\x06' + b'\0' * 18)


@pytest.mark.parametrize('name, head, expected', [
    ('a.bin', gguf_bytes()[:16], 'gguf'),
    ('blob', safetensors_bytes()[:16], 'safetensors'),
    ('x.onnx', b'\x08\x07' + b'\0' * 14, 'onnx'),
    ('x.bin', b'\x08\x07' + b'\0' * 14, None),
    ('m.h5', model_files.HDF5_MAGIC + b'\0' * 8, 'hdf5'),
    ('p', pickle.dumps([1], protocol=4)[:16], 'pickle'),
    ('t.bin', pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)[:16], 'pytorch_legacy'),
    ('x.pkl', b'(lp0\nI1\na.' + b' ' * 6, 'pickle'),
    ('x.txt', b'hello world, not', None),
])
def test_detect_format(name, head, expected):
    assert model_files.detect_format(name, head) == expected


def test_discovery_finds_each_planted_file_and_nothing_else(tmp_path):
    plant(tmp_path / 'models')
    options = {'artifact_roots': [str(tmp_path / 'models')], 'hash_cache': str(tmp_path / 'h.json'), 'hash_budget': 60}
    assets, problems = artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')
    by_name = dict((a['name'], a['attributes']) for a in assets)
    assert sorted(by_name) == ['evil.pkl', 'evil.pt', 'llama.gguf', 'model.onnx', 'model.safetensors', 'ok.pt', 'weights.h5']
    assert problems == []
    assert by_name['llama.gguf']['details'] == {'gguf_version': 3, 'tensor_count': 2, 'metadata_count': 5}
    assert by_name['model.safetensors']['details'] == {'tensor_count': 1, 'metadata': {'format': 'pt'}}
    assert by_name['evil.pt']['executes_code_on_load'] and by_name['evil.pkl']['executes_code_on_load']
    assert not by_name['ok.pt']['executes_code_on_load'] and by_name['ok.pt']['pickle']['dangerous'] == []
    assert by_name['llama.gguf']['sha256'] == sha256_file(str(tmp_path / 'models' / 'llama.gguf'))
    for asset in assets:
        validate(asset, 'asset.v1.json')


def test_ids_stable_and_cache_used(tmp_path, monkeypatch):
    plant(tmp_path / 'models')
    options = {'artifact_roots': [str(tmp_path / 'models')], 'hash_cache': str(tmp_path / 'h.json')}
    first = artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')[0]

    def must_not_hash(*_args, **_kwargs):
        raise AssertionError('hashed a file whose digest was cached')
    monkeypatch.setattr(artifact_discovery, 'sha256_within', must_not_hash)
    second = artifact_discovery.discover_model_artifacts(options, 'node1', 'mid')[0]
    assert [(a['id'], a['attributes']['sha256']) for a in first] == [(a['id'], a['attributes']['sha256']) for a in second]


def test_changed_file_is_hashed_again(tmp_path):
    root = tmp_path / 'models'
    root.mkdir()
    target = root / 'm.gguf'
    target.write_bytes(gguf_bytes())
    options = {'artifact_roots': [str(root)], 'hash_cache': str(tmp_path / 'h.json')}
    before = artifact_discovery.discover_model_artifacts(options, 'n', 'm')[0][0]['attributes']['sha256']
    target.write_bytes(gguf_bytes() + b'more')
    os.utime(str(target), ns=(1, 10 ** 18))
    after = artifact_discovery.discover_model_artifacts(options, 'n', 'm')[0][0]['attributes']['sha256']
    assert before != after == sha256_file(str(target))


def test_exhausted_budget_leaves_digest_null_and_says_so(tmp_path):
    plant(tmp_path / 'models')
    options = {'artifact_roots': [str(tmp_path / 'models')], 'hash_cache': str(tmp_path / 'h.json'), 'hash_budget': 0}
    assets, problems = artifact_discovery.discover_model_artifacts(options, 'n', 'm')
    assert all(a['attributes']['sha256'] is None for a in assets)
    assert problems == ['model_artifact: 7 file(s) not hashed within hash_budget; the next run continues']


def test_world_writable_and_unreadable_files(tmp_path):
    root = tmp_path / 'models'
    root.mkdir()
    (root / 'open.gguf').write_bytes(gguf_bytes())
    os.chmod(str(root / 'open.gguf'), 0o666)
    (root / 'broken.safetensors').write_bytes(struct.pack('<Q', 50) + b'{not json' + b'\0' * 50)
    options = {'artifact_roots': [str(root)], 'hash_cache': str(tmp_path / 'h.json')}
    assets, problems = artifact_discovery.discover_model_artifacts(options, 'n', 'm')
    by_name = dict((a['name'], a['attributes']) for a in assets)
    assert by_name['open.gguf']['world_writable'] is True and by_name['open.gguf']['mode'] == '0666'
    assert any('broken.safetensors looks like safetensors but could not be parsed' in p for p in problems)


def test_home_roots_expand_to_every_home(tmp_path, user_homes):
    homes = [tmp_path / 'alice', tmp_path / 'bob', tmp_path / 'carol']
    for home in homes[:2]:
        (home / '.ollama' / 'models').mkdir(parents=True)
    user_homes(*homes)
    assert artifact_discovery.expand_roots(['~/.ollama/models', str(tmp_path / 'missing')]) == [
        str(homes[0] / '.ollama' / 'models'), str(homes[1] / '.ollama' / 'models')]


def test_check_mode_does_not_write_the_cache(tmp_path):
    plant(tmp_path / 'models')
    options = {'artifact_roots': [str(tmp_path / 'models')], 'hash_cache': str(tmp_path / 'c' / 'h.json'), 'check_mode': True}
    artifact_discovery.discover_model_artifacts(options, 'n', 'm')
    assert not (tmp_path / 'c').exists()
