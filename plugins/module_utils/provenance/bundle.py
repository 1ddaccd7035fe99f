# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An OpenSSF model signature (model-signing v1.x): a Sigstore bundle whose DSSE envelope
carries an in-toto statement listing the digest of every file of the model.

read() parses the bundle (bounded JSON), check_signer() verifies the DSSE signature against
the trusted signers (key mode: the bundle's key hint picks the key; certificate mode: the
bundle's chain must reach a trusted certificate), and manifest() turns the statement into
{name: digest} after checking its root digest, as model_signing._signing.signing does.
Keyless (Sigstore) bundles are recognised and their claimed identity reported; verifying
them needs Sigstore's trust root and transparency log, which a host does not reach here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath

from ansible_collections.aigov.core.plugins.module_utils.common import bounded_json
from ansible_collections.aigov.core.plugins.module_utils.provenance import public_keys, x509

MAX_BUNDLE_BYTES = 32 * 1024 * 1024  # a manifest lists every file (or shard): large models have many
MAX_RESOURCES = 200000
BUNDLE_MEDIA_TYPES = ('application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.dev.sigstore.bundle+json;version=0.3',
                      'application/vnd.dev.sigstore.bundle+json;version=0.2')
PAYLOAD_TYPE = 'application/vnd.in-toto+json'
STATEMENT_TYPE = 'https://in-toto.io/Statement/v1'
PREDICATE_TYPE = 'https://model_signing/signature/v1.0'
HASHES = ('sha256',)  # what the hosts' hash cache holds, and what model-signing uses by default


class SignatureInvalid(ValueError):
    """The signature is wrong: `reason` is one of the report's reason codes."""

    def __init__(self, reason, message):
        ValueError.__init__(self, message)
        self.reason = reason


def _b64(value, what):
    if not isinstance(value, str):
        raise SignatureInvalid('malformed', '%s is missing' % what)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureInvalid('malformed', '%s is not base64' % what)


def _get(mapping, key, kind, what):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    if not isinstance(value, kind):
        raise SignatureInvalid('malformed', '%s is missing or not a %s' % (what, kind.__name__))
    return value


def read(data):
    """The parts of a bundle: {method, payload, signature, key_hint, certificates}; SignatureInvalid('malformed')."""
    try:
        bundle = bounded_json.loads(data)
    except ValueError as exc:
        raise SignatureInvalid('malformed', 'not a JSON signature bundle (%s)' % exc)
    if not isinstance(bundle, dict) or bundle.get('mediaType') not in BUNDLE_MEDIA_TYPES:
        raise SignatureInvalid('malformed', 'not a Sigstore bundle (mediaType %r)' % (
            bundle.get('mediaType') if isinstance(bundle, dict) else None,))
    envelope = _get(bundle, 'dsseEnvelope', dict, 'dsseEnvelope')
    if envelope.get('payloadType') != PAYLOAD_TYPE:
        raise SignatureInvalid('malformed', 'DSSE payload type is %r, not %s' % (envelope.get('payloadType'), PAYLOAD_TYPE))
    signatures = _get(envelope, 'signatures', list, 'dsseEnvelope.signatures')
    if len(signatures) != 1 or not isinstance(signatures[0], dict):
        raise SignatureInvalid('malformed', 'the envelope holds %d signatures, not one' % len(signatures))
    material = _get(bundle, 'verificationMaterial', dict, 'verificationMaterial')
    parts = {'payload': _b64(envelope.get('payload'), 'the DSSE payload'),
             'signature': _b64(signatures[0].get('sig'), 'the DSSE signature'),
             'key_hint': None, 'certificates': []}
    if isinstance(material.get('certificate'), dict) or material.get('tlogEntries'):
        parts['method'] = 'keyless'
        raw = [material['certificate']] if isinstance(material.get('certificate'), dict) else \
            _get(material.get('x509CertificateChain'), 'certificates', list, 'certificate chain')
        parts['certificates'] = [_b64(item.get('rawBytes') if isinstance(item, dict) else None, 'a certificate')
                                 for item in raw[:1]]
    elif isinstance(material.get('x509CertificateChain'), dict):
        parts['method'] = 'certificate'
        chain = _get(material['x509CertificateChain'], 'certificates', list, 'x509CertificateChain.certificates')
        if not chain or len(chain) > x509.MAX_DEPTH + 1:
            raise SignatureInvalid('malformed', 'the certificate chain holds %d certificates' % len(chain))
        parts['certificates'] = [_b64(item.get('rawBytes') if isinstance(item, dict) else None, 'a certificate')
                                 for item in chain]
    elif isinstance(material.get('publicKey'), dict):
        parts['method'] = 'key'
        hint = material['publicKey'].get('hint')
        parts['key_hint'] = hint if isinstance(hint, str) and hint else None
    else:
        raise SignatureInvalid('malformed', 'the bundle names no public key, certificate chain or certificate')
    return parts


def pae(payload):
    """DSSE v1 pre-authentication encoding: what is really signed."""
    return b'DSSEv1 %d %s %d ' % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode('ascii'), len(payload)) + payload


