#!/usr/bin/env bash
# What `make demo` runs: one compliance scan of this machine (localhost, with the bundled
# discovery defaults) and of the demo estate (examples/demo-estate: files only, nothing
# started, nothing outside the checkout changed), with the demo's registry and waiver,
# then the summary for people.
# Usage: hack/demo.sh [REPORT_DIR]   (default: reports/demo). ansible-playbook and python
# come from PATH (the Makefile puts .venv/bin first) and aigov.core from ANSIBLE_COLLECTIONS_PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
reports=${1:-$root/reports/demo}
estate=$root/examples/demo-estate
ansible-playbook -i "$root/examples/localhost.yml" -i "$estate/inventory.yml" aigov.core.compliance_scan \
  -e "aigov_report_dir=$reports" -e "aigov_registry=$estate/registry.yml" \
  -e "{\"aigov_exceptions\": [\"$estate/exceptions.yml\"]}"
python "$root/hack/print_summary.py" "$reports/compliance-report.json" --next
