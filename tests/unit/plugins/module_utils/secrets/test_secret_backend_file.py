"""The local file backend: versions, check-and-set under concurrent writers, modes, atomic files, path rules."""

import json
import multiprocessing
import os
import stat

import pytest

from ansible_collections.aigov.core.plugins.module_utils.secrets import secret_backend as sb
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend_file import KEEP_VERSIONS, FileBackend


def test_versions_and_check_and_set(tmp_path):
    store = FileBackend(str(tmp_path / 'secrets'))
    assert store.read_metadata('agents/a').current_version == 0
    with pytest.raises(sb.SecretNotFound, match='file backend .*secrets, path agents/a: not found'):
        store.read('agents/a')
    first = store.write('agents/a', 'value-one', 0)
    assert (first.value, first.version) == (None, 1)
    store.write('agents/a', 'value-two', 1)
    assert (store.read('agents/a').value, store.read('agents/a').version) == ('value-two', 2)
    assert store.read('agents/a', 1).value == 'value-one'
    metadata = store.read_metadata('agents/a')
    assert metadata.current_version == 2 and sorted(metadata.versions) == [1, 2]
    assert metadata.created_time == metadata.versions[2]
    sb.parse_time(metadata.created_time)
    with pytest.raises(sb.CASConflict, match=r'current version 2, expected 1\); nothing written') as info:
        store.write('agents/a', 'value-stale', 1)
    assert 'value-stale' not in str(info.value)
    assert store.read('agents/a').value == 'value-two'


def test_modes_and_no_leftover_files(tmp_path):
    store = FileBackend(str(tmp_path / 'secrets'))
    store.write('agents/team/b', 'value', 0)
    name = tmp_path / 'secrets' / 'agents' / 'team' / 'b.json'
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(name.parent).st_mode) == 0o700
    assert sorted(os.listdir(name.parent)) == ['b.json', 'b.json.lock']


def test_old_versions_are_dropped(tmp_path):
    store = FileBackend(str(tmp_path))
    for version in range(KEEP_VERSIONS + 3):
        store.write('a', 'value-%d' % version, version)
    versions = store.read_metadata('a').versions
    assert sorted(versions) == list(range(4, KEEP_VERSIONS + 4))
    with pytest.raises(sb.SecretNotFound, match='version 1'):
        store.read('a', 1)


def _race(directory, number, results):
    try:
        FileBackend(directory).write('agents/race', 'value-%d' % number, 0)
        results.put('won')
    except sb.CASConflict:
        results.put('conflict')


def test_concurrent_creators_one_wins(tmp_path):
    context = multiprocessing.get_context('fork')
    results = context.Queue()
    workers = [context.Process(target=_race, args=(str(tmp_path), n, results)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    outcomes = sorted(results.get(timeout=5) for _worker in workers)
    assert outcomes == ['conflict'] * 7 + ['won']
    assert FileBackend(str(tmp_path)).read_metadata('agents/race').current_version == 1


@pytest.mark.parametrize('path', ['../escape', '/abs', 'a/../b', 'a/./b', 'a//b', '', 'a b'])
def test_bad_paths_are_refused(tmp_path, path):
    with pytest.raises(sb.SecretBackendError, match='secret path .* is invalid'):
        FileBackend(str(tmp_path)).write(path, 'value', 0)
    assert os.listdir(str(tmp_path)) == []


def test_damaged_file_is_an_error_naming_it(tmp_path):
    store = FileBackend(str(tmp_path))
    (tmp_path / 'a.json').write_text('{not json')
    with pytest.raises(sb.SecretBackendError, match=r'cannot read .*a\.json: not valid JSON'):
        store.read('a')
    (tmp_path / 'a.json').write_text(json.dumps({'format': 99}))
    with pytest.raises(sb.SecretBackendError, match='is not a secret file of format 1'):
        store.write('a', 'value', 0)
