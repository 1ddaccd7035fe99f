"""ai_file_mode's engine: octal and short symbolic modes, set through safe_files (never through a user's symlink)."""

import os
import stat

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.host.file_mode import ensure_mode, parse_mode

from ..conftest import NOBODY, user_dir, user_file


@pytest.mark.parametrize('mode, old, new', [
    ('0600', 0o644, 0o600), ('600', 0o777, 0o600), (0o640, 0o600, 0o640), ('o-w', 0o666, 0o664), ('o-w', 0o644, 0o644),
    ('u=rw,go=', 0o755, 0o600), ('a+r', 0o600, 0o644), ('go-rwx', 0o4755, 0o4700), ('g=', 0o770, 0o700),
])
def test_modes(mode, old, new):
    assert parse_mode(mode)(old) == new


@pytest.mark.parametrize('mode', ['rw', '0800', 'o-w;rm', 'z+r', '', 0o10000])
def test_bad_modes_are_refused(mode):
    with pytest.raises(AigovError, match='mode'):
        parse_mode(mode)


def test_check_mode_then_change_then_nothing(tmp_path):
    path = tmp_path / 'model.gguf'
    path.write_text('weights')
    path.chmod(0o666)
    assert ensure_mode(str(path), 'o-w', check_mode=True) == (True, {'path': str(path), 'mode': '0664', 'previous_mode': '0666'})
    assert stat.S_IMODE(path.stat().st_mode) == 0o666
    assert ensure_mode(str(path), 'o-w')[0] is True and stat.S_IMODE(path.stat().st_mode) == 0o664
    assert ensure_mode(str(path), 'o-w')[0] is False


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(AigovError, match='does not exist'):
        ensure_mode(str(tmp_path / 'gone'), '0600')


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_a_users_symlink_to_a_root_file_is_refused_and_their_own_file_changed_as_them(base):
    """Finding 8: the credential file was swapped for a symlink to a root file after discovery read it."""
    home = user_dir(base)
    victim = base / 'shadow'
    victim.write_text('root:x:')
    victim.chmod(0o640)
    os.symlink(str(victim), str(home / '.env'))
    os.lchown(str(home / '.env'), NOBODY, NOBODY)
    for mode in ('0600', 'o-w', 'a+rwx'):
        with pytest.raises(AigovError, match='symlink'):
            ensure_mode(str(home / '.env'), mode)
    assert (stat.S_IMODE(victim.stat().st_mode), victim.stat().st_uid) == (0o640, 0)
    own = user_file(home / 'own.env', b'K=v\n', 0o644)
    assert ensure_mode(str(own), '0600')[0] and (stat.S_IMODE(own.stat().st_mode), own.stat().st_uid) == (0o600, NOBODY)
