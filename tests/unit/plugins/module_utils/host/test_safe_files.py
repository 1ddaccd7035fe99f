"""The safe file layer: root never acts through what a non-root user controls.

Runs as root (as `make test` does) with the real unprivileged user `nobody` owning the
directories an attacker would control.
"""

import hashlib
import os
import stat
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.host import safe_files
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host.safe_files import UnsafePath

from ..conftest import NOBODY, user_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')


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


def test_location_names_the_real_path(base):
    (base / 'real').mkdir()
    os.symlink(str(base / 'real'), str(base / 'abs'))
    os.symlink('real', str(base / 'rel'))
    for alias in ('abs', 'rel'):
        location = safe_files.locate(str(base / alias / 'f'))
        try:
            assert location.real == str(base / 'real' / 'f')
        finally:
            location.close()


def test_replace_from_a_descriptor_checks_the_digest_and_keeps_the_old_file_aside(base):
    (base / 'source').write_bytes(b'approved')
    (base / 'model').write_bytes(b'tampered')
    os.chmod(base / 'model', 0o640)
    digest = hashlib.sha256(b'approved').hexdigest()
    with safe_files.opened(str(base / 'source'), 'read') as (fd, _info, _location, _uid):
        with pytest.raises(AigovError, match='does not have the sha256'):
            safe_files.replace_file(str(base / 'model'), fd, sha256='0' * 64, keep_as='.model.old')
        assert sorted(os.listdir(base)) == ['model', 'source'] and (base / 'model').read_bytes() == b'tampered'
        assert safe_files.replace_file(str(base / 'model'), fd, sha256=digest, keep_as='.model.old') == str(base / 'model')
    assert (base / 'model').read_bytes() == b'approved' and stat.S_IMODE((base / 'model').stat().st_mode) == 0o640
    assert (base / '.model.old').read_bytes() == b'tampered'


def test_a_user_dir_gets_no_file_of_another_owner(base):
    home = user_dir(base)
    with pytest.raises(UnsafePath, match='only nobody may create'):
        safe_files.replace_file(str(home / 'env'), b'x', 0o600, uid=0, gid=0)
    assert os.listdir(home) == []


def test_ensure_file_changes_only_on_a_difference(base):
    path = str(base / 'env')
    assert safe_files.ensure_file(path, b'K=1\n', 0o600, NOBODY, NOBODY, check_mode=True) is True
    assert not os.path.exists(path)
    assert safe_files.ensure_file(path, b'K=1\n', 0o600, NOBODY, NOBODY) is True
    assert safe_files.ensure_file(path, b'K=1\n', 0o600, NOBODY, NOBODY) is False
    assert safe_files.ensure_file(path, b'K=1\n', 0o640, NOBODY, NOBODY) is True
    info = os.stat(path)
    assert (info.st_uid, stat.S_IMODE(info.st_mode), open(path, 'rb').read()) == (NOBODY, 0o640, b'K=1\n')


def test_move_opened_moves_the_checked_inode_only(base):
    home = user_dir(base)
    (base / 'q').mkdir(mode=0o700)
    victim = base / 'victim'
    victim.write_text('root data')
    model = home / 'model'
    model.write_text('weights')
    os.chown(model, NOBODY, NOBODY)
    with safe_files.opened(str(model), 'quarantine') as (fd, _info, location, uid):
        os.rename(str(model), str(home / 'kept'))  # the user swaps their file for a symlink
        os.symlink(str(victim), str(model))
        with pytest.raises(UnsafePath, match='replaced while it was being checked'):
            safe_files.move_opened(fd, location, uid, str(base / 'q' / 'model'))
    assert os.path.islink(model) and os.listdir(base / 'q') == [] and victim.read_text() == 'root data'
    os.unlink(model)
    os.rename(str(home / 'kept'), str(model))
    with safe_files.opened(str(model), 'quarantine') as (fd, _info, location, uid):
        safe_files.move_opened(fd, location, uid, str(base / 'q' / 'model'))
    moved = (base / 'q' / 'model').stat()
    assert not model.exists() and (moved.st_uid, stat.S_IMODE(moved.st_mode)) == (NOBODY, 0o600)


def test_move_opened_refuses_a_destination_users_control(base):
    home = user_dir(base)
    (base / 'f').write_text('x')
    with safe_files.opened(str(base / 'f'), 'quarantine') as (fd, _info, location, uid):
        with pytest.raises(UnsafePath, match='can change that directory'):
            safe_files.move_opened(fd, location, uid, str(home / 'f'))
    assert (base / 'f').exists()


# Host-side writers that used their own temp file and rename now go through safe_files.

@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_the_hash_cache_is_not_written_through_a_users_symlinked_directory(base):
    from ansible_collections.aigov.core.plugins.module_utils.host.hash_cache import HashCache
    elsewhere = base / 'etc-aigov'
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(base / 'cache'))
    os.lchown(str(base / 'cache'), NOBODY, NOBODY)
    cache = HashCache(str(base / 'cache' / 'hashes.json'))
    cache.store(os.stat(str(base)), 'a' * 64)
    problem = cache.save()
    assert problem and 'symlink' in problem and os.listdir(str(elsewhere)) == []
    own = HashCache(str(base / 'var' / 'hashes.json'))
    own.store(os.stat(str(base)), 'b' * 64)
    assert own.save() is None and stat.S_IMODE((base / 'var' / 'hashes.json').stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_an_agent_quarantine_record_never_writes_through_a_planted_link(base):
    from ansible_collections.aigov.core.plugins.module_utils.remediation import agent_quarantine
    records = user_dir(base, 'records')
    victim = base / 'shadow'
    victim.write_text('root:x:')
    for planted in ('bot-1.json.tmp', 'bot-1.json'):
        os.symlink(str(victim), str(records / planted))
        os.lchown(str(records / planted), NOBODY, NOBODY)
    with pytest.raises(AigovError):
        agent_quarantine._write_record(str(records / 'bot-1.json'), {'agent': 'bot-1'})
    assert victim.read_text() == 'root:x:'
    with pytest.raises(AigovError):
        agent_quarantine.read_record(str(records / 'bot-1.json'))  # not read through the link either
    own = str(base / 'var' / 'agents' / 'bot-1.json')
    agent_quarantine._write_record(own, {'agent': 'bot-1'})
    assert agent_quarantine.read_record(own) == {'agent': 'bot-1'} and stat.S_IMODE(os.stat(own).st_mode) == 0o600
