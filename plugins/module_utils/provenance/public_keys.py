# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signature verification with the standard library only: ECDSA (P-256/384/521) and RSA PKCS#1 v1.5.

Why it exists: model signatures are checked on the host where the model lies, and the host
has no `cryptography`. Only *verification* is done here, over public data (a public key, a
signature, a message), so there is no secret to leak through timing. The curve constants
are the NIST ones; tests/unit cross-check every path against `cryptography`.
"""

from __future__ import annotations

import hashlib

from ansible_collections.aigov.core.plugins.module_utils.provenance import der


class Curve(object):
    def __init__(self, name, p, b, gx, gy, n, digest):
        self.name, self.p, self.a, self.b, self.g, self.n, self.digest = name, p, p - 3, b, (gx, gy), n, digest
        self.size = (p.bit_length() + 7) // 8


CURVES = {
    '1.2.840.10045.3.1.7': Curve(
        'secp256r1', 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff,
        0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b,
        0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296,
        0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5,
        0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551, 'sha256'),
    '1.3.132.0.34': Curve(
        'secp384r1', 2 ** 384 - 2 ** 128 - 2 ** 96 + 2 ** 32 - 1,
        0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef,
        0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7,
        0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f,
        0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973, 'sha384'),
    '1.3.132.0.35': Curve(
        'secp521r1', 2 ** 521 - 1,
        0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00,
        0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66,
        0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650,
        0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409, 'sha512'),
}
EC_KEY, RSA_KEY = '1.2.840.10045.2.1', '1.2.840.113549.1.1.1'
# signatureAlgorithm OIDs of certificates: (key type, digest)
SIGNATURE_ALGORITHMS = {
    '1.2.840.10045.4.3.2': ('ec', 'sha256'), '1.2.840.10045.4.3.3': ('ec', 'sha384'),
    '1.2.840.10045.4.3.4': ('ec', 'sha512'), '1.2.840.113549.1.1.11': ('rsa', 'sha256'),
    '1.2.840.113549.1.1.12': ('rsa', 'sha384'), '1.2.840.113549.1.1.13': ('rsa', 'sha512'),
}
_DIGEST_INFO = {  # DER prefix of DigestInfo for PKCS#1 v1.5
    'sha256': bytes.fromhex('3031300d060960864801650304020105000420'),
    'sha384': bytes.fromhex('3041300d060960864801650304020205000430'),
    'sha512': bytes.fromhex('3051300d060960864801650304020305000440'),
}


def _add(curve, one, two):
    """Sum of two points in Jacobian coordinates (None is the point at infinity)."""
    if one is None:
        return two
    if two is None:
        return one
    p = curve.p
    x1, y1, z1 = one
    x2, y2, z2 = two
    z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
    u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
    s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
    if u1 == u2:
        return _double(curve, one) if s1 == s2 else None
    h, r = (u2 - u1) % p, (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return x3, (r * (v - x3) - s1 * hhh) % p, h * z1 * z2 % p


def _double(curve, point):
    if point is None:
        return None
    p = curve.p
    x, y, z = point
    if y == 0:
        return None
    yy = y * y % p
    s = 4 * x * yy % p
    zz = z * z % p
    m = (3 * x * x + curve.a * zz * zz) % p
    x3 = (m * m - 2 * s) % p
    return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p


def _twin_multiply(curve, k1, point1, k2, point2):
    """k1*point1 + k2*point2 (Shamir's trick), affine result or None."""
    one, two = point1 + (1,), point2 + (1,)
    both = _add(curve, one, two)
    total = None
    for bit in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        total = _double(curve, total)
        pick = ((k1 >> bit) & 1, (k2 >> bit) & 1)
        total = _add(curve, total, {(1, 0): one, (0, 1): two, (1, 1): both}.get(pick))
    if total is None:
        return None
    x, y, z = total
    inverse = pow(z, -1, curve.p)
    return x * inverse * inverse % curve.p, y * inverse * inverse * inverse % curve.p


def on_curve(curve, point):
    x, y = point
    return 0 <= x < curve.p and 0 <= y < curve.p and (y * y - x * x * x - curve.a * x - curve.b) % curve.p == 0


def _ecdsa(key, digest_name, signature, message):
    curve, point = key['curve'], key['point']
    try:
        sequence = der.parse(signature, der.SEQUENCE).children()
        if len(sequence) != 2:
            return False
        r, s = der.integer(sequence[0]), der.integer(sequence[1])
    except ValueError:
        return False
    if not (0 < r < curve.n and 0 < s < curve.n):
        return False
    digest = hashlib.new(digest_name, message).digest()
    e = int.from_bytes(digest, 'big')
    extra = len(digest) * 8 - curve.n.bit_length()
    if extra > 0:
        e >>= extra
    w = pow(s, -1, curve.n)
    result = _twin_multiply(curve, e * w % curve.n, curve.g, r * w % curve.n, point)
    return result is not None and result[0] % curve.n == r


def _rsa(key, digest_name, signature, message):
    n, e = key['n'], key['e']
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    encoded = pow(int.from_bytes(signature, 'big'), e, n).to_bytes(size, 'big')
    info = _DIGEST_INFO[digest_name] + hashlib.new(digest_name, message).digest()
    return encoded == b'\x00\x01' + b'\xff' * (size - len(info) - 3) + b'\x00' + info


def load_spki(spki_der):
    """A public key from its SubjectPublicKeyInfo DER: {type, curve|n,e, der}; ValueError when unsupported."""
    try:
        return _load_spki(spki_der)
    except (IndexError, TypeError) as exc:  # a structure too short or of the wrong shape
        raise ValueError('malformed public key (%s)' % type(exc).__name__)


def _load_spki(spki_der):
    algorithm, key_bits = der.parse(spki_der, der.SEQUENCE).children()[:2]
    parts = der.expect(algorithm, der.SEQUENCE).children()
    kind = der.oid(parts[0])
    bits, unused = der.bit_string(key_bits)
    if unused:
        raise ValueError('public key bit string has unused bits')
    if kind == EC_KEY:
        curve = CURVES.get(der.oid(parts[1])) if len(parts) > 1 and parts[1].tag == der.OID else None
        if curve is None:
            raise ValueError('elliptic curve not supported (P-256, P-384, P-521 are)')
        if len(bits) != 1 + 2 * curve.size or bits[:1] != b'\x04':
            raise ValueError('only uncompressed elliptic curve points are supported')
        point = (int.from_bytes(bits[1:1 + curve.size], 'big'), int.from_bytes(bits[1 + curve.size:], 'big'))
        if not on_curve(curve, point):
            raise ValueError('public key point is not on its curve')
        return {'type': 'ec', 'curve': curve, 'point': point, 'der': spki_der}
    if kind == RSA_KEY:
        n_node, e_node = der.parse(bits, der.SEQUENCE).children()[:2]
        n, e = der.integer(n_node), der.integer(e_node)
        if n.bit_length() < 2048 or e < 3:
            raise ValueError('RSA keys under 2048 bits are not accepted')
        return {'type': 'rsa', 'n': n, 'e': e, 'der': spki_der}
    raise ValueError('public key algorithm %s not supported' % kind)


def key_digest(key):
    """The digest model-signing pairs with an EC key (by curve size)."""
    return key['curve'].digest


def verify(key, digest_name, signature, message):
    """True when SIGNATURE over MESSAGE verifies with KEY; False for every wrong or malformed signature."""
    if key['type'] == 'ec':
        return _ecdsa(key, digest_name, signature, message)
    return _rsa(key, digest_name, signature, message)


def fingerprint(key):
    """sha256 of the DER SubjectPublicKeyInfo: how a key is named in reports."""
    return 'sha256:' + hashlib.sha256(key['der']).hexdigest()
