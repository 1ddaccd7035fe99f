#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done on the controller by plugins/action/ai_report.py;
# this file holds its documentation.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ai_report
short_description: Write compliance reports from an AI policy check
version_added: 0.1.0
description:
  - Renders the result of M(aigov.core.ai_policy_check) into report files on the controller, one
    per format, written atomically (a reader never sees half a report).
  - C(json) follows the versioned contract C(schemas/compliance-report.v1.json) in the collection;
    C(junit) is JUnit XML for CI servers and AAP; C(sarif) is SARIF 2.1.0 for security tooling;
    C(html) is one self-contained page for people. See C(docs/compliance-scan.md).
  - Each run appends a summary record of the scan to C(compliance-history.jsonl) in O(dest) (kept to
    the last O(history_size) scans); the JSON and HTML reports show that trend.
author:
  - aigov.core maintainers (@aigov)
options:
  check:
    description:
      - The result registered from an M(aigov.core.ai_policy_check) task.
    type: dict
    required: true
  dest:
    description:
      - Directory to write the report files to, created if missing. A relative path is relative
        to the directory ansible-playbook runs in.
    type: path
    required: true
  formats:
    description:
      - Report formats to write.
      - C(json) writes C(compliance-report.json), C(junit) C(compliance-report.junit.xml), C(sarif)
        C(compliance-report.sarif), C(html) C(compliance-report.html) and C(coverage) the framework
        coverage matrix C(framework-coverage.json) (C(schemas/framework-coverage.v1.json)).
    type: list
    elements: str
    choices: [coverage, html, json, junit, sarif]
    default: [coverage, html, json, junit, sarif]
  history_size:
    description:
      - How many scans C(compliance-history.jsonl) keeps, oldest dropped first.
      - C(0) keeps no history file; the trend then has this scan only.
      - A history file that is not valid JSON lines fails the task with its path and line number.
    type: int
    default: 100
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written (no report, no history, no directory); the task
      reports the files and the trend it would write.
  diff_mode:
    support: none
    description: Reports are written anew each scan; no diff is shown.
seealso:
  - module: aigov.core.ai_policy_check
"""

EXAMPLES = r"""
- name: Evaluate the baseline
  aigov.core.ai_policy_check:
  register: aigov_check

- name: Write every report format under reports/ and extend the trend
  aigov.core.ai_report:
    check: "{{ aigov_check }}"
    dest: reports

- name: Only JUnit XML for a CI job, keeping a year of daily scans
  aigov.core.ai_report:
    check: "{{ aigov_check }}"
    dest: ci-results
    formats: [junit]
    history_size: 365
"""

RETURN = r"""
files:
  description: Paths of the report files written (or that would be written in check mode).
  returned: always
  type: list
  elements: str
  sample:
    - /srv/aigov/reports/compliance-report.html
    - /srv/aigov/reports/compliance-report.json
    - /srv/aigov/reports/compliance-report.junit.xml
    - /srv/aigov/reports/compliance-report.sarif
history:
  description: Path of the history file (written unless in check mode); null when O(history_size=0).
  returned: always
  type: str
  sample: /srv/aigov/reports/compliance-history.jsonl
trend:
  description:
    - This scan's summary record and those kept before it, oldest first
      (C(schemas/compliance-history.v1.json)).
  returned: success
  type: list
  elements: dict
  sample:
    - schema_version: 1
      generated_at: "2026-11-24T03:17:02+00:00"
      findings: 3
      waived: 1
      by_severity: {info: 0, low: 0, medium: 1, high: 2, critical: 0}
      assets: 41
      hosts_scanned: 12
      hosts_missing: 0
      compliant: false
      complete: true
summary:
  description: The report's summary (see M(aigov.core.ai_policy_check)).
  returned: always
  type: dict
coverage:
  description:
    - Per framework catalogue the check was validated against, how many of its controls the rules
      cite and the ids of those none cites (the full matrix is in C(framework-coverage.json) and in
      the JSON and HTML reports). Empty for a check result that carries no catalogues.
  returned: always
  type: list
  elements: dict
  sample:
    - {framework: owasp-llm-2025, name: OWASP Top 10 for LLM Applications, version: "2025", covered: 6, total: 10,
       uncovered: ["LLM01:2025", "LLM05:2025", "LLM07:2025", "LLM09:2025"]}
coverage_lines:
  description: The coverage matrix as text lines, printed by the compliance_scan playbook when
    C(aigov_print_coverage) is true.
  returned: always
  type: list
  elements: str
  sample:
    - "owasp-llm-2025 (OWASP Top 10 for LLM Applications 2025): 6 of 10 controls covered"
    - "  covered: LLM02:2025 [AIGOV-CR-001, AIGOV-MS-001]; LLM03:2025 [AIGOV-MA-001]"
    - "  not covered: LLM01:2025, LLM05:2025, LLM07:2025, LLM09:2025"
"""
