"""The per-agent rotation lock: one live run at a time, a killed run's lock taken over, never another's dropped."""

import json
import os
import subprocess

import pytest

from ansible_collections.aigov.core.plugins.module_utils.secrets.rotation_lock import LockError, LockHeld, acquire, predict, release


def dead_pid():
    proc = subprocess.Popen(['true'])
    proc.wait()
    return proc.pid


def test_one_run_at_a_time(tmp_path):
    me, other = os.getpid(), os.getppid()  # both alive
    assert acquire(str(tmp_path), 'bot', me, 'ctl') == (True, None)
    assert acquire(str(tmp_path), 'bot', me, 'ctl') == (False, None)  # the holder again: nothing to do
    with pytest.raises(LockHeld, match=r'agent bot: another rotation holds .*bot.lock \(process %d on ctl since' % me):
        acquire(str(tmp_path), 'bot', other, 'ctl')
    assert not release(str(tmp_path), 'bot', other, 'ctl')  # not its lock: left alone
    assert json.loads((tmp_path / 'bot.lock').read_text())['pid'] == me
    assert release(str(tmp_path), 'bot', me, 'ctl') and not (tmp_path / 'bot.lock').exists()
    assert acquire(str(tmp_path), 'bot', other, 'ctl')[0]


def test_a_dead_holder_on_this_machine_is_taken_over_one_elsewhere_is_not(tmp_path):
    gone = dead_pid()
    acquire(str(tmp_path), 'bot', gone, 'ctl')
    taken, note = acquire(str(tmp_path), 'bot', os.getpid(), 'ctl')
    assert taken and 'took over the stale lock of process %d on ctl' % gone in note
    acquire(str(tmp_path), 'other', gone, 'elsewhere')
    with pytest.raises(LockHeld):
        acquire(str(tmp_path), 'other', os.getpid(), 'ctl')


def test_an_unreadable_lock_is_held_not_replaced(tmp_path):
    (tmp_path / 'bot.lock').write_text('{half')
    with pytest.raises(LockHeld, match='an unknown run'):
        acquire(str(tmp_path), 'bot', os.getpid(), 'ctl')


def test_bad_names_and_directories(tmp_path):
    with pytest.raises(LockError, match='agent must be a name'):
        acquire(str(tmp_path), '../x', os.getpid(), 'ctl')
    (tmp_path / 'file').write_text('')
    with pytest.raises(LockError, match='cannot use lock directory'):
        acquire(str(tmp_path / 'file' / 'locks'), 'bot', os.getpid(), 'ctl')


def test_check_mode_predicts_take_and_drop_without_touching_anything(tmp_path):
    locks = str(tmp_path / 'locks')
    me, other = os.getpid(), os.getppid()
    assert predict(locks, 'bot', me, 'ctl') == (True, None) and not os.path.exists(locks)
    assert predict(locks, 'bot', me, 'ctl', 'unlocked') == (False, None)
    acquire(locks, 'bot', me, 'ctl')
    held = (tmp_path / 'locks' / 'bot.lock').read_text()
    assert predict(locks, 'bot', me, 'ctl') == (False, None) and predict(locks, 'bot', me, 'ctl', 'unlocked') == (True, None)
    with pytest.raises(LockHeld, match='another rotation holds'):
        predict(locks, 'bot', other, 'ctl')
    assert predict(locks, 'bot', other, 'ctl', 'unlocked') == (False, None)
    acquire(locks, 'gone', dead_pid(), 'ctl')
    taken, note = predict(locks, 'gone', me, 'ctl')
    assert taken and 'took over the stale lock' in note
    assert (tmp_path / 'locks' / 'bot.lock').read_text() == held
