"""write_atomically: the one controller-side way to replace a file whole (reports, locks, the file secret backend)."""

import os
import stat

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.atomic_write import write_atomically


def test_replaces_with_the_mode_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / 'report.json'
    path.write_text('old')
    write_atomically(str(path), 'new ✓', 0o644)
    assert path.read_text(encoding='utf-8') == 'new ✓' and stat.S_IMODE(path.stat().st_mode) == 0o644
    write_atomically(str(path), b'\x00bytes')
    assert path.read_bytes() == b'\x00bytes' and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(str(tmp_path)) == ['report.json']


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / 'taken'
    target.mkdir()  # a rename onto a directory fails after the temp file is written
    with pytest.raises(OSError):
        write_atomically(str(target), 'x')
    assert sorted(os.listdir(str(tmp_path))) == ['taken'] and target.is_dir()


def test_a_missing_directory_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        write_atomically(str(tmp_path / 'gone' / 'f'), 'x')
