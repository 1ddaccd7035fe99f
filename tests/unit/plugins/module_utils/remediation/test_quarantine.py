"""Quarantining a model file: check mode, the move and its record, idempotence, refusals."""

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.quarantine import quarantine

from ..conftest import user_dir, user_file

NOW = datetime.datetime(2026, 11, 25, 9, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture
def model(tmp_path):
    path = tmp_path / 'models' / 'poisoned.pkl'
    path.parent.mkdir()
    path.write_bytes(b'\x80\x04pickle-ish')
    path.chmod(0o644)
    return path


def test_check_mode_moves_nothing(model, tmp_path):
    qdir = tmp_path / 'q'
    changed, result = quarantine(str(model), str(qdir), ['R-1'], check_mode=True, now=NOW)
    assert changed and result['state'] == 'quarantined' and model.exists() and not qdir.exists()


def test_move_record_and_second_run(model, tmp_path):
    qdir = tmp_path / 'q'
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    changed, result = quarantine(str(model), str(qdir), ['R-1'], ['f1'], expected_sha256=digest, now=NOW)
    dest = result['quarantined_as']
    assert changed and not model.exists() and os.path.isfile(dest)
    assert oct(os.stat(dest).st_mode & 0o777) == '0o600' and oct(qdir.stat().st_mode & 0o777) == '0o700'
    with open(os.path.join(os.path.dirname(dest), 'record.json')) as handle:
        record = json.load(handle)
    assert record['original_path'] == str(model) and record['sha256'] == digest and record['mode'] == '0644'
    assert record['time'] == '2026-11-25T09:00:00Z' and record['rule_ids'] == ['R-1'] and record['owner']
    changed, again = quarantine(str(model), str(qdir), ['R-1'])
    assert not changed and again['state'] == 'already_quarantined' and again['quarantined_as'] == dest


def test_absent_without_record_is_not_a_change(tmp_path):
    assert quarantine(str(tmp_path / 'gone.pt'), str(tmp_path / 'q')) == (False, {
        'path': str(tmp_path / 'gone.pt'), 'state': 'absent', 'quarantined_as': None, 'record': None})


def test_refusals(model, tmp_path):
    link = tmp_path / 'link.pkl'
    link.symlink_to(model)
    with pytest.raises(AigovError, match='not a regular file'):
        quarantine(str(link), str(tmp_path / 'q'))
    with pytest.raises(AigovError, match='re-run the scan'):
        quarantine(str(model), str(tmp_path / 'q'), expected_sha256='0' * 64)
    with pytest.raises(AigovError, match='absolute paths'):
        quarantine('models/x.pkl', str(tmp_path / 'q'))
    assert model.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')
def test_a_file_swapped_for_a_symlink_while_it_is_hashed_never_changes_the_target(base, monkeypatch):
    """A user swaps their model for a symlink to a root file while root hashes it (issue 21, finding 8)."""
    models = user_dir(base, 'models')
    model = user_file(models / 'poisoned.pkl', b'\x80\x04pickle-ish')
    victim = base / 'victim'
    victim.write_bytes(b'root data')
    victim.chmod(0o644)
    real_sha256 = hashlib.sha256

    class SwapWhileHashing(object):
        def __init__(self, *args):
            self.digest = real_sha256(*args)

        def update(self, data):
            if os.path.isfile(model) and not os.path.islink(model):
                os.unlink(model)
                os.symlink(str(victim), str(model))
            self.digest.update(data)

        def hexdigest(self):
            return self.digest.hexdigest()

    monkeypatch.setattr(hashlib, 'sha256', SwapWhileHashing)
    with pytest.raises(AigovError, match='replaced'):
        quarantine(str(model), str(base / 'q'), expected_sha256=real_sha256(b'\x80\x04pickle-ish').hexdigest())
    monkeypatch.undo()
    assert (victim.read_bytes(), victim.stat().st_mode & 0o777, victim.stat().st_uid) == (b'root data', 0o644, 0)
    assert os.path.islink(model)  # the user's symlink is back where they put it
