# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Model provenance in discovery: each model_artifact asset gets `attributes.signature`.

The signature covering a model file (FILE.sig beside it, or model.sig in its model
directory) is verified once per run (provenance/model_signature.py), against the trusted
signers of the ai_asset_facts `model_signers` option, with the digests of the probe's own
hash cache and within its hash budget: a file the probe hashed is not read again.
"""

from __future__ import annotations

import time

from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import sha256_within
from ansible_collections.aigov.core.plugins.module_utils.provenance import model_signature, signers as trusted_signers


def cached_digest(cache, deadline):
    """digest_of(path, lstat) over the host's hash cache: the cached sha256, else hashed while the budget lasts."""
    def digest_of(path, info):
        digest = cache.lookup(info)
        if digest is not None or time.monotonic() >= deadline:
            return digest
        digest, opened = sha256_within(path, deadline, follow=False)
        if digest is not None:
            cache.store(opened, digest)
        return digest
    return digest_of


def _root_of(path, roots):
    matching = [root for root in roots if path.startswith(root.rstrip('/') + '/')]
    return max(matching, key=len) if matching else path.rsplit('/', 1)[0] or '/'


def annotate(assets, roots, signer_settings, cache, deadline, problems):
    """Set attributes.signature on each model_artifact asset; append what could not be checked to problems.

    signer_settings: the model_signers option (signers.py); the module refuses bad ones before this runs.
    """
    try:
        signers = trusted_signers.parse_signers(signer_settings)
    except ValueError as exc:
        problems.append('model_artifact: %s; signatures are not checked against any signer' % exc)
        signers = []
    digest_of, verdicts = cached_digest(cache, deadline), {}
    for asset in assets:
        path = asset['attributes']['path']
        found = model_signature.find_signature(path, _root_of(path, roots))
        if found is None:
            asset['attributes']['signature'] = model_signature.unsigned()
            continue
        if found[0] not in verdicts:
            try:
                verdicts[found[0]] = model_signature.verify_model(found[0], found[1], found[2], signers, digest_of, deadline)
            except Exception as exc:  # one boundary per signature: a file nobody foresaw is a problem, not the probe's end
                verdicts[found[0]] = (dict(model_signature.unsigned(), status='unverified', signature_path=found[0],
                                           model_path=found[1], scope=found[2]),
                                      'model signature %s: not verified (%s)' % (found[0], type(exc).__name__))
            if verdicts[found[0]][1]:
                problems.append('model_artifact: ' + verdicts[found[0]][1])
        asset['attributes']['signature'] = dict(verdicts[found[0]][0])
