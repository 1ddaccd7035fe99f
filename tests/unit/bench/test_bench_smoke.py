"""The bench smoke layer: every figure runs at its smoke size, and one that crashes or prints nothing fails it."""

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def bench_run():
    sys.path.insert(0, os.path.join(ROOT, 'bench'))
    try:
        yield load('bench_run', os.path.join('bench', 'run.py'))
    finally:
        sys.path.remove(os.path.join(ROOT, 'bench'))


def figure(behaviour):
    def run(args):
        if behaviour == 'crash':
            raise KeyError('boom')
        if behaviour == 'exit':
            sys.exit('the plan did not find the recorded decision')
        if behaviour == 'print':
            print('figure at size %d' % args.size)
        return {'figure': behaviour}
    return types.SimpleNamespace(SMOKE={'size': 3}, run=run)


def test_every_figure_has_a_smoke_size(bench_run):
    parser = argparse.ArgumentParser()
    for module in bench_run.FIGURES.values():
        module.add_arguments(parser)
    known = set(vars(parser.parse_args([])))
    for name, module in bench_run.FIGURES.items():
        assert module.SMOKE and set(module.SMOKE) <= known, name


@pytest.mark.parametrize('behaviour, ok', [('print', True), ('crash', False), ('exit', False), ('silent', False)])
def test_smoke_fails_on_a_crash_or_silence(bench_run, monkeypatch, capsys, behaviour, ok):
    monkeypatch.setattr(bench_run, 'FIGURES', {'fine': figure('print'), 'tried': figure(behaviour)})
    code = bench_run.smoke(argparse.Namespace(size=1000, keep_files=False), ['fine', 'tried'])
    out = capsys.readouterr().out
    assert 'figure at size 3' in out  # the smoke size, not the full one
    assert 'smoke figure fine: ran' in out
    assert code == (0 if ok else 1)
    assert ('smoke figure tried: ran' in out) == ok
    assert ('smoke: %d figure(s) ran, %d failed' % ((2, 0) if ok else (1, 1))) in out


@pytest.mark.parametrize('keep', [False, True])
def test_what_a_figure_writes_is_removed_when_it_ends_unless_kept(bench_run, monkeypatch, capsys, keep):
    written = []

    def run(args):
        workdir = tempfile.mkdtemp(prefix='aigov-bench-figure-')  # as every figure makes its own
        with open(os.path.join(workdir, 'store'), 'wb') as handle:
            handle.write(b'x' * 1024)
        written.append(workdir)
        control = os.environ['ANSIBLE_SSH_CONTROL_PATH_DIR']  # where the figure's ansible runs keep SSH sockets
        assert os.path.isdir(control) and len(control) < 40, control  # ssh's socket: 40-char hash + 17, 108 at most
        written.append(control)
        raise KeyError('it crashed: its files go all the same')
    monkeypatch.delenv('ANSIBLE_SSH_CONTROL_PATH_DIR', raising=False)
    monkeypatch.setattr(bench_run, 'FIGURES', {'writer': types.SimpleNamespace(SMOKE={}, run=run)})
    assert bench_run.smoke(argparse.Namespace(keep_files=keep), ['writer']) == 1
    assert os.path.exists(written[0]) == keep
    assert not os.path.exists(written[1]) and 'ANSIBLE_SSH_CONTROL_PATH_DIR' not in os.environ  # sockets: never kept
    assert ('bench files kept in' in capsys.readouterr().out) == keep
    if keep:
        shutil.rmtree(os.path.dirname(written[0]))
    assert tempfile.tempdir is None or not tempfile.tempdir.startswith(os.path.dirname(written[0]))


def test_the_layer_counts_figures(monkeypatch):
    run_tests = load('run_tests', os.path.join('hack', 'run_tests.py'))
    output = 'smoke figure a: ran (1 s)\nsmoke figure b: FAILED, KeyError: x (0 s)\nsmoke: 1 figure(s) ran, 1 failed: b\n'
    monkeypatch.setattr(run_tests, 'run', lambda cmd, **kwargs: (1, output))
    result = run_tests.layer_bench()
    assert (result.passed, result.failed, result.ok) == (1, 1, False)
    monkeypatch.setattr(run_tests, 'run', lambda cmd, **kwargs: (0, 'smoke figure a: ran (1 s)\nsmoke: 1 figure(s) ran, 0 failed\n'))
    assert run_tests.layer_bench().ok
    monkeypatch.setattr(run_tests, 'run', lambda cmd, **kwargs: (1, 'Traceback: ImportError\n'))  # run.py itself broke
    assert not run_tests.layer_bench().ok
