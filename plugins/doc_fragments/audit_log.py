# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """The audit log a controller-side module appends to or reads (plugin_utils.action.AUDIT_LOG_OPTION)."""

    DOCUMENTATION = r"""
options:
  audit_log:
    description:
      - Path of the hash-chained audit log on the controller. A relative path is relative to the current directory.
      - The environment variable E(AIGOV_AUDIT_LOG) is used when the option is not set.
    type: path
    default: aigov-data/audit.jsonl
"""
