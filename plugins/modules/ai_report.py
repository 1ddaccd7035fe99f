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
  - Renders the result of M(aigov.core.ai_policy_check) into report files on the controller.
  - The JSON report follows the versioned contract C(schemas/compliance-report.v1.json) in the
    collection. Files are written atomically (a reader never sees half a report).
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
      - Report formats to write. C(json) writes C(compliance-report.json).
    type: list
    elements: str
    choices: [json]
    default: [json]
extends_documentation_fragment:
  - aigov.core.attributes.controller
attributes:
  check_mode:
    support: full
    description: In check mode nothing is written; the task reports what would be written.
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

- name: Write the JSON report under reports/
  aigov.core.ai_report:
    check: "{{ aigov_check }}"
    dest: reports
"""

RETURN = r"""
files:
  description: Paths of the report files written (or that would be written in check mode).
  returned: always
  type: list
  elements: str
  sample: [/srv/aigov/reports/compliance-report.json]
summary:
  description: The report's summary (see M(aigov.core.ai_policy_check)).
  returned: always
  type: dict
"""