def _signed_by_key(parts, signers):
    keys = [signer for signer in signers if signer['method'] == 'key']
    if parts['key_hint']:
        keys = [signer for signer in keys if signer['hint'] == parts['key_hint']]
        if not keys:
            raise SignatureInvalid('untrusted_signer', 'signed by a key none of the trusted signers holds (key hint %s)'
                                   % parts['key_hint'][:16])
    message = pae(parts['payload'])
    for signer in keys:
        if public_keys.verify(signer['key'], public_keys.key_digest(signer['key']), parts['signature'], message):
            return signer, {'fingerprint': signer['fingerprint'], 'subject': None}
    if parts['key_hint']:
        raise SignatureInvalid('bad_signature', 'the signature does not verify with the key of %s' % keys[0]['name'])
    raise SignatureInvalid('untrusted_signer', 'the signature verifies with none of the trusted keys')


def _signed_by_certificate(parts, signers):
    try:
        chain = [x509.Certificate(data) for data in parts['certificates']]
    except (ValueError, UnicodeDecodeError) as exc:
        raise SignatureInvalid('malformed', 'a certificate of the bundle cannot be read (%s)' % exc)
    leaf, why = chain[0], []
    for signer in [signer for signer in signers if signer['method'] == 'certificate']:
        try:
            x509.validate_chain(leaf, chain[1:], signer['anchors'])
        except ValueError as exc:
            why.append('%s: %s' % (signer['name'], exc))
            continue
        if leaf.key['type'] != 'ec' or not public_keys.verify(
                leaf.key, public_keys.key_digest(leaf.key), parts['signature'], pae(parts['payload'])):
            raise SignatureInvalid('bad_signature', 'the signature does not verify with the signing certificate %s'
                                   % leaf.subject_text)
        return signer, {'fingerprint': leaf.fingerprint, 'subject': leaf.subject_text}
    raise SignatureInvalid('untrusted_signer', 'signing certificate %s (%s) chains to no trusted signer%s' % (
        leaf.subject_text, leaf.fingerprint, ('; ' + '; '.join(why)) if why else ''))


def check_signer(parts, signers):
    """(signer, {fingerprint, subject}) when the DSSE signature verifies against a trusted signer.

    SignatureInvalid when it does not; (None, claims) when the bundle is keyless (not verifiable here).
    """
    if parts['method'] == 'key':
        return _signed_by_key(parts, signers)
    if parts['method'] == 'certificate':
        return _signed_by_certificate(parts, signers)
    claims = {'fingerprint': None, 'subject': None, 'identity': None, 'oidc_issuer': None}
    try:
        leaf = x509.Certificate(parts['certificates'][0])
        claims.update(fingerprint=leaf.fingerprint, subject=leaf.subject_text)
        claims['identity'], claims['oidc_issuer'] = leaf.identity()
    except (ValueError, IndexError, UnicodeDecodeError):
        pass  # the claims are informative only
    trusted = [(signer['identity'], signer['oidc_issuer']) for signer in signers if signer['method'] == 'keyless']
    if signers and (claims['identity'], claims['oidc_issuer']) not in trusted:
        # a claim is unproven here, but one no trusted identity makes is refused whether it is genuine or not
        raise SignatureInvalid('untrusted_signer', 'keyless signature of %s (issuer %s), not a trusted identity'
                               % (claims['identity'], claims['oidc_issuer']))
    return None, claims


