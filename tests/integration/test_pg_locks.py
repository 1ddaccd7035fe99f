"""Rotation locks in a real PostgreSQL server: the file locks' rules (held, re-run, stale, release) across machines,
check-and-take atomic under concurrency; the plan lock of a log in PostgreSQL excludes across connections."""

import multiprocessing
import os
import threading
import time

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common import database
from ansible_collections.aigov.core.plugins.module_utils.remediation import gate
from ansible_collections.aigov.core.plugins.module_utils.secrets import rotation_lock


def test_the_file_lock_rules_hold_in_the_database(pg_database):
    assert rotation_lock.predict(pg_database, 'bot', 10, 'node-a') == (True, None)
    assert rotation_lock.acquire(pg_database, 'bot', 10, 'node-a') == (True, None)
    assert rotation_lock.acquire(pg_database, 'bot', 10, 'node-a') == (False, None)  # a re-run of the task
    with pytest.raises(rotation_lock.LockHeld, match='process 10 on node-a'):
        rotation_lock.acquire(pg_database, 'bot', 11, 'node-b')  # another machine: never guessed dead
    with pytest.raises(rotation_lock.LockHeld):
        rotation_lock.predict(pg_database, 'bot', 11, 'node-b')
    assert rotation_lock.release(pg_database, 'bot', 11, 'node-b') is False
    assert rotation_lock.release(pg_database, 'bot', 10, 'node-a') is True
    assert rotation_lock.acquire(pg_database, 'bot', 11, 'node-b') == (True, None)


def test_a_dead_holder_on_this_machine_is_stale(pg_database):
    process = multiprocessing.get_context('spawn').Process(target=time.sleep, args=(0,))
    process.start()
    process.join()
    rotation_lock.acquire(pg_database, 'bot', process.pid, 'here')
    taken, note = rotation_lock.acquire(pg_database, 'bot', os.getpid(), 'here')
    assert taken and 'took over the stale lock' in note


def test_one_taker_among_many(pg_database):
    results, errors = [], []

    def take(index):
        try:
            results.append(rotation_lock.acquire(pg_database, 'bot', index, 'node-%d' % index)[0])
        except rotation_lock.LockHeld:
            errors.append(index)
    threads = [threading.Thread(target=take, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [True] and len(errors) == 7


def test_one_setting_and_a_clear_error_when_the_database_is_away(pg_database, monkeypatch, tmp_path):
    monkeypatch.setenv(database.ENV, pg_database)
    assert rotation_lock.location(None) == pg_database
    assert rotation_lock.location(str(tmp_path)) == str(tmp_path)
    down = pg_database.rsplit(':', 1)[0] + ':1/x'
    with pytest.raises(rotation_lock.LockError, match='cannot connect to the rotation locks'):
        rotation_lock.acquire(down, 'bot', 1, 'here')


def test_plan_lock_excludes_across_connections(pg_database):
    order = []

    def plan(name, hold):
        with gate.planning(pg_database):
            order.append(name + '+')
            time.sleep(hold)
            order.append(name + '-')
    first = threading.Thread(target=plan, args=('a', 0.5))
    first.start()
    time.sleep(0.2)
    plan('b', 0)
    first.join()
    assert order == ['a+', 'a-', 'b+', 'b-']
