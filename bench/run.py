"""Benchmarks: each figure is a ratio against a baseline measured in the same run.

  discovery   ai_asset_facts vs setup on real container hosts over SSH (target <= 1.0)
  inventory   ai_assets inventory plugin vs a static YAML inventory, 10,000 assets on 1,000 hosts (<= 1.5)
  alerts      aiops_alerts event source vs a bare aiohttp receiver (1 alert/request: throughput >= 0.85x, p99 <= 1.5x;
              100 alerts/request: >= 0.18x, p99 <= 8x)
  engine      alerts/s a real ansible-rulebook takes in through aiops_alerts vs its built-in webhook source, same
              rules (>= 0.9x), and the engine's own ceiling (its range source)
  storm       aiops_alerts with feedback (the spool), 4 storms of 100,000 alerts (unique / repeated, 1 / 100 per
              request): the source process' memory growth against its documented bound, no alert lost
  policy      default pack over 10,000 assets: policy.evaluate vs per-call jmespath.search
              (>= 200,000 rule evaluations/s on one core, >= 10x)
  kpis        governance KPIs over 100,000 audit entries vs a plain json.loads pass; remediation_plan's
              decision lookup at 100,000 entries vs a log holding only the decision
  containers  discovery of a host running 20 containers, with vs without container context (<= 1.5x)
  remediation kill -> restarted on a container host through Prometheus, Alertmanager and ansible-rulebook: the shipped
              governed chain vs the built-in webhook running the same restart ungoverned (median <= 1.1x), 20 outages
  scan        compliance_scan vs the same checks as plain assert tasks, 20 container hosts (>= 5x faster)
  provenance  verifying the model signature of a 2 GB model directory vs its sha256 alone (<= 1.2x), warm
              hash cache noted
  postgresql  the PostgreSQL backend on a real server: inventory of 100,000 assets vs SQLite (<= 1.5x), 8 concurrent
              audit writers vs a plain INSERT loop (>= 2,000 entries/s, chain kept), discover of 1,000 hosts vs
              SQLite (<= 1.5x) (bench/pg_scale.py)

Results are printed and written to bench/results/latest.json; the run ends with every target, PASS or MISS. What a
figure writes is removed when it ends (--keep-files keeps it).

--smoke runs every figure at a small size (each module's SMOKE arguments), each on its own, and checks only
that it runs and prints: the `bench` layer of `make test` (hack/run_tests.py), so a figure cannot break unnoticed.
Its figures are too small to judge a target and are not written to latest.json.
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import alert_storm  # noqa: E402
import alert_to_remediation  # noqa: E402
import alerts_vs_bare  # noqa: E402
import container_discovery  # noqa: E402
import discovery_vs_setup  # noqa: E402
import governance_kpis  # noqa: E402
import inventory_vs_static  # noqa: E402
import pg_scale  # noqa: E402
import policy_eval  # noqa: E402
import provenance_vs_sha256  # noqa: E402
import rulebook_vs_webhook  # noqa: E402
import scan_vs_assert  # noqa: E402
import targets  # noqa: E402

FIGURES = {'alerts': alerts_vs_bare, 'containers': container_discovery, 'discovery': discovery_vs_setup,
           'engine': rulebook_vs_webhook, 'inventory': inventory_vs_static, 'kpis': governance_kpis,
           'policy': policy_eval, 'postgresql': pg_scale, 'provenance': provenance_vs_sha256,
           'remediation': alert_to_remediation,
           'scan': scan_vs_assert, 'storm': alert_storm}
CONTROL_PATH_DIR = 'ANSIBLE_SSH_CONTROL_PATH_DIR'


@contextlib.contextmanager
def scratch(keep):
    """A directory of the figure's own for what it writes (stores, logs, Prometheus data: up to hundreds of MB a
    figure), as tempfile's directory for its mkdtemp() calls; removed when the figure ends, unless keep (then printed).
    SSH's control sockets get a directory of their own directly under /tmp (a socket path must stay under 108 bytes),
    passed to the figure's ansible runs as ANSIBLE_SSH_CONTROL_PATH_DIR and removed with the rest."""
    path = tempfile.mkdtemp(prefix='aigov-bench-')
    control = tempfile.mkdtemp(prefix='aigov-cp-', dir='/tmp')
    previous, tempfile.tempdir = tempfile.tempdir, path
    previous_control = os.environ.get(CONTROL_PATH_DIR)
    os.environ[CONTROL_PATH_DIR] = control
    try:
        yield path
    finally:
        tempfile.tempdir = previous
        if previous_control is None:
            os.environ.pop(CONTROL_PATH_DIR, None)
        else:
            os.environ[CONTROL_PATH_DIR] = previous_control
        shutil.rmtree(control, ignore_errors=True)
        if keep:
            print('bench files kept in %s' % path)
        else:
            shutil.rmtree(path, ignore_errors=True)


def run_figure(name, args):
    with scratch(args.keep_files):
        return FIGURES[name].run(args)


def smoke(args, names):
    """Run each figure at its smoke size; one line per figure (ran / FAILED), exit status 1 when one failed."""
    failed = []
    for name in names:
        smoke_args = argparse.Namespace(**dict(vars(args), **FIGURES[name].SMOKE))
        started, printed = time.monotonic(), io.StringIO()
        try:
            with contextlib.redirect_stdout(Tee(sys.stdout, printed)):
                run_figure(name, smoke_args)
            error = None if printed.getvalue().strip() else 'printed nothing'
        except BaseException as exc:  # SystemExit too: a figure that gives up is a failure of the layer
            if isinstance(exc, KeyboardInterrupt):
                raise
            traceback.print_exc()
            error = '%s: %s' % (exc.__class__.__name__, exc)
        outcome = 'ran' if error is None else 'FAILED, ' + error
        print('smoke figure %s: %s (%.0f s)' % (name, outcome, time.monotonic() - started), flush=True)
        if error is not None:
            failed.append(name)
    listed = ': ' + ', '.join(failed) if failed else ''
    print('smoke: %d figure(s) ran, %d failed%s' % (len(names) - len(failed), len(failed), listed))
    return 1 if failed else 0


class Tee(object):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', choices=sorted(FIGURES), action='append', help='run only this figure (repeatable)')
    parser.add_argument('--smoke', action='store_true', help='every figure at a small size: checks it runs, not its target')
    parser.add_argument('--keep-files', action='store_true', help='keep what each figure wrote (printed where), to look into')
    for module in FIGURES.values():
        module.add_arguments(parser)
    args = parser.parse_args()
    names = [name for name in sorted(FIGURES) if not args.only or name in args.only]
    if args.smoke:
        return smoke(args, names)
    figures = [run_figure(name, args) for name in names]
    results = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, 'latest.json'), 'w') as handle:
        json.dump(figures, handle, indent=2)
    verdicts = [found for figure in figures for found in figure.get('targets', [])]
    print('\n===== targets =====')
    for found in verdicts:
        print(targets.line(found))
    missed = sum(1 for found in verdicts if found['verdict'] != 'PASS')
    print('%d target(s), %d PASS, %d MISS' % (len(verdicts), len(verdicts) - missed, missed))
    return 0


if __name__ == '__main__':
    sys.exit(main())
