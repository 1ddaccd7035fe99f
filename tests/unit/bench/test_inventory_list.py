"""The inventory figures time a real inventory: a source ansible-inventory cannot parse, or one that lists other hosts
than the figure built, stops the figure (ansible-inventory itself only warns, lists nothing and exits 0)."""

import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), 'bench')
sys.path.insert(0, BENCH)

import inventory_vs_static  # noqa: E402  pylint: disable=wrong-import-position


def write(path, text):
    path.write_text(text)
    return str(path)


def test_a_static_inventory_of_the_expected_hosts_is_timed(tmp_path):
    source = write(tmp_path / 'static.yml', 'all:\n  hosts:\n    a: {x: 1}\n  children:\n    g:\n      hosts:\n        b:\n')
    elapsed, output = inventory_vs_static.inventory_list(source, str(tmp_path), 2)
    assert elapsed > 0 and '"a"' in output


@pytest.mark.parametrize('text, hosts', [
    ('plugin: aigov.core.no_such_plugin\n', 0),  # unparsed: ansible-inventory alone would list nothing, exit 0
    ('all:\n  hosts:\n    a:\n', 2),             # parsed, but not the hosts the figure built
])
def test_an_inventory_that_is_not_the_figures_stops_it(tmp_path, text, hosts):
    source = write(tmp_path / 'x.yml', text)
    with pytest.raises(SystemExit):
        inventory_vs_static.inventory_list(source, str(tmp_path), hosts)
