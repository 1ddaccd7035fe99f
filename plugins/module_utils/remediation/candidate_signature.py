# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a rollback candidate signed by a signer its use case trusts? (model provenance)

When the use case requires signed models, a kept copy is restored only if the OpenSSF model
signature beside it (COPY.sig, or model.sig in its directory) verifies with one of the use
case's trusted signers and lists the very digest that was just hashed from the copy's
descriptor (so the signature and the file restored are the same bytes).
"""

from __future__ import annotations

import os
import time

from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import sha256_within
from ansible_collections.aigov.core.plugins.module_utils.provenance import model_signature
from ansible_collections.aigov.core.plugins.module_utils.provenance.signers import parse_signers

BUDGET = 600  # seconds to hash a directory-signed candidate's other files


def check(path, digest, trust):
    """(signature record, None) when the candidate is acceptable; (record or None, why) when it is refused."""
    signers = parse_signers(trust.get('signers'))
    found = model_signature.find_signature(path, os.path.dirname(path))
    if found is None:
        names = (model_signature.FILE_SIGNATURE % os.path.basename(path), model_signature.DIRECTORY_SIGNATURE)
        return None, 'unsigned (no %s or %s beside it)' % names
    deadline = time.monotonic() + BUDGET

    def digest_of(file_path, _info):
        if file_path == path:
            return digest  # the digest of the descriptor that is restored, not a second read
        return sha256_within(file_path, deadline, follow=False)[0]

    record, problem = model_signature.verify_model(found[0], found[1], found[2], signers, digest_of, deadline)
    if record['status'] == 'signed':
        return record, None
    if record['status'] == 'invalid':
        return record, 'signature invalid (%s: %s)' % (', '.join(record['reasons']), '; '.join(record['details'][:3]))
    return record, 'signature not verified (%s)' % (problem or record['status'])
