# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trusted model signers: the trust settings a model signature is verified against.

One home for their shape, used by discovery (ai_asset_facts model_signers), the registry
(top-level `model_signers`, named by use cases' `trusted_signers`) and the rollback. A
signer is public data: a name and exactly one of
  public_key:   PEM of an EC public key (model-signing key mode)
  certificates: PEM of the CA certificate(s) a signing certificate must chain to (certificate mode)
  identity + oidc_issuer: a Sigstore keyless identity (verifiable only with Sigstore's network services)
"""

from __future__ import annotations

import hashlib
import re

from ansible_collections.aigov.core.plugins.module_utils.provenance import der, public_keys, x509

SIGNER_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$')
SIGNER_KEYS = ('name', 'public_key', 'certificates', 'identity', 'oidc_issuer')
METHODS = ('key', 'certificate', 'keyless')


def _parse_one(item, where):
    if not isinstance(item, dict):
        raise ValueError('%s must be a mapping with a name and one of public_key, certificates, identity' % where)
    given = dict((key, value) for key, value in item.items() if value not in (None, ''))
    unknown = sorted(set(given) - set(SIGNER_KEYS))
    if unknown:
        raise ValueError('%s: unknown key(s) %s (known: %s)' % (where, ', '.join(unknown), ', '.join(SIGNER_KEYS)))
    name = given.get('name')
    if not isinstance(name, str) or not SIGNER_NAME.match(name):
        raise ValueError('%s: name must be letters, digits and _.@:- (at most 128)' % where)
    kinds = [key for key in ('public_key', 'certificates', 'identity') if key in given]
    if len(kinds) != 1:
        raise ValueError('%s (%s): give exactly one of public_key, certificates or identity (+ oidc_issuer)' % (where, name))
    for key in ('public_key', 'certificates', 'identity', 'oidc_issuer'):
        if key in given and not isinstance(given[key], str):
            raise ValueError('%s (%s): %s must be a string' % (where, name, key))
    signer = {'name': name}
    if 'public_key' in given:
        blocks = der.pem_blocks(given['public_key'], 'PUBLIC KEY')
        if len(blocks) != 1:
            raise ValueError('%s (%s): public_key must hold one PEM PUBLIC KEY block' % (where, name))
        key = public_keys.load_spki(blocks[0])
        if key['type'] != 'ec':
            raise ValueError('%s (%s): model-signing key mode uses elliptic curve keys' % (where, name))
        pem = der.to_pem(blocks[0], 'PUBLIC KEY').encode('ascii')
        signer.update(method='key', key=key, fingerprint=public_keys.fingerprint(key),
                      hint=hashlib.sha256(pem).hexdigest())
    elif 'certificates' in given:
        anchors = x509.load_pem_certificates(given['certificates'])
        if not anchors:
            raise ValueError('%s (%s): certificates must hold at least one PEM CERTIFICATE block' % (where, name))
        signer.update(method='certificate', anchors=anchors, fingerprint=anchors[0].fingerprint)
    else:
        if not given.get('oidc_issuer'):
            raise ValueError('%s (%s): identity needs oidc_issuer' % (where, name))
        signer.update(method='keyless', identity=given['identity'], oidc_issuer=given['oidc_issuer'], fingerprint=None)
    return signer


def parse_signers(items, where='model_signers'):
    """Parsed signers from their settings; ValueError naming the first bad one (nothing is half-loaded)."""
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError('%s must be a list of signers' % where)
    signers, names = [], set()
    for index, item in enumerate(items):
        spot = '%s[%d]' % (where, index)
        try:
            signer = _parse_one(item, spot)
        except ValueError as exc:
            message = str(exc)
            raise ValueError(message if message.startswith(spot) else '%s: %s' % (spot, message))
        if signer['name'] in names:
            raise ValueError('%s: duplicate signer name %s' % (spot, signer['name']))
        names.add(signer['name'])
        signers.append(signer)
    return signers


def describe(signer):
    """What reports say of a signer (no key material beyond its fingerprint)."""
    return {'name': signer['name'], 'method': signer['method'], 'fingerprint': signer.get('fingerprint'),
            'identity': signer.get('identity'), 'oidc_issuer': signer.get('oidc_issuer')}
