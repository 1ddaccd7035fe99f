"""model_rollback: the last approved copy whose content verifies is restored atomically; the bad file is quarantined."""

import hashlib
import json
import os

import pytest

from ansible_collections.aigov.core.plugins.module_utils.remediation import quarantine
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.remediation.model_rollback import rollback

from ..conftest import NOBODY, user_dir, user_file


def sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def host(tmp_path):
    for name in ('srv', 'keep', 'approved'):
        (tmp_path / name).mkdir()
    served = tmp_path / 'srv' / 'model.bin'
    served.write_bytes(b'tampered weights')
    served.chmod(0o640)
    (tmp_path / 'keep' / sha(b'v1 weights')).write_bytes(b'v1 weights')
    (tmp_path / 'approved' / 'v2.bin').write_bytes(b'v2 weights')
    return tmp_path


def approved(host):
    return [{'name': 'v1', 'sha256': sha(b'v1 weights')},
            {'name': 'v2', 'sha256': sha(b'v2 weights'), 'path': str(host / 'approved' / 'v2.bin')}]


def go(host, models, served=None, check_mode=False):
    return rollback(served or str(host / 'srv' / 'model.bin'), models, str(host / 'keep'), str(host / 'q'), check_mode)


def test_the_newest_approved_copy_replaces_the_served_file_and_the_bad_one_is_quarantined(host):
    served = host / 'srv' / 'model.bin'
    assert go(host, approved(host), check_mode=True)[0] is True and served.read_bytes() == b'tampered weights'
    changed, result = go(host, approved(host))
    assert changed and served.read_bytes() == b'v2 weights' and oct(served.stat().st_mode & 0o777) == '0o640'
    assert (result['approved_name'], result['previous_sha256']) == ('v2', sha(b'tampered weights'))
    record = quarantine.find_record(str(host / 'q'), str(served))
    assert record['sha256'] == sha(b'tampered weights') and open(record['quarantined_as'], 'rb').read() == b'tampered weights'
    assert sorted(os.listdir(host / 'srv')) == ['model.bin']  # no temp or staged file left behind
    assert go(host, approved(host))[0] is False  # it serves an approved model now


def test_a_copy_whose_digest_differs_is_never_used(host):
    (host / 'approved' / 'v2.bin').write_bytes(b'v2 weights, altered')
    changed, result = go(host, approved(host))
    assert changed and result['approved_name'] == 'v1' and (host / 'srv' / 'model.bin').read_bytes() == b'v1 weights'


def test_a_symlinked_model_is_switched_at_its_target(host):
    target = host / 'srv' / 'model.bin'
    link = host / 'srv' / 'current'
    link.symlink_to(target)
    _changed, result = go(host, approved(host), served=str(link))
    assert os.path.islink(link) and result['file'] == str(target) and link.read_bytes() == b'v2 weights'


@pytest.mark.parametrize('models, served, message', [
    ([], None, 'no approved model digest is known'),
    ([{'name': 'v3', 'sha256': 'c' * 64}], None, 'no verified copy of an approved model: none of'),
    ([{'name': 'v2', 'sha256': 'c' * 64, 'path': 'APPROVED'}], None, 'has sha256 %s, not the approved %s' % (sha(b'v2 weights'), 'c' * 64)),
    (None, 'facebook/opt-125m', "the served model 'facebook/opt-125m' is not an absolute file path"),
    (None, '/nonexistent/model.bin', 'is not a file'),
])
def test_refusals_change_nothing(host, models, served, message):
    models = approved(host) if models is None else json.loads(json.dumps(models).replace('APPROVED', str(host / 'approved' / 'v2.bin')))
    with pytest.raises(AigovError, match=message):
        go(host, models, served=served)
    assert (host / 'srv' / 'model.bin').read_bytes() == b'tampered weights' and not (host / 'q').exists()


# The served file lies where a local user can change it (issue 21, finding 2).
as_root = pytest.mark.skipif(os.geteuid() != 0, reason='needs root to act for another user')


@pytest.fixture
def user_served(base):
    srv = user_dir(base, 'srv')
    (base / 'keep').mkdir()
    (base / 'keep' / sha(b'v1 weights')).write_bytes(b'v1 weights')
    victim = base / 'victim'
    victim.write_bytes(b'root data')
    victim.chmod(0o600)
    return srv, victim


def rollback_in(base, served):
    return rollback(str(served), [{'name': 'v1', 'sha256': sha(b'v1 weights')}], str(base / 'keep'), str(base / 'q'))


@as_root
def test_a_served_symlink_to_a_root_file_is_refused(base, user_served):
    srv, victim = user_served
    os.symlink(str(victim), str(srv / 'model.bin'))
    os.lchown(str(srv / 'model.bin'), NOBODY, NOBODY)
    with pytest.raises(AigovError, match='symlink'):
        rollback_in(base, srv / 'model.bin')
    assert (victim.read_bytes(), victim.stat().st_uid, victim.stat().st_mode & 0o777) == (b'root data', 0, 0o600)
    assert os.listdir(srv) == ['model.bin'] and not (base / 'q').exists()


@as_root
def test_a_root_file_linked_into_the_users_dir_is_refused(base, user_served):
    srv, victim = user_served
    os.link(str(victim), str(srv / 'model.bin'))  # what a user can do where protected_hardlinks is off
    with pytest.raises(AigovError, match='belongs to root'):
        rollback_in(base, srv / 'model.bin')
    assert victim.read_bytes() == b'root data'


@as_root
def test_a_users_model_is_rolled_back_as_that_user(base, user_served):
    srv, _victim = user_served
    served = user_file(srv / 'model.bin', b'tampered weights', 0o640)
    changed, result = rollback_in(base, served)
    assert changed and served.read_bytes() == b'v1 weights'
    assert (served.stat().st_uid, served.stat().st_mode & 0o777) == (NOBODY, 0o640)
    assert open(result['quarantined_as'], 'rb').read() == b'tampered weights' and os.listdir(srv) == ['model.bin']
