# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Paths that mean "in every user's home": probes look at all users, not the one Ansible runs as."""

from __future__ import annotations

import glob
import os
import pwd


def in_every_home(path):
    """`~` and `~/x` become every user's home directory (and x under it); other paths stay as they are."""
    if path != '~' and not path.startswith('~/'):
        return [path]
    homes = sorted(set(entry.pw_dir for entry in pwd.getpwall() if entry.pw_dir and entry.pw_dir != '/'))
    return [os.path.join(home, path[2:]) for home in homes]


def expand_globs(patterns):
    """Existing paths matching glob patterns (`~/` meaning every user's home), each once, in pattern order."""
    paths = []
    for pattern in patterns:
        for concrete in in_every_home(pattern):
            paths.extend(path for path in sorted(glob.glob(concrete)) if path not in paths)
    return paths
