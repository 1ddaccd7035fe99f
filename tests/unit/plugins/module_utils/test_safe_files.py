"""The safe file layer: root never acts through what a non-root user controls.

Runs as root (as `make test` does) with the real unprivileged user `nobody` owning the
directories an attacker would control.
"""

import hashlib
import os
import stat
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils import safe_files
from ansible_collections.aigov.core.plugins.module_utils.safe_files import UnsafePath

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')


@pytest.fixture
def base(tmp_path):
    # pytest's tmp_path parents are root-owned and not writable by others.
    os.chmod(tmp_path, 0o755)
    return tmp_path


def user_dir(base, name='home'):
    path = base / name
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    return path


def test_root_path_is_trusted(base):
    (base / 'f').write_text('x')
    location = safe_files.locate(str(base / 'f'))
    try:
        assert location.controllers == set()
        assert safe_files.acting_uid(location, 'read') == 0
    finally:
        location.close()


def test_symlink_in_user_dir_is_never_followed(base):
    home = user_dir(base)
    victim = base / 'victim'
    victim.write_text('root data')
    os.symlink(str(victim), str(home / 'link'))
    with pytest.raises(UnsafePath, match='symlink'):
        safe_files.chmod(str(home / 'link'), 0o777)
    with pytest.raises(UnsafePath):
        safe_files.replace_file(str(home / 'link'), b'owned')
    assert victim.read_text() == 'root data'
    assert stat.S_IMODE(victim.stat().st_mode) != 0o777


def test_symlinked_directory_of_user_is_refused(base):
    home = user_dir(base)
    system = base / 'system'
    system.mkdir()
    os.symlink(str(system), str(home / '.aigov-secrets'))
    with pytest.raises(UnsafePath):
        safe_files.create_file(str(home / '.aigov-secrets' / 'key'), b'v')
    with pytest.raises(UnsafePath):
        safe_files.ensure_dir(str(home / '.aigov-secrets'))
    assert os.listdir(system) == []
    assert os.stat(system).st_uid == 0


def test_root_owned_symlink_in_root_dir_is_followed(base):
    real = base / 'real'
    real.mkdir()
    (real / 'f').write_text('ok')
    os.symlink('real', str(base / 'alias'))
    assert safe_files.read_text(str(base / 'alias' / 'f')) == 'ok'


def test_dotdot_is_refused(base):
    with pytest.raises(UnsafePath, match='".."'):
        safe_files.create_file(str(base / 'a' / '..' / 'b'), b'v')


def test_users_own_file_is_changed_as_that_user(base):
    home = user_dir(base)
    env = home / '.env'
    env.write_text('KEY=v\n')
    os.chown(env, NOBODY, NOBODY)
    os.chmod(env, 0o644)
    assert safe_files.chmod(str(env), 0o600) == (True, 0o644, 0o600)
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    safe_files.replace_file(str(env), b'KEY_FILE=/x\n')
    info = env.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode), env.read_text()) == (NOBODY, 0o600, 'KEY_FILE=/x\n')
    safe_files.ensure_dir(str(home / '.aigov-secrets'))
    safe_files.create_file(str(home / '.aigov-secrets' / 'key'), b'v\n')
    made = home / '.aigov-secrets' / 'key'
    assert (made.stat().st_uid, stat.S_IMODE(made.stat().st_mode)) == (NOBODY, 0o600)
    assert (home / '.aigov-secrets').stat().st_uid == NOBODY


def test_root_file_in_user_dir_is_refused(base):
    home = user_dir(base)
    planted = home / 'model.gguf'
    planted.write_text('root file')  # a hard link to a root file looks the same
    with pytest.raises(UnsafePath, match='belongs to root'):
        safe_files.chmod(str(planted), 0o600)
    with pytest.raises(UnsafePath):
        safe_files.replace_file(str(planted), b'x')


def test_world_writable_directory_without_sticky_bit_is_refused(base):
    shared = base / 'shared'
    shared.mkdir()
    os.chmod(shared, 0o777)
    (shared / 'f').write_text('x')
    with pytest.raises(UnsafePath, match='any user'):
        safe_files.chmod(str(shared / 'f'), 0o600)


def test_sticky_directory_trusts_roots_entries(base):
    tmp = base / 'tmp'
    tmp.mkdir()
    os.chmod(tmp, 0o1777)
    (tmp / 'f').write_text('x')
    assert safe_files.chmod(str(tmp / 'f'), 0o600)[0]


def test_fifo_is_never_opened(base):
    fifo = base / 'fifo'
    os.mkfifo(fifo)
    with pytest.raises(UnsafePath, match='not a regular file'):
        safe_files.read_text(str(fifo))
    with pytest.raises(OSError):
        safe_files.read_capped(str(fifo), 10)


def test_read_capped(base):
    (base / 'f').write_bytes(b'a' * 100)
    assert safe_files.read_capped(str(base / 'f'), 10) == (b'a' * 10, True)
    assert safe_files.read_capped(str(base / 'f'), 100) == (b'a' * 100, False)


def test_sha256_within_hashes_until_the_deadline(base):
    (base / 'f').write_bytes(b'a' * (3 * safe_files.CHUNK))
    digest, info = safe_files.sha256_within(str(base / 'f'), time.monotonic() + 60)
    assert digest == hashlib.sha256(b'a' * (3 * safe_files.CHUNK)).hexdigest() and info.st_size == 3 * safe_files.CHUNK
    assert safe_files.sha256_within(str(base / 'f'), time.monotonic() - 1)[0] is None
    os.mkfifo(base / 'fifo')
    with pytest.raises(OSError):
        safe_files.sha256_within(str(base / 'fifo'), time.monotonic() + 60)
    os.symlink('f', base / 'link')
    with pytest.raises(OSError):
        safe_files.sha256_within(str(base / 'link'), time.monotonic() + 60, follow=False)


def test_create_never_overwrites(base):
    (base / 'f').write_text('keep')
    with pytest.raises(FileExistsError):
        safe_files.create_file(str(base / 'f'), b'new')
    assert (base / 'f').read_text() == 'keep'


def test_existing_directory_is_not_chowned(base):
    other = base / 'd'
    other.mkdir()
    os.chown(other, NOBODY, NOBODY)
    with pytest.raises(UnsafePath):
        safe_files.ensure_dir(str(other), uid=0, gid=0)
    assert other.stat().st_uid == NOBODY


def test_replace_keeps_mode_and_owner(base):
    target = base / 'unit.env'
    target.write_text('A=1\n')
    os.chmod(target, 0o640)
    safe_files.replace_file(str(target), b'A=2\n')
    assert (target.read_text(), stat.S_IMODE(target.stat().st_mode)) == ('A=2\n', 0o640)
    assert [n for n in os.listdir(base) if n.startswith('.')] == []
