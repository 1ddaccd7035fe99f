"""Benchmarks: each figure is a ratio against a baseline measured in the same run.

  discovery   ai_asset_facts vs setup on real container hosts over SSH (target <= 1.0)
  inventory   ai_assets inventory plugin vs a static YAML inventory, 10,000 assets on 1,000 hosts (<= 1.5)
  scan        compliance_scan vs the same checks as plain assert tasks, 20 container hosts (>= 5x faster)

Results are printed and written to bench/results/latest.json.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import discovery_vs_setup  # noqa: E402
import inventory_vs_static  # noqa: E402
import scan_vs_assert  # noqa: E402

FIGURES = {'discovery': discovery_vs_setup, 'inventory': inventory_vs_static, 'scan': scan_vs_assert}


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