def _safe_name(name):
    if not isinstance(name, str) or not name or name.startswith('/') or '\x00' in name:
        return False
    return name == '.' or (posixpath.normpath(name) == name and not name.startswith('..'))


def manifest(payload):
    """{model, method, shard_size, ignore_paths, allow_symlinks, resources: {name: (algorithm, hex)}}."""
    try:
        statement = bounded_json.loads(payload)
    except ValueError as exc:
        raise SignatureInvalid('malformed', 'the signed statement is not JSON (%s)' % exc)
    if _get(statement, '_type', str, 'statement _type') != STATEMENT_TYPE:
        raise SignatureInvalid('malformed', 'not an in-toto v1 statement')
    if statement.get('predicateType') != PREDICATE_TYPE:
        raise SignatureInvalid('unsupported', 'predicate type %r is not %s' % (statement.get('predicateType'), PREDICATE_TYPE))
    subjects = _get(statement, 'subject', list, 'statement subject')
    predicate = _get(statement, 'predicate', dict, 'predicate')
    serialization = _get(predicate, 'serialization', dict, 'predicate.serialization')
    items = _get(predicate, 'resources', list, 'predicate.resources')
    if len(subjects) != 1 or not isinstance(subjects[0], dict) or len(items) > MAX_RESOURCES:
        raise SignatureInvalid('malformed', 'the statement must name one subject and at most %d resources' % MAX_RESOURCES)
    root, resources = hashlib.sha256(), {}
    for item in items:
        name, algorithm, digest = (item.get(key) if isinstance(item, dict) else None for key in ('name', 'algorithm', 'digest'))
        try:
            value = bytes.fromhex(digest)
        except (TypeError, ValueError):
            raise SignatureInvalid('malformed', 'resource %r has no hex digest' % (name,))
        if not _safe_name(str(name).rsplit(':', 2)[0] if serialization.get('method') == 'shards' else name) or name in resources:
            raise SignatureInvalid('malformed', 'resource name %r is not a relative path, or listed twice' % (name,))
        root.update(value)
        resources[name] = (algorithm, digest.lower())
    expected = (_get(subjects[0], 'digest', dict, 'subject digest')).get('sha256')
    if root.hexdigest() != expected:
        raise SignatureInvalid('malformed', 'the manifest is inconsistent: its resources do not hash to the subject digest')
    method = serialization.get('method')
    if method not in ('files', 'shards') or serialization.get('hash_type') not in HASHES:
        raise SignatureInvalid('unsupported', 'serialization %s/%s is not checked on hosts (files or shards with sha256 are)'
                               % (method, serialization.get('hash_type')))
    ignore = serialization.get('ignore_paths') or []
    shard_size = serialization.get('shard_size')
    if method == 'shards':  # a JSON number: model-signing writes 1000.0
        if isinstance(shard_size, bool) or not isinstance(shard_size, (int, float)) or shard_size != int(shard_size) \
                or shard_size <= 0:
            raise SignatureInvalid('malformed', 'shard serialization without a positive whole shard_size')
        shard_size = int(shard_size)
    return {'model': subjects[0].get('name'), 'method': method, 'shard_size': shard_size,
            'ignore_paths': [path for path in ignore if isinstance(path, str)],
            'allow_symlinks': serialization.get('allow_symlinks') is True, 'resources': resources}
