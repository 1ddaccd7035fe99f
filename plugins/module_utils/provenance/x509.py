# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""X.509 certificates and chain validation for certificate-mode model signatures, standard library only.

What model-signing's certificate verifier checks (OpenSSL's store context), checked the same
way: the signing certificate chains, through the bundle's intermediates, to a certificate the
user trusts; every certificate of the path is valid at the signing certificate's notBefore
(model-signing's signing time) and each issuer is a CA allowed to sign certificates; the
signing certificate may sign (keyUsage digitalSignature or extKeyUsage codeSigning). An
unknown critical extension fails the chain, as in OpenSSL. One difference, on purpose: any
certificate the user lists is an anchor (a trusted intermediate or a pinned signing
certificate ends the chain), where OpenSSL's default store wants a self-signed root.
"""

from __future__ import annotations

import datetime
import hashlib

from ansible_collections.aigov.core.plugins.module_utils.provenance import der, public_keys

MAX_DEPTH = 8
BASIC_CONSTRAINTS, KEY_USAGE, EXT_KEY_USAGE, SUBJECT_ALT_NAME = '2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.17'
CODE_SIGNING = '1.3.6.1.5.5.7.3.3'
FULCIO_ISSUER, FULCIO_ISSUER_V2 = '1.3.6.1.4.1.57264.1.1', '1.3.6.1.4.1.57264.1.8'
_HANDLED = frozenset((BASIC_CONSTRAINTS, KEY_USAGE, EXT_KEY_USAGE, SUBJECT_ALT_NAME))
_NAMES = {'2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '1.2.840.113549.1.9.1': 'emailAddress'}


def _time(node):
    text = node.content.decode('ascii')
    if node.tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ('19' if year >= 50 else '20') + text
    elif node.tag != 0x18:
        raise ValueError('certificate validity is not a time')
    if len(text) != 15 or not text.endswith('Z'):
        raise ValueError('certificate time %r is not YYYYMMDDHHMMSSZ' % text)
    return datetime.datetime.strptime(text, '%Y%m%d%H%M%SZ').replace(tzinfo=datetime.timezone.utc)


def _name(node):
    """'CN=x, O=y' of a Name, for reports."""
    parts = []
    for rdn in der.expect(node, der.SEQUENCE).children():
        for attribute in rdn.children():
            kind, value = attribute.children()[:2]
            label = _NAMES.get(der.oid(kind))
            if label:
                parts.append('%s=%s' % (label, value.content.decode('utf-8', 'replace')))
    return ', '.join(parts)


class Certificate(object):
    """The parts of a certificate the checks need."""

    def __init__(self, data):
        try:
            self._read(data)
        except (IndexError, AttributeError, TypeError) as exc:  # a structure too short or of the wrong shape
            raise ValueError('malformed certificate (%s)' % type(exc).__name__)

    def _read(self, data):
        self.der = data
        top = der.parse(data, der.SEQUENCE).children()
        if len(top) != 3:
            raise ValueError('certificate is not tbsCertificate, signatureAlgorithm, signature')
        self.tbs = top[0].raw
        self.algorithm = public_keys.SIGNATURE_ALGORITHMS.get(der.oid(top[1].children()[0]))
        self.signature, _unused = der.bit_string(top[2])
        fields = der.expect(top[0], der.SEQUENCE).children()
        if fields and fields[0].tag == 0xa0:  # [0] version
            fields = fields[1:]
        if len(fields) < 6:
            raise ValueError('tbsCertificate is too short')
        self.issuer, self.subject = fields[2].raw, fields[4].raw
        self.subject_text = _name(fields[4])
        validity = fields[3].children()
        self.not_before, self.not_after = _time(validity[0]), _time(validity[1])
        self.key = public_keys.load_spki(fields[5].raw)
        self.extensions = {}
        for field in fields[6:]:
            if field.tag == 0xa3:  # [3] extensions
                for extension in der.parse(field.content, der.SEQUENCE).children():
                    parts = extension.children()
                    critical = len(parts) == 3 and parts[1].tag == der.BOOLEAN and parts[1].content != b'\x00'
                    self.extensions[der.oid(parts[0])] = (critical, der.expect(parts[-1], der.OCTET_STRING).content)
        self.fingerprint = 'sha256:' + hashlib.sha256(data).hexdigest()

    def _extension(self, name):
        return self.extensions.get(name, (False, None))[1]

    def is_ca(self):
        value = self._extension(BASIC_CONSTRAINTS)
        if value is None:
            return False
        items = der.parse(value, der.SEQUENCE).children()
        return bool(items) and items[0].tag == der.BOOLEAN and items[0].content != b'\x00'

    def key_usage(self, bit):
        """True/False for keyUsage bit (0 digitalSignature, 5 keyCertSign), None when the extension is absent."""
        value = self._extension(KEY_USAGE)
        if value is None:
            return None
        bits, _unused = der.bit_string(der.parse(value))
        return len(bits) > bit // 8 and bool(bits[bit // 8] & (0x80 >> (bit % 8)))

    def code_signing(self):
        value = self._extension(EXT_KEY_USAGE)
        return value is not None and CODE_SIGNING in [der.oid(item) for item in der.parse(value, der.SEQUENCE).children()]

    def unknown_critical(self):
        return sorted(name for name, (critical, _value) in self.extensions.items() if critical and name not in _HANDLED)

    def identity(self):
        """(subject alternative name, OIDC issuer) of a Sigstore (Fulcio) certificate: claims, not verified."""
        names = []
        value = self._extension(SUBJECT_ALT_NAME)
        if value is not None:
            names = [item.content.decode('utf-8', 'replace') for item in der.parse(value, der.SEQUENCE).children()
                     if item.tag in (0x81, 0x86)]  # rfc822Name, uniformResourceIdentifier
        issuer = self._extension(FULCIO_ISSUER_V2)
        if issuer is not None:
            issuer = der.parse(issuer).content
        else:
            issuer = self._extension(FULCIO_ISSUER)
        return (names[0] if names else None), (issuer.decode('utf-8', 'replace') if issuer else None)

    def signed_by(self, issuer):
        if self.algorithm is None or self.algorithm[0] != issuer.key['type']:
            return False
        return public_keys.verify(issuer.key, self.algorithm[1], self.signature, self.tbs)


def load_pem_certificates(text):
    return [Certificate(block) for block in der.pem_blocks(text, 'CERTIFICATE')]


def _usable(cert, when):
    if not cert.not_before <= when <= cert.not_after:
        return 'certificate %s is not valid at the signing time %s' % (cert.subject_text, when.isoformat())
    if cert.unknown_critical():
        return 'certificate %s has unsupported critical extension(s) %s' % (cert.subject_text, ', '.join(cert.unknown_critical()))
    return None


def validate_chain(leaf, intermediates, anchors):
    """The anchor LEAF chains to (through INTERMEDIATES) at LEAF's notBefore; ValueError saying why not."""
    when = leaf.not_before
    why = _usable(leaf, when)
    if why:
        raise ValueError(why)
    if not (leaf.key_usage(0) or leaf.code_signing()):
        raise ValueError('signing certificate %s may not sign (no digitalSignature or codeSigning)' % leaf.subject_text)
    current, used = leaf, set()
    for _depth in range(MAX_DEPTH):
        for anchor in anchors:
            if anchor.der == current.der:
                return anchor
        issuers = [(True, c) for c in anchors if c.subject == current.issuer] + \
                  [(False, c) for c in intermediates if c.subject == current.issuer and c.der not in used]
        for trusted, issuer in issuers:
            if _usable(issuer, when) or not issuer.is_ca() or issuer.key_usage(5) is False or not current.signed_by(issuer):
                continue
            if trusted:
                return issuer
            used.add(issuer.der)
            current = issuer
            break
        else:
            raise ValueError('certificate %s does not chain to a trusted certificate' % current.subject_text)
    raise ValueError('certificate chain longer than %d' % MAX_DEPTH)
