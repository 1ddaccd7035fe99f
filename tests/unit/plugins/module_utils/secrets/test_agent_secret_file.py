"""The agent's environment file and the copy of its previous content kept next to it on the host.

Runs as root (as `make test` does) with the real unprivileged user `nobody` owning what a user controls.
"""

import os
import stat

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.fingerprints import DEFAULT_FINGERPRINT_KEY, fingerprint
from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import UnsafePath
from ansible_collections.aigov.core.plugins.module_utils.secrets.agent_secret_file import AgentSecretFileError, ensure, info

from ..conftest import NOBODY, user_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')


def fp(value):
    return fingerprint(value, DEFAULT_FINGERPRINT_KEY)


def attrs(path):
    info = os.stat(path)
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


def test_keep_deliver_restore_commit(base):
    path = str(base / 'env')
    with open(path, 'wb') as handle:
        handle.write(b'K=old\nOTHER=1\n')
    os.chown(path, NOBODY, NOBODY)
    os.chmod(path, 0o640)
    changed, result = ensure(path, data=b'K=new\n', mode=0o600, uid=NOBODY, gid=NOBODY, keep_previous=True, env_var='K')
    assert changed and result['previous_kept'] and result['previous_exists'] and not result['on_previous']
    assert (result['fingerprint'], result['previous_fingerprint']) == (fp('new'), fp('old'))
    assert 'value' not in result and 'previous_value' not in result  # only when asked
    kept = path + '.aigov-previous'
    assert open(kept, 'rb').read() == b'K=old\nOTHER=1\n' and attrs(kept) == (NOBODY, NOBODY, 0o640)
    assert sorted(os.listdir(base)) == ['env', 'env.aigov-previous']  # no temp file left
    # A second delivery never overwrites the kept copy: it is the last content known to work.
    changed, result = ensure(path, data=b'K=newer\n', mode=0o600, keep_previous=True, env_var='K')
    assert changed and not result['previous_kept'] and result['previous_fingerprint'] == fp('old')
    changed, result = ensure(path, 'restored', env_var='K', return_value=True)
    assert changed and result['on_previous'] and (result['value'], result['previous_value']) == ('old', 'old')
    assert open(path, 'rb').read() == b'K=old\nOTHER=1\n' and attrs(path) == (NOBODY, NOBODY, 0o640)
    assert ensure(path, 'restored')[0] is False  # already back
    assert info(path, env_var='K')['on_previous'] is True
    changed, result = ensure(path, 'committed')
    assert changed and not result['previous_exists'] and not os.path.exists(kept)
    assert ensure(path, 'committed')[0] is False and ensure(path, 'restored')[0] is False


def test_check_mode_and_unchanged_content_keep_nothing(base):
    path = str(base / 'env')
    assert ensure(path, data=b'K=1\n', keep_previous=True)[1]['previous_kept'] is False  # a new file: nothing to keep
    assert ensure(path, data=b'K=1\n', keep_previous=True) == (False, dict(info(path), previous_kept=False))
    changed, result = ensure(path, data=b'K=2\n', keep_previous=True, check_mode=True)
    assert changed and result['previous_kept'] and os.listdir(base) == ['env'] and open(path).read() == 'K=1\n'


def test_an_existing_copy_in_a_users_directory_is_never_replaced_or_followed(base):
    home = user_dir(base)
    path = str(home / 'env')
    safe_files.create_file(path, b'K=old\n', 0o600, NOBODY, NOBODY)
    os.symlink('/etc/shadow', str(home / 'env.aigov-previous'))
    os.lchown(str(home / 'env.aigov-previous'), NOBODY, NOBODY)
    for look in (lambda: info(path), lambda: ensure(path, 'restored')):
        with pytest.raises(UnsafePath, match='refusing to follow it'):
            look()  # the "copy" is a user's symlink: never read through it
    os.unlink(str(home / 'env.aigov-previous'))
    changed, result = ensure(path, data=b'K=new\n', mode=0o600, uid=NOBODY, gid=NOBODY, keep_previous=True)
    assert result['previous_kept'] and attrs(str(home / 'env.aigov-previous')) == (NOBODY, NOBODY, 0o600)


def test_previous_must_be_another_file(base):
    with pytest.raises(AgentSecretFileError, match='another file'):
        info(str(base / 'env'), previous=str(base / 'env'))


def test_keep_copy_refuses_to_overwrite_and_remove_file_refuses_non_files(base):
    (base / 'a').write_bytes(b'1')
    (base / 'b').write_bytes(b'2')
    assert safe_files.keep_copy(str(base / 'a'), str(base / 'b')) is False and (base / 'b').read_bytes() == b'2'
    os.mkdir(base / 'd')
    with pytest.raises(UnsafePath, match='not a regular file'):
        safe_files.remove_file(str(base / 'd'))
    assert safe_files.remove_file(str(base / 'a'), check_mode=True) is True and (base / 'a').exists()
    assert safe_files.remove_file(str(base / 'a')) is True and not (base / 'a').exists()
