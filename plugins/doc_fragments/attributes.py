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

    # Modules that change files on a managed host as root through module_utils/host/safe_files.py.
    SAFE_FILES = r"""
options: {}
attributes:
  platform:
    support: full
    platforms: posix
    description: Linux hosts (descriptors are reopened through C(/proc/self/fd)).
notes:
  - Root never acts through what another user controls. The path is walked from C(/) one component at a time
    with C(O_NOFOLLOW); a symlink is followed only when root owns it and only root can change the directory it is
    in, and C(..) is refused. A path through a directory another user can change is used only for that user's
    own file, and then the change is made with that user's uid and groups (so the kernel allows no more than
    that user could do); a file of somebody else there is refused.
  - Files are checked with C(fstat) and changed by descriptor, new files are created with C(O_EXCL), and an
    existing path is never chowned.
"""
