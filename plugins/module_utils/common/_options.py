# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FOR INTERNAL COLLECTION USE ONLY: the option adapter and option groups.

Modules, action plugins, lookups and event sources hold their options in
different places (AnsibleModule.params, validated task args, a plugin's
get_option, a plain dict). Option groups see only this adapter, so their
validation and environment-variable fallbacks run the same everywhere.
"""

from __future__ import annotations

import os


class OptionAdapter(object):
    """get / set / has over one options store, and the filled-in options of a list of names."""

    def __init__(self, getter, setter, haver):
        self._get, self._set, self._has = getter, setter, haver

    @classmethod
    def from_dict(cls, options):
        return cls(options.get, options.__setitem__, options.__contains__)

    @classmethod
    def from_ansible_module(cls, module):
        return cls.from_dict(module.params)

    @classmethod
    def from_plugin(cls, plugin):
        def has(name):
            try:
                plugin.get_option(name)
            except KeyError:
                return False
            return True
        return cls(plugin.get_option, plugin.set_option, has)

    def get_option(self, name, default=None):
        value = self._get(name) if self._has(name) else None
        return default if value is None else value

    def set_option(self, name, value):
        self._set(name, value)

    def has_option(self, name):
        return self._has(name)

    def get_filled_options(self, *names):
        """{name: value} for the names whose value is set (not None)."""
        return dict((name, self.get_option(name)) for name in names if self.get_option(name) is not None)


class OptionGroup(object):
    """A set of options with their ARGSPEC, environment fallbacks (ENV) and validation."""

    ARGSPEC = {}
    ENV = {}  # option -> environment variables, the first one set wins

    def __init__(self, adapter, warn=None):
        self.adapter = adapter
        self.warn = warn or (lambda message: None)

    def apply_env(self):
        """Fill options left unset from the environment of this (controller) process."""
        for option, names in self.ENV.items():
            if self.adapter.get_option(option) is None:
                for name in names:
                    if os.environ.get(name):
                        self.adapter.set_option(option, os.environ[name])
                        break

    def process(self):
        self.apply_env()
        self.validate()

    def validate(self):
        """Raise an AigovError naming the option and the rule."""


def generate_argspec(*groups):
    """One argument_spec from option groups; a name defined twice is a bug."""
    spec = {}
    for group in groups:
        overlap = set(spec) & set(group.ARGSPEC)
        if overlap:
            raise ValueError('options defined twice: %s' % ', '.join(sorted(overlap)))
        spec.update(group.ARGSPEC)
    return spec
