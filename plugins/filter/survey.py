# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The survey_list filter: a list variable that an AAP survey may answer as comma-separated text."""

from __future__ import annotations

from ansible_collections.aigov.core.plugins.module_utils.common.survey_answers import answer_list


def survey_list(value):
    """A list of names from a list or a survey's text answer 'a, b' (module_utils/common/survey_answers.py)."""
    return answer_list(value)


class FilterModule(object):
    """aigov.core survey filters."""

    def filters(self):
        return {'survey_list': survey_list}
