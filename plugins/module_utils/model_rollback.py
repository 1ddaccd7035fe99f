# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Roll a served model file back to its last approved version (aigov.core.ai_model_rollback).

"Approved" is data: the registry's approved_models of the server's use case,
in approval order (the last one is the newest). For each, newest first, a
kept copy is looked for at its `path` (registry) or <keep_dir>/<sha256>, and
the first whose content really has that digest is restored. A copy whose
digest differs is reported and never used.

The switch is atomic for readers of the served path: the approved copy is
written to a temp file beside the served file (a symlink is resolved to its
target) and verified, the served file is hard-linked aside, the temp file is
renamed over it, and the linked-aside file (the unapproved model) goes to
quarantine (module_utils/quarantine.py) with the served path in its record.
The server is restarted by the caller.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.aigov.core.plugins.module_utils import quarantine
from ansible_collections.aigov.core.plugins.module_utils.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.hash_cache import sha256_file


def _candidates(model, keep_dir):
    return ([model['path']] if model.get('path') else []) + [os.path.join(keep_dir, model['sha256'])]


def choose(approved_models, keep_dir):
    """(approved model, path of a verified copy), newest approval first; AigovError listing what was looked at."""
    looked, wrong = [], []
    for model in reversed(approved_models):
        for path in _candidates(model, keep_dir):
            looked.append(path)
            if not os.path.isfile(path):
                continue
            digest = sha256_file(path)
            if digest == model['sha256']:
                return model, path
            wrong.append('%s has sha256 %s, not the approved %s' % (path, digest, model['sha256']))
    raise AigovError('no verified copy of an approved model: %s; nothing was changed'
                     % ('; '.join(wrong) if wrong else 'none of %s exists' % ', '.join(looked)))


def _copy_beside(source, target):
    """A temp copy of SOURCE in TARGET's directory, with TARGET's mode and owner."""
    info = os.stat(target)
    fd, tmp = tempfile.mkstemp(prefix='.aigov-rollback-', dir=os.path.dirname(target))
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, info.st_mode & 0o7777)
        os.chown(tmp, info.st_uid, info.st_gid)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def _switch(real, source, approved_digest, current_digest, quarantine_dir):
    tmp = _copy_beside(source, real)
    staged = os.path.join(os.path.dirname(real), '.%s.aigov-replaced' % os.path.basename(real))
    try:
        if sha256_file(tmp) != approved_digest:
            raise AigovError('the copy of %s at %s does not have the approved sha256 %s; nothing was switched'
                             % (source, tmp, approved_digest))
        if os.path.lexists(staged):
            os.unlink(staged)  # left by an interrupted run: the served file is still in place
        os.link(real, staged)
        os.rename(tmp, real)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _changed, moved = quarantine.quarantine(staged, quarantine_dir, expected_sha256=current_digest, original_path=real)
    return moved['quarantined_as']


def rollback(served, approved_models, keep_dir, quarantine_dir, check_mode=False):
    """Return (changed, result); AigovError (nothing changed) when no approved copy can be restored."""
    if not isinstance(served, str) or not os.path.isabs(served):
        raise AigovError('the served model %r is not an absolute file path: there is no file to roll back' % (served,))
    if not approved_models:
        raise AigovError('no approved model digest is known for %s; nothing was changed' % served)
    real = os.path.realpath(served)
    if not os.path.isfile(real):
        raise AigovError('the served model %s is not a file; nothing was changed' % served)
    current = sha256_file(real)
    result = {'path': served, 'file': real, 'previous_sha256': current, 'sha256': current, 'approved_name': None,
              'restored_from': None, 'quarantined_as': None}
    known = dict((model['sha256'], model) for model in approved_models)
    if current in known:
        return False, dict(result, approved_name=known[current]['name'])
    model, source = choose(approved_models, keep_dir)
    result.update(sha256=model['sha256'], approved_name=model['name'], restored_from=source)
    if check_mode:
        return True, result
    try:
        result['quarantined_as'] = _switch(real, source, model['sha256'], current, quarantine_dir)
    except (IOError, OSError) as exc:
        raise AigovError('cannot roll %s back to %s: %s' % (real, source, exc.strerror or exc))
    after = sha256_file(real)
    if after != model['sha256']:
        raise AigovError('after the switch %s has sha256 %s, not the approved %s' % (real, after, model['sha256']))
    return True, result
