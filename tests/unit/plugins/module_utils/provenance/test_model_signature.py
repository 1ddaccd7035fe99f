"""Real model-signing signatures (key pair and certificate modes, made offline here) verified on the
host side; each verdict is checked against model-signing's own verifier on the same files."""

import base64
import datetime
import json
import os
import shutil
import time

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.aigov.core.plugins.module_utils.host.hash_cache import HashCache
from ansible_collections.aigov.core.plugins.module_utils.discovery.model_signatures import cached_digest
from ansible_collections.aigov.core.plugins.module_utils.provenance import model_signature, signers

from tests.model_signing_kit import CertificateAuthority, KeyPair, library_verifies


@pytest.fixture(scope='module')
def trust(tmp_path_factory):
    keys = tmp_path_factory.mktemp('keys')
    release, stranger, corp, rogue = KeyPair(keys, 'release'), KeyPair(keys, 'stranger'), CertificateAuthority(keys, 'corp'), \
        CertificateAuthority(keys, 'rogue')
    for pair, name in ((release, 'release'), (stranger, 'stranger')):
        pair.public_path = str(keys / ('%s.pub' % name))
        with open(pair.public_path, 'w') as handle:
            handle.write(pair.public_pem)
    trusted = signers.parse_signers([{'name': 'release', 'public_key': release.public_pem},
                                     {'name': 'corp-pki', 'certificates': corp.root_pem}])
    return {'release': release, 'stranger': stranger, 'corp': corp, 'rogue': rogue, 'signers': trusted}


def model_dir(base, name='model'):
    path = base / name
    (path / 'onnx').mkdir(parents=True)
    (path / 'model.safetensors').write_bytes(b'\x10' * 4096)
    (path / 'config.json').write_text('{"architectures": ["Bert"]}')
    (path / 'onnx' / 'model.onnx').write_bytes(b'\x08\x07' + b'\x01' * 500)
    return path


def check(signature, model, scope, signer_list, deadline=None, cache=None):
    digest_of = cached_digest(cache or HashCache(None), deadline or time.monotonic() + 30)
    return model_signature.verify_model(str(signature), str(model), scope, signer_list, digest_of,
                                        deadline or time.monotonic() + 30)


def test_signed_directory_key_pair(tmp_path, trust):
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    result, problem = check(signature, model, 'directory', trust['signers'])
    assert problem is None and library_verifies(model, signature, trust['release'].public_path) is None
    assert (result['status'], result['signer'], result['method'], result['reasons']) == ('signed', 'release', 'key', [])
    assert result['signer_fingerprint'] == trust['signers'][0]['fingerprint']


def test_signed_file_certificate(tmp_path, trust):
    model = tmp_path / 'llama.gguf'
    model.write_bytes(b'GGUF' + b'\x00' * 1000)
    signature = trust['corp'].sign(model)
    result, problem = check(signature, model, 'file', trust['signers'])
    assert problem is None and library_verifies(model, signature, root_path=trust['corp'].root_path) is None
    assert (result['status'], result['signer'], result['method']) == ('signed', 'corp-pki', 'certificate')
    assert result['signer_subject'] == trust['corp'].leaf_subject


@pytest.mark.parametrize('tamper, reason', [
    (lambda model: (model / 'config.json').write_text('{"architectures": ["Evil"]}'), 'file_changed'),
    (lambda model: (model / 'onnx' / 'extra.bin').write_bytes(b'added'), 'file_added'),
    (lambda model: (model / 'onnx' / 'model.onnx').unlink(), 'file_missing'),
    (lambda model: os.symlink('/etc/passwd', str(model / 'link')), 'symlink'),
])
@pytest.mark.parametrize('mode', ['release', 'corp'])
def test_a_model_changed_after_signing_is_invalid(tmp_path, trust, tamper, reason, mode):
    model = model_dir(tmp_path)
    signature = trust[mode].sign(model)
    tamper(model)
    result, problem = check(signature, model, 'directory', trust['signers'])
    assert problem is None
    assert (result['status'], result['reasons']) == ('invalid', [reason])
    assert result['signer'] == ('release' if mode == 'release' else 'corp-pki')  # who signed is still known
    reference = dict(release={'public_key_path': trust['release'].public_path},
                     corp={'root_path': trust['corp'].root_path})[mode]
    assert library_verifies(model, signature, **reference) is not None


