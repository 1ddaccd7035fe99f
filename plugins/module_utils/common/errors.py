# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine's exceptions. Front ends convert them in one place each:
modules to fail_json, action and lookup plugins to AnsibleError."""

from __future__ import annotations


class AigovError(Exception):
    """Base of every error the engine raises; the message names what and where."""


class DataFileError(AigovError):
    """A policy pack, registry or other data file is missing, unreadable or invalid.

    `problems` lists every problem found, each naming the file and the element.
    """

    def __init__(self, path, problems):
        self.path = path
        self.problems = list(problems)
        super(DataFileError, self).__init__('%s is invalid:\n  - %s' % (path, '\n  - '.join(self.problems)))
