# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verify one model signature against the trusted signers and the files on disk.

The verdict, as reports show it:
  signed      the signature verifies with a trusted signer and every file matches
  invalid     it does not: `reasons` says why (file_changed, file_added, file_missing,
              symlink, untrusted_signer, bad_signature, malformed)
  unsigned    no signature lies beside the model
  unverified  a signature is there but could not be checked here (keyless, no trusted
              signers given, hash budget, unsupported serialization): a problem, not a failure
"""

from __future__ import annotations

import os

from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import read_capped
from ansible_collections.aigov.core.plugins.module_utils.provenance import bundle, model_integrity

STATUSES = ('signed', 'invalid', 'unsigned', 'unverified')
REASONS = ('file_changed', 'file_added', 'file_missing', 'symlink', 'untrusted_signer', 'bad_signature', 'malformed')
FILE_SIGNATURE = '%s.sig'  # model_signing sign key FILE --signature FILE.sig
DIRECTORY_SIGNATURE = 'model.sig'  # the CLI's default name, inside the model directory
MAX_DETAILS = 20


def unsigned():
    return {'status': 'unsigned', 'method': None, 'signer': None, 'signer_fingerprint': None, 'signer_subject': None,
            'claimed_identity': None, 'scope': None, 'model_path': None, 'signature_path': None, 'reasons': [],
            'details': []}


def verify_model(signature_path, model_path, scope, signers, digest_of, deadline):
    """(the signature record, a problem sentence or None). digest_of(path, lstat) -> sha256 or None (budget)."""
    result = dict(unsigned(), status='unverified', scope=scope, model_path=model_path, signature_path=signature_path)
    label = 'model signature %s' % signature_path
    try:
        data, more = read_capped(signature_path, bundle.MAX_BUNDLE_BYTES, follow=False)
        if more:
            raise bundle.SignatureInvalid('malformed', 'larger than %d bytes' % bundle.MAX_BUNDLE_BYTES)
        parts = bundle.read(data)
        result['method'] = parts['method']
        signer, claims = (None, {})
        if parts['method'] == 'keyless' or signers:
            signer, claims = bundle.check_signer(parts, signers)
        result.update(signer=signer['name'] if signer else None, signer_fingerprint=claims.get('fingerprint'),
                      signer_subject=claims.get('subject'))
        if claims.get('identity'):
            result['claimed_identity'] = {'identity': claims['identity'], 'oidc_issuer': claims.get('oidc_issuer')}
        manifest = bundle.manifest(parts['payload'])
        reasons, details = model_integrity.compare(model_path, scope, manifest, signature_path, digest_of, deadline)
    except bundle.SignatureInvalid as exc:
        if exc.reason == 'unsupported':
            return result, '%s: %s; not verified' % (label, exc)
        return dict(result, status='invalid', reasons=[exc.reason], details=[str(exc)]), None
    except model_integrity.Unchecked as exc:
        return result, '%s: %s; not verified' % (label, exc)
    except (IOError, OSError) as exc:
        return result, '%s: cannot read it (%s); not verified' % (label, exc.strerror or exc)
    if reasons:
        return dict(result, status='invalid', reasons=reasons, details=details[:MAX_DETAILS]), None
    if signer is not None:
        return dict(result, status='signed'), None
    if parts['method'] == 'keyless':
        why = ('a Sigstore keyless signature (claimed identity %s); verifying it needs Sigstore\'s trust root and '
               'transparency log, which the host does not reach' % ((result['claimed_identity'] or {}).get('identity')))
    else:
        why = 'no trusted %s signer is given (model_signers); the files match its manifest' % parts['method']
    return result, '%s: %s; not verified' % (label, why)


def find_signature(path, top):
    """(signature path, model path, scope) of the signature covering the file PATH, or None.

    PATH.sig beside the file signs that file; model.sig in its directory or a parent up to
    TOP (the scanned root) signs that whole directory. Signatures are regular files only.
    """
    candidates = [(FILE_SIGNATURE % path, path, 'file')]
    directory = os.path.dirname(path)
    while True:
        candidates.append((os.path.join(directory, DIRECTORY_SIGNATURE), directory, 'directory'))
        if directory == top or os.path.dirname(directory) == directory or not directory.startswith(top.rstrip('/') + '/'):
            break
        directory = os.path.dirname(directory)
    for signature, model, scope in candidates:
        try:
            if os.path.isfile(signature) and not os.path.islink(signature):
                return signature, model, scope
        except OSError:
            continue
    return None
