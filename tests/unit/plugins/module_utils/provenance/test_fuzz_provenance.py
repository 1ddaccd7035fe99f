"""Whatever a signature file, certificate or key holds, the parsers end in ValueError (or a verdict), never anything else."""

import base64
import json
import shutil
import tempfile
import time

from hypothesis import given, settings, strategies as st

from ansible_collections.aigov.core.plugins.module_utils.host.hash_cache import HashCache
from ansible_collections.aigov.core.plugins.module_utils.discovery.model_signatures import cached_digest
from ansible_collections.aigov.core.plugins.module_utils.provenance import bundle, der, model_signature, public_keys, signers, x509

from tests.model_signing_kit import CertificateAuthority, KeyPair


def _trust():
    directory = tempfile.mkdtemp(prefix='aigov-fuzz-keys-')
    try:
        return signers.parse_signers([{'name': 'key', 'public_key': KeyPair(directory).public_pem},
                                      {'name': 'ca', 'certificates': CertificateAuthority(directory).root_pem},
                                      {'name': 'ci', 'identity': 'ci@example.com', 'oidc_issuer': 'https://issuer'}])
    finally:
        shutil.rmtree(directory)


TRUST = _trust()


def tlv(tag, parts):
    body = b''.join(parts)
    length = bytes([len(body)]) if len(body) < 128 else b'\x82' + len(body).to_bytes(2, 'big')
    return bytes([tag]) + length + body


DER_ISH = st.recursive(st.binary(max_size=40), lambda inner: st.builds(
    tlv, st.sampled_from([0x30, 0x31, 0x02, 0x03, 0x04, 0x06, 0x01, 0x17, 0x18, 0xa0, 0xa3, 0x0c]), st.lists(inner, max_size=6)),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(DER_ISH)
def test_certificates_and_keys_fail_only_with_value_error(data):
    for parse in (x509.Certificate, public_keys.load_spki, der.parse):
        try:
            parse(data)
        except ValueError:
            pass


def _bundle(payload, material, sig=b'\x30\x00'):
    return json.dumps({'mediaType': bundle.BUNDLE_MEDIA_TYPES[0], 'verificationMaterial': material,
                       'dsseEnvelope': {'payload': base64.b64encode(payload).decode(), 'payloadType': bundle.PAYLOAD_TYPE,
                                        'signatures': [{'sig': base64.b64encode(sig).decode()}]}}).encode()


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                       max_leaves=15)


@settings(max_examples=300, deadline=None)
@given(JSONISH, JSONISH, st.binary(max_size=80))
def test_any_bundle_gets_a_verdict(tmp_path_factory, payload, material, raw):
    model = tmp_path_factory.mktemp('m')
    (model / 'w.bin').write_bytes(b'weights')
    statement = {'_type': bundle.STATEMENT_TYPE, 'predicateType': bundle.PREDICATE_TYPE, 'subject': payload,
                 'predicate': {'serialization': payload, 'resources': material}}
    for content in (_bundle(json.dumps(statement).encode(), material if isinstance(material, dict) else {'publicKey': {}}),
                    _bundle(raw, {'x509CertificateChain': {'certificates': [{'rawBytes': base64.b64encode(raw).decode()}]}}),
                    _bundle(raw, {'certificate': {'rawBytes': base64.b64encode(raw).decode()}, 'tlogEntries': [1]}), raw):
        (model / 'model.sig').write_bytes(content)
        deadline = time.monotonic() + 10
        for trusted in ([], TRUST):
            result, _problem = model_signature.verify_model(str(model / 'model.sig'), str(model), 'directory', trusted,
                                                            cached_digest(HashCache(None), deadline), deadline)
            assert result['status'] in ('invalid', 'unverified')
