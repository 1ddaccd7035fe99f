"""The rollback refuses candidates whose model signature is missing, invalid or by an untrusted signer."""

import hashlib

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.model_rollback import rollback

from tests.model_signing_kit import CertificateAuthority, KeyPair


def sha(data):
    return hashlib.sha256(data).hexdigest()


V1, V2 = b'GGUF v1 weights' * 10, b'GGUF v2 weights' * 10


@pytest.fixture
def host(tmp_path):
    for name in ('srv', 'keep', 'approved', 'keys'):
        (tmp_path / name).mkdir()
    (tmp_path / 'srv' / 'model.gguf').write_bytes(b'tampered weights')
    (tmp_path / 'keep' / sha(V1)).write_bytes(V1)
    (tmp_path / 'approved' / 'v2.gguf').write_bytes(V2)
    return tmp_path


def models(host):
    return [{'name': 'v1', 'sha256': sha(V1)}, {'name': 'v2', 'sha256': sha(V2), 'path': str(host / 'approved' / 'v2.gguf')}]


def go(host, signatures, check_mode=False):
    return rollback(str(host / 'srv' / 'model.gguf'), models(host), str(host / 'keep'), str(host / 'q'), check_mode,
                    signatures)


def test_a_signed_candidate_is_restored_and_named(host):
    release = KeyPair(host / 'keys', 'release')
    release.sign(str(host / 'approved' / 'v2.gguf'))
    trust = {'required': True, 'signers': [{'name': 'release', 'public_key': release.public_pem}]}
    changed, result = go(host, trust)
    assert changed and result['approved_name'] == 'v2' and result['signature']['signer'] == 'release'
    assert (host / 'srv' / 'model.gguf').read_bytes() == V2


def test_bad_candidates_are_refused_with_reasons(host):
    release, stranger = KeyPair(host / 'keys', 'release'), KeyPair(host / 'keys', 'stranger')
    corp = CertificateAuthority(host / 'keys', 'corp')
    stranger.sign(str(host / 'approved' / 'v2.gguf'))  # newest: signed by a key the use case does not trust
    trust = {'required': True, 'signers': [{'name': 'release', 'public_key': release.public_pem},
                                           {'name': 'corp', 'certificates': corp.root_pem}]}
    with pytest.raises(AigovError) as refused:  # v1 is unsigned
        go(host, trust)
    message = str(refused.value)
    assert 'v2.gguf refused: signature invalid (untrusted_signer' in message
    assert '%s refused: unsigned' % sha(V1) in message and 'nothing was changed' in message
    assert (host / 'srv' / 'model.gguf').read_bytes() == b'tampered weights'
    corp.sign(str(host / 'keep' / sha(V1)), str(host / 'keep' / (sha(V1) + '.sig')))
    changed, result = go(host, trust, check_mode=True)
    assert changed and result['approved_name'] == 'v1' and result['signature']['signer'] == 'corp'
    assert (host / 'srv' / 'model.gguf').read_bytes() == b'tampered weights'  # check mode


def test_a_candidate_changed_after_signing_is_refused_even_with_its_approved_digest(host):
    """The registry digest was updated to the altered copy: the signature still says it is not what was signed."""
    release = KeyPair(host / 'keys', 'release')
    (host / 'approved' / 'v2.gguf').write_bytes(b'GGUF original')
    release.sign(str(host / 'approved' / 'v2.gguf'))
    (host / 'approved' / 'v2.gguf').write_bytes(V2)
    trust = {'required': True, 'signers': [{'name': 'release', 'public_key': release.public_pem}]}
    with pytest.raises(AigovError, match='v2.gguf refused: signature invalid \\(file_changed'):
        go(host, trust)


def test_not_required_keeps_the_old_behaviour(host):
    changed, result = go(host, {'required': False, 'signers': []})
    assert changed and result['approved_name'] == 'v2' and result['signature'] is None


def test_the_plan_carries_the_use_case_trust_and_the_start_entry_says_why(host):
    from ansible_collections.aigov.core.plugins.module_utils.audit import entries
    from ansible_collections.aigov.core.plugins.module_utils.remediation import gate
    release = KeyPair(host / 'keys', 'release')
    reg = {'model_signers': [{'name': 'release', 'public_key': release.public_pem}, {'name': 'other', 'identity': 'a@b',
                                                                                     'oidc_issuer': 'https://i'}],
           'use_cases': [{'id': 'fraud', 'require_signed_models': True, 'trusted_signers': ['release'],
                          'assets': [{'kind': 'model_server'}]}]}
    record = {'id': 'model_server:1', 'kind': 'model_server', 'name': 'vllm', 'host': 'gpu-1', 'attributes': {}}
    trust = gate.model_signatures(reg, record)
    assert trust['required'] is True and [signer['name'] for signer in trust['signers']] == ['release']
    assert gate.model_signatures(reg, None) == {'required': False, 'signers': []}
    plan = {'remediation': 'rollback_model', 'target': 'gpu-1', 'fingerprint': 'f', 'decision': 'automate',
            'asset_id': 'model_server:1', 'model_signatures': trust}
    entry = entries.remediation_start(plan, 'tester')
    assert entry['reasons'][1] == ('the use case requires signed models: a candidate must carry a valid model '
                                   'signature by release')
    assert 'BEGIN PUBLIC KEY' not in repr(entry)  # trust material stays out of the audit log
