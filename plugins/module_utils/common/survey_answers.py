# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Variables that may come from an AAP survey, read one way everywhere.

A survey answers a list question with text: C('a, b'). Roles, filters and playbooks
that take a list of names accept both that text and a real list.
"""

from __future__ import annotations


def answer_list(value):
    """A list of names: a list as given, or a survey's comma-separated text 'a, b' as ['a', 'b'].

    Items are stripped and empty ones dropped; None and '' are [].
    """
    if isinstance(value, str):
        return [item.strip() for item in value.split(',') if item.strip()]
    return [item.strip() if isinstance(item, str) else item for item in value or () if item != '']