@pytest.mark.parametrize('signer', ['stranger', 'rogue'])
def test_untrusted_signer_is_invalid(tmp_path, trust, signer):
    model = model_dir(tmp_path)
    signature = trust[signer].sign(model)
    result, problem = check(signature, model, 'directory', trust['signers'])
    assert problem is None
    assert (result['status'], result['reasons'], result['signer']) == ('invalid', ['untrusted_signer'], None)
    reference = {'public_key_path': trust['release'].public_path} if signer == 'stranger' else \
        {'root_path': trust['corp'].root_path}
    assert library_verifies(model, signature, **reference) is not None


def _rewrite(signature, change):
    with open(str(signature)) as handle:
        data = json.load(handle)
    change(data)
    with open(str(signature), 'w') as handle:
        json.dump(data, handle)


def test_a_forged_manifest_does_not_verify(tmp_path, trust):
    """The attacker edits the manifest to match the changed file: the DSSE signature no longer verifies."""
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    (model / 'config.json').write_text('{"evil": true}')
    fresh = KeyPair(tmp_path, 'throwaway')
    forged = tmp_path / 'forged.sig'
    fresh.sign(model, str(forged))
    payload = json.load(open(str(forged)))['dsseEnvelope']['payload']
    _rewrite(signature, lambda data: data['dsseEnvelope'].__setitem__('payload', payload))
    result, _problem = check(signature, model, 'directory', trust['signers'])
    assert (result['status'], result['reasons']) == ('invalid', ['bad_signature'])
    assert library_verifies(model, signature, trust['release'].public_path) is not None


@pytest.mark.parametrize('content', [b'', b'{', b'[]', b'{"mediaType": "text/plain"}', b'\xff' * 100])
def test_a_malformed_signature_is_invalid_not_a_crash(tmp_path, trust, content):
    model = model_dir(tmp_path)
    (model / 'model.sig').write_bytes(content)
    result, problem = check(model / 'model.sig', model, 'directory', trust['signers'])
    assert (result['status'], result['reasons'], problem) == ('invalid', ['malformed'], None)


def test_without_trusted_signers_it_is_unverified_with_a_problem(tmp_path, trust):
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    result, problem = check(signature, model, 'directory', [])
    assert result['status'] == 'unverified' and 'no trusted key signer' in problem
    (model / 'config.json').write_text('{}')
    result, problem = check(signature, model, 'directory', [])
    assert (result['status'], result['reasons'], problem) == ('invalid', ['file_changed'], None)


def test_budget_out_is_unverified_not_a_verdict(tmp_path, trust):
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    result, problem = check(signature, model, 'directory', trust['signers'], deadline=time.monotonic() - 1)
    assert result['status'] == 'unverified' and 'hash_budget' in problem


def test_cached_digests_are_not_read_again(tmp_path, trust, monkeypatch):
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    cache = HashCache(None)
    assert check(signature, model, 'directory', trust['signers'], cache=cache)[0]['status'] == 'signed'
    from ansible_collections.aigov.core.plugins.module_utils.discovery import model_signatures
    monkeypatch.setattr(model_signatures, 'sha256_within', lambda *a, **k: pytest.fail('hashed a cached file'))
    assert check(signature, model, 'directory', trust['signers'], cache=cache)[0]['status'] == 'signed'


def test_shard_serialization(tmp_path, trust):
    import model_signing
    model = model_dir(tmp_path)
    config = model_signing.signing.Config().use_elliptic_key_signer(private_key=trust['release'].private_path)
    config.set_hashing_config(model_signing.hashing.Config().use_shard_serialization(shard_size=1000)
                              .set_ignored_paths(paths=['model.sig']))
    config.sign(str(model), str(model / 'model.sig'))
    assert check(model / 'model.sig', model, 'directory', trust['signers'])[0]['status'] == 'signed'
    with open(str(model / 'model.safetensors'), 'r+b') as handle:
        handle.seek(2500)
        handle.write(b'\x11')
    result = check(model / 'model.sig', model, 'directory', trust['signers'])[0]
    assert (result['status'], result['reasons']) == ('invalid', ['file_changed'])


