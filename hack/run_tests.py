"""Run every test layer and end with a per-layer count of passed/failed tests.

Layers: sanity (ansible-test), lint (ansible-lint, production profile), unit
and integration (pytest), bench (every figure of bench/run.py at a small size:
it runs and prints; its target is not judged, `make bench` does that). Every layer runs even when an earlier one fails; the
exit status is non-zero if any layer failed, errored, skipped a test or ran
none. Called by `make test` (and so by .ci/run).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
LAYERS = ('sanity', 'lint', 'unit', 'integration', 'bench')
# Not part of the collection as ansible-test sees it: these names at the top of the checkout (a
# `reports` folder elsewhere, module_utils/reports, is code), caches anywhere.
SANITY_SKIP_TOP = ('.git', '.venv', '.collections', '.cache', 'reports')
SANITY_SKIP_ANYWHERE = ('__pycache__', '.pytest_cache')


def sanity_ignore(directory, names):
    skipped = [name for name in names if name in SANITY_SKIP_ANYWHERE]
    if os.path.abspath(directory) == ROOT:
        skipped += [name for name in names if name in SANITY_SKIP_TOP]
    if os.path.abspath(directory) == os.path.join(ROOT, 'tests'):
        skipped += [name for name in names if name == 'output']
    return skipped


class Result(object):
    def __init__(self, passed=0, failed=0, skipped=0, note=''):
        self.passed, self.failed, self.skipped, self.note = passed, failed, skipped, note

    @property
    def ok(self):
        return self.failed == 0 and self.skipped == 0 and self.passed > 0


def run(cmd, cwd=ROOT, timeout=3600, env=None):
    """Run a command, stream its output, return (returncode, output)."""
    print('$ %s' % ' '.join(cmd), flush=True)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line)
        if time.monotonic() > deadline:
            proc.kill()
            lines.append('TIMEOUT after %d s\n' % timeout)
            break
    return proc.wait(), ''.join(lines)


def ansible_test_pip_version():
    """The pip version ansible-test bootstraps, read from its own source."""
    import ansible_test
    source = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(source) as handle:
        return re.search(r"pip='([0-9.]+)'", handle.read()).group(1)


def install_get_pip_standin():
    """ansible-test downloads get-pip from a host this network cannot reach.

    The stand-in does the same job from the standard library: ensurepip in a
    subprocess (in-process it would hide the machine's pip config), then pip.
    """
    version = ansible_test_pip_version()
    path = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % version.replace('.', '_'))
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as handle:
        handle.write(
            'import subprocess\nimport sys\n'
            "args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]\n"
            "subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])\n"
            "subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--upgrade'] + args)\n")


def layer_sanity():
    install_get_pip_standin()
    workdir = tempfile.mkdtemp(prefix='aigov-sanity-')
    try:
        dest = os.path.join(workdir, 'ansible_collections', 'aigov', 'core')
        shutil.copytree(ROOT, dest, symlinks=True, ignore=sanity_ignore)
        # ansible-test lists files through git when it can: it then honours .gitignore.
        subprocess.run(['git', 'init', '-q'], cwd=dest, check=True)
        subprocess.run(['git', 'add', '-A'], cwd=dest, check=True)
        code, output = run([os.path.join(BIN, 'ansible-test'), 'sanity', '--venv', '--python', '3.11', '--color', 'no'],
                           cwd=dest, timeout=2400)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = len(re.findall(r'^Running sanity test "', output, re.M))
    match = re.search(r'The (\d+) sanity test\(s\) listed below \(out of (\d+)\) failed', output)
    failed = int(match.group(1)) if match else (0 if code == 0 else 1)
    return Result(max(total - failed, 0), failed, note='' if code == 0 else 'exit %d' % code)


def layer_lint():
    code, output = run([os.path.join(BIN, 'ansible-lint'), '--profile', 'production', '--offline', '--nocolor'], timeout=900)
    files = re.search(r'(\d+) files processed', output)
    failures = re.search(r'(\d+) failure\(s\)', output)
    processed = int(files.group(1)) if files else 0
    failed = int(failures.group(1)) if failures else (0 if code == 0 else 1)
    if code != 0 and failed == 0:
        failed = 1
    return Result(max(processed - failed, 0), failed, note='' if code == 0 else 'exit %d' % code)


def layer_pytest(path, timeout):
    junit_dir = tempfile.mkdtemp(prefix='aigov-junit-')
    junit = os.path.join(junit_dir, 'junit.xml')
    try:
        code, _output = run([sys.executable, '-m', 'pytest', path, '-ra', '--junitxml', junit], timeout=timeout)
        if not os.path.exists(junit):
            return Result(failed=1, note='pytest wrote no results (exit %d)' % code)
        suite = ET.parse(junit).getroot()
    finally:
        shutil.rmtree(junit_dir, ignore_errors=True)
    suite = suite.find('testsuite') if suite.tag == 'testsuites' else suite
    tests, failures, errors, skipped = (int(suite.get(key, 0)) for key in ('tests', 'failures', 'errors', 'skipped'))
    result = Result(tests - failures - errors - skipped, failures + errors, skipped)
    if code not in (0, 1):
        result.note = 'exit %d' % code
        result.failed = max(result.failed, 1)
    return result


def layer_bench():
    """bench/run.py --smoke: one passed test per figure that ran and printed, one failed per figure that crashed."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''))  # its playbooks and ansible-rulebook
    code, output = run([sys.executable, os.path.join('bench', 'run.py'), '--smoke'], timeout=600, env=env)
    ran = len(re.findall(r'^smoke figure \S+: ran ', output, re.M))
    failed = len(re.findall(r'^smoke figure \S+: FAILED', output, re.M))
    result = Result(ran, failed)
    if code != 0 or not re.search(r'^smoke: \d+ figure\(s\) ran', output, re.M):
        result.failed = max(result.failed, 1)
        result.note = 'exit %d' % code
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--layers', default=','.join(LAYERS), help='comma-separated subset of %s' % ', '.join(LAYERS))
    layers = [name for name in parser.parse_args().layers.split(',') if name]
    unknown = set(layers) - set(LAYERS)
    if unknown:
        parser.error('unknown layer(s): %s' % ', '.join(sorted(unknown)))
    runners = {
        'sanity': layer_sanity,
        'lint': layer_lint,
        'unit': lambda: layer_pytest('tests/unit', 900),
        'integration': lambda: layer_pytest('tests/integration', 2400),
        'bench': layer_bench,
    }
    results = {}
    for name in layers:
        print('\n===== %s =====' % name, flush=True)
        started = time.monotonic()
        results[name] = runners[name]()
        results[name].note = ('%s %.0f s' % (results[name].note, time.monotonic() - started)).strip()

    print('\n===== results =====')
    for name in layers:
        res = results[name]
        extra = ', %d skipped' % res.skipped if res.skipped else ''
        status = 'ok' if res.ok else 'FAILED'
        print('%s: %d passed, %d failed%s   (%s, %s)' % (name, res.passed, res.failed, extra, status, res.note))
    passed = sum(res.passed for res in results.values())
    failed = sum(res.failed for res in results.values())
    print('total: %d passed, %d failed' % (passed, failed))
    return 0 if all(res.ok for res in results.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
