"""answer_list: the one reading of a list variable that an AAP survey answers as text."""

import pytest

from ansible_collections.aigov.core.plugins.module_utils.common.survey_answers import answer_list
from ansible_collections.aigov.core.plugins.filter.survey import FilterModule


@pytest.mark.parametrize('value, expected', [
    (None, []), ('', []), ([], []), ('a', ['a']), ('a, b', ['a', 'b']), (' a ,, b ,', ['a', 'b']),
    (['a', 'b'], ['a', 'b']), ([' a', ''], ['a']), (('x',), ['x']),
])
def test_lists_and_survey_text(value, expected):
    assert answer_list(value) == expected
    assert FilterModule().filters()['survey_list'](value) == expected