def _keyless_certificate(identity, issuer):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_der = b'\x0c' + bytes([len(issuer)]) + issuer.encode()
    certificate = (cx509.CertificateBuilder().subject_name(cx509.Name([])).issuer_name(
        cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, 'sigstore-intermediate')]))
        .public_key(key.public_key()).serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(minutes=10))
        .add_extension(cx509.SubjectAlternativeName([cx509.RFC822Name(identity)]), critical=True)
        .add_extension(cx509.UnrecognizedExtension(cx509.ObjectIdentifier('1.3.6.1.4.1.57264.1.8'), issuer_der), False)
        .sign(key, hashes.SHA256()))
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def test_keyless_is_reported_unverified_without_network(tmp_path, trust):
    """A Sigstore bundle (Fulcio certificate + transparency log entry) is not checked on the host, and never hangs."""
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    raw = _keyless_certificate('ci@example.com', 'https://token.actions.example')
    _rewrite(signature, lambda data: data.__setitem__('verificationMaterial', {
        'certificate': {'rawBytes': raw}, 'tlogEntries': [{'logIndex': '1'}]}))
    keyless = signers.parse_signers([{'name': 'ci', 'identity': 'ci@example.com', 'oidc_issuer': 'https://token.actions.example'}])
    started = time.monotonic()
    result, problem = check(signature, model, 'directory', keyless)
    assert time.monotonic() - started < 5
    assert result['status'] == 'unverified' and 'Sigstore' in problem
    assert result['claimed_identity'] == {'identity': 'ci@example.com', 'oidc_issuer': 'https://token.actions.example'}
    other = signers.parse_signers([{'name': 'ci', 'identity': 'someone@example.com', 'oidc_issuer': 'https://token.actions.example'}])
    result, problem = check(signature, model, 'directory', other)
    assert (result['status'], result['reasons']) == ('invalid', ['untrusted_signer'])


def test_find_signature(tmp_path):
    root = tmp_path / 'models'
    model = model_dir(root)
    target = str(model / 'onnx' / 'model.onnx')
    assert model_signature.find_signature(target, str(root)) is None
    (model / 'model.sig').write_text('{}')
    assert model_signature.find_signature(target, str(root)) == (str(model / 'model.sig'), str(model), 'directory')
    (model / 'onnx' / 'model.onnx.sig').write_text('{}')
    assert model_signature.find_signature(target, str(root))[2] == 'file'
    shutil.rmtree(str(model))
    (root / 'model.sig').write_text('{}')  # the root itself may be one model directory
    assert model_signature.find_signature(str(root / 'x.gguf'), str(root))[1] == str(root)


@pytest.mark.parametrize('settings, message', [
    ([{'name': 'x'}], 'exactly one'),
    ([{'name': 'x', 'public_key': 'not pem'}], 'one PEM PUBLIC KEY'),
    ([{'name': 'x', 'identity': 'a@b'}], 'needs oidc_issuer'),
    ([{'name': 'bad name!', 'identity': 'a@b', 'oidc_issuer': 'i'}], 'name must be'),
    ([{'name': 'x', 'identity': 'a', 'oidc_issuer': 'i'}, {'name': 'x', 'identity': 'b', 'oidc_issuer': 'i'}], 'duplicate'),
    ([{'name': 'x', 'certificates': 'none'}], 'at least one PEM CERTIFICATE'),
    ([{'name': 'x', 'identity': 'a', 'oidc_issuer': 'i', 'colour': 'red'}], 'unknown key'),
])
def test_bad_signer_settings_are_refused_clearly(settings, message):
    with pytest.raises(ValueError, match=message):
        signers.parse_signers(settings)


def test_a_fifo_in_the_model_is_an_added_file_never_opened(tmp_path, trust):
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    os.mkfifo(str(model / 'onnx' / 'pipe'))  # opening it for reading would block
    started = time.monotonic()
    result, problem = check(signature, model, 'directory', trust['signers'])
    assert time.monotonic() - started < 5 and problem is None
    assert (result['status'], result['reasons']) == ('invalid', ['file_added'])
    assert result['details'] == ['file added after signing: onnx/pipe']


def test_a_symlinked_signature_is_not_followed(tmp_path, trust):
    model = model_dir(tmp_path)
    signature = trust['release'].sign(model)
    os.rename(signature, str(tmp_path / 'elsewhere.sig'))
    os.symlink(str(tmp_path / 'elsewhere.sig'), signature)
    assert model_signature.find_signature(str(model / 'config.json'), str(tmp_path)) is None
    result, problem = check(signature, model, 'directory', trust['signers'])  # raced in after the lookup
    assert result['status'] == 'unverified' and 'cannot read it (not a regular file)' in problem
