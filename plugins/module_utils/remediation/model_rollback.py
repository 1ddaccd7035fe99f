# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Roll a served model file back to its last approved version (aigov.core.ai_model_rollback).

"Approved" is data: the registry's approved_models of the server's use case,
in approval order (the last one is the newest). For each, newest first, a
kept copy is looked for at its `path` (registry) or <keep_dir>/<sha256>, and
the first whose content really has that digest is restored. A copy whose
digest differs is reported and never used.

The switch is atomic for readers of the served path and done by descriptors
(module_utils/host/safe_files.py), as the served file's owner when it lies in that
user's directory: a symlink on the served path is followed only when root owns
it and nobody else can change where it lies; the approved copy, opened safely
and hashed through its descriptor, is copied from that descriptor into a temp
file created (O_EXCL) in the served file's directory with the served file's
mode and owner; the temp file's own descriptor must give the approved digest;
the served file is hard-linked aside and the temp file renamed over it, both
relative to the directory's descriptor; the linked-aside file (the unapproved
model) goes to quarantine (module_utils/remediation/quarantine.py) with the served path in
its record. The server is restarted by the caller.
"""

from __future__ import annotations

import os

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.remediation import candidate_signature, quarantine
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError


STAGED = '.%s.aigov-replaced'  # the served file, linked aside until it is quarantined


def _candidates(model, keep_dir):
    return ([model['path']] if model.get('path') else []) + [os.path.join(keep_dir, model['sha256'])]


def choose(approved_models, keep_dir, signatures=None):
    """(approved model, path of a verified copy, its signature record), newest approval first; AigovError listing
    what was looked at. signatures: the use case's {required, signers}: a copy without a valid signature by one
    of the signers is refused when required (candidate_signature.py)."""
    looked, wrong = [], []
    required = bool((signatures or {}).get('required'))
    for model in reversed(approved_models):
        for path in _candidates(model, keep_dir):
            looked.append(path)
            try:
                with safe_files.opened(path, 'read the approved copy') as (fd, _info, _location, _uid):
                    digest = safe_files.sha256_fd(fd)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except safe_files.UnsafePath as exc:
                wrong.append(str(exc))
                continue
            if digest != model['sha256']:
                wrong.append('%s has sha256 %s, not the approved %s' % (path, digest, model['sha256']))
                continue
            if not required:
                return model, path, None
            record, why = candidate_signature.check(path, digest, signatures)
            if why is None:
                return model, path, record
            wrong.append('%s refused: %s' % (path, why))
    raise AigovError('no verified copy of an approved model%s: %s; nothing was changed' % (
        ' with a valid signature by a trusted signer' if required else '',
        '; '.join(wrong) if wrong else 'none of %s exists' % ', '.join(looked)))


def _switch(real, source, approved_digest, current_digest, quarantine_dir):
    staged = STAGED % os.path.basename(real)
    with safe_files.opened(source, 'read the approved copy') as (fd, _info, _location, _uid):
        safe_files.replace_file(real, fd, sha256=approved_digest, keep_as=staged)
    _changed, moved = quarantine.quarantine(os.path.join(os.path.dirname(real), staged), quarantine_dir,
                                            expected_sha256=current_digest, original_path=real)
    return moved['quarantined_as']


def rollback(served, approved_models, keep_dir, quarantine_dir, check_mode=False, signatures=None):
    """Return (changed, result); AigovError (nothing changed) when no approved copy can be restored."""
    if not isinstance(served, str) or not os.path.isabs(served):
        raise AigovError('the served model %r is not an absolute file path: there is no file to roll back' % (served,))
    if not approved_models:
        raise AigovError('no approved model digest is known for %s; nothing was changed' % served)
    try:
        with safe_files.opened(served, 'roll back') as (fd, _info, location, _uid):
            real, current = location.real, safe_files.sha256_fd(fd)
    except (FileNotFoundError, NotADirectoryError):
        raise AigovError('the served model %s is not a file; nothing was changed' % served)
    result = {'path': served, 'file': real, 'previous_sha256': current, 'sha256': current, 'approved_name': None,
              'restored_from': None, 'quarantined_as': None, 'signature': None}
    known = dict((model['sha256'], model) for model in approved_models)
    if current in known:
        return False, dict(result, approved_name=known[current]['name'])
    model, source, signature = choose(approved_models, keep_dir, signatures)
    result.update(sha256=model['sha256'], approved_name=model['name'], restored_from=source, signature=signature)
    if check_mode:
        return True, result
    try:
        result['quarantined_as'] = _switch(real, source, model['sha256'], current, quarantine_dir)
    except (IOError, OSError) as exc:
        raise AigovError('cannot roll %s back to %s: %s' % (real, source, exc.strerror or exc))
    return True, result
