"""Benchmarks: each figure is a ratio against a baseline measured in the same run.

  discovery   ai_asset_facts vs setup on real container hosts over SSH (target <= 1.0)
  inventory   ai_assets inventory plugin vs a static YAML inventory, 10,000 assets on 1,000 hosts (<= 1.5)
  alerts      aiops_alerts event source vs a bare aiohttp receiver (throughput >= 0.8x / 0.5x, p99 <= 2x)
  storm       aiops_alerts with feedback (the spool), 4 storms of 100,000 alerts (unique / repeated, 1 / 100 per
              request): the source process' memory growth against its documented bound, no alert lost
  policy      default pack over 10,000 assets: policy.evaluate vs per-call jmespath.search
              (>= 200,000 rule evaluations/s on one core, >= 10x)
  kpis        governance KPIs over 100,000 audit entries vs a plain json.loads pass; remediation_plan's
              decision lookup at 100,000 entries vs a log holding only the decision
  scan        compliance_scan vs the same checks as plain assert tasks, 20 container hosts (>= 5x faster)
  postgresql  the PostgreSQL backend on a real server: inventory of 100,000 assets vs SQLite (<= 1.5x), 8 concurrent
              audit writers vs a plain INSERT loop (>= 2,000 entries/s, chain kept), discover of 1,000 hosts vs
              SQLite (<= 1.5x) (bench/pg_scale.py)

Results are printed and written to bench/results/latest.json.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import alert_storm  # noqa: E402
import alerts_vs_bare  # noqa: E402
import discovery_vs_setup  # noqa: E402
import governance_kpis  # noqa: E402
import inventory_vs_static  # noqa: E402
import pg_scale  # noqa: E402
import policy_eval  # noqa: E402
import scan_vs_assert  # noqa: E402

FIGURES = {'alerts': alerts_vs_bare, 'discovery': discovery_vs_setup, 'inventory': inventory_vs_static,
           'kpis': governance_kpis, 'postgresql': pg_scale,
           'policy': policy_eval, 'scan': scan_vs_assert, 'storm': alert_storm}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', choices=sorted(FIGURES), action='append', help='run only this figure (repeatable)')
    for module in FIGURES.values():
        module.add_arguments(parser)
    args = parser.parse_args()
    figures = [FIGURES[name].run(args) for name in sorted(FIGURES) if not args.only or name in args.only]
    results = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, 'latest.json'), 'w') as handle:
        json.dump(figures, handle, indent=2)


if __name__ == '__main__':
    main()
