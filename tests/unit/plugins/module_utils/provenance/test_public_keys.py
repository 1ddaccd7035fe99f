"""The standard-library verifiers agree with `cryptography` on real keys and signatures."""

import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ansible_collections.aigov.core.plugins.module_utils.provenance import der, public_keys


def _spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize('curve, digest', [(ec.SECP256R1(), hashes.SHA256()), (ec.SECP384R1(), hashes.SHA384()),
                                           (ec.SECP521R1(), hashes.SHA512()), (ec.SECP384R1(), hashes.SHA256())])
def test_ecdsa_matches_cryptography(curve, digest):
    private = ec.generate_private_key(curve)
    key = public_keys.load_spki(_spki(private))
    assert public_keys.on_curve(key['curve'], key['curve'].g)
    for _round in range(4):
        message = os.urandom(64)
        signature = private.sign(message, ec.ECDSA(digest))
        assert public_keys.verify(key, digest.name, signature, message)
        assert not public_keys.verify(key, digest.name, signature, message + b'!')
    other = public_keys.load_spki(_spki(ec.generate_private_key(curve)))
    assert not public_keys.verify(other, digest.name, signature, message)


def test_rsa_pkcs1v15_matches_cryptography():
    private = rsa.generate_private_key(65537, 2048)
    key = public_keys.load_spki(_spki(private))
    signature = private.sign(b'model', padding.PKCS1v15(), hashes.SHA384())
    assert public_keys.verify(key, 'sha384', signature, b'model')
    assert not public_keys.verify(key, 'sha256', signature, b'model')
    assert not public_keys.verify(key, 'sha384', signature[:-1] + bytes([signature[-1] ^ 1]), b'model')


@pytest.mark.parametrize('signature', [b'', b'\x30\x00', b'\x30\x06\x02\x01\x00\x02\x01\x01', b'\x30\x81', os.urandom(70)])
def test_malformed_ecdsa_signature_is_false_not_an_error(signature):
    key = public_keys.load_spki(_spki(ec.generate_private_key(ec.SECP256R1())))
    assert public_keys.verify(key, 'sha256', signature, b'x') is False


def test_a_point_off_the_curve_is_refused():
    spki = bytearray(_spki(ec.generate_private_key(ec.SECP256R1())))
    spki[-1] ^= 1
    with pytest.raises(ValueError, match='not on its curve'):
        public_keys.load_spki(bytes(spki))


def test_unsupported_curve_and_short_rsa_are_refused():
    with pytest.raises(ValueError, match='curve not supported'):
        public_keys.load_spki(_spki(ec.generate_private_key(ec.SECP256K1())))
    with pytest.raises(ValueError, match='2048'):
        public_keys.load_spki(_spki(rsa.generate_private_key(65537, 1024)))


@pytest.mark.parametrize('data', [b'', b'\x30', b'\x30\x05\x02', b'\x30\x84\xff\xff\xff\xff', b'\x1f\x00', b'\x30\x00\x00'])
def test_der_rejects_truncated_or_trailing_input(data):
    with pytest.raises(ValueError):
        der.parse(data)


def test_pem_round_trip_is_what_cryptography_writes():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert der.to_pem(der.pem_blocks(pem, 'PUBLIC KEY')[0], 'PUBLIC KEY').encode() == pem
