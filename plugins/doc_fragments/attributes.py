# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Attributes shared by the collection's modules."""

    # Modules implemented by an action plugin that never touches the managed host.
    CONTROLLER = r"""
options: {}
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  platform:
    support: full
    platforms: all
    description: Runs on the controller whatever the managed hosts are.
"""
