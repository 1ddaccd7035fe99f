"""Make this checkout importable as ansible_collections.aigov.core.

Tests import the engine the way Ansible does. A symlink farm under .cache
points ansible_collections/aigov/core at the repository root.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FARM = os.path.join(ROOT, '.cache', 'pytest-collections')
LINK = os.path.join(FARM, 'ansible_collections', 'aigov', 'core')

if not os.path.islink(LINK):
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(ROOT, LINK)
if FARM not in sys.path:
    sys.path.insert(0, FARM)
