# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: agent_secret
short_description: The current (or a given) value of AI agents' secrets
version_added: 0.1.0
description:
  - Returns the value of each agent's secret from the backend that M(aigov.core.agent_secret) writes to, with the
    same backend and authentication options.
  - The value is a secret. Use it only in a task with C(no_log) set, or in a variable that such a task uses, and never
    in C(debug) or a C(msg). Ansible hides no_log task results from its output and logs; a lookup in a task without
    C(no_log) is displayed like any other argument at higher verbosity.
  - Errors name the agent, the backend and the path, never a token or a value.
author:
  - aigov.core maintainers (@aigov)
options:
  _terms:
    description: Names of the agents. The secret of agent C(X) is read at C(agents/X) unless O(path) is given.
    type: list
    elements: str
    required: true
  path:
    description: Path of the secret, for a single agent whose secret is not at C(agents/<agent>).
    type: str
  version:
    description: Read this version instead of the current one (for example the previous version, to roll back).
    type: int
extends_documentation_fragment:
  - aigov.core.secret_backend
  - aigov.core.secret_backend.plugins
"""

EXAMPLES = r"""
- name: Write the agent's environment file with its current key
  ansible.builtin.copy:
    content: "SUPPORT_BOT_KEY={{ lookup('aigov.core.agent_secret', 'support-bot', url='https://bao.example.com:8200') }}\n"
    dest: /etc/support-bot/env
    mode: '0600'
  no_log: true

- name: The previous version, to roll back to
  ansible.builtin.set_fact:
    previous_key: "{{ lookup('aigov.core.agent_secret', 'support-bot', version=rotated.previous.version) }}"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One value per agent, in the order of the terms.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import open_backend
from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError
from ansible_collections.aigov.core.plugins.module_utils.secrets.secret_backend import SecretNotFound

display = Display()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        path, version = self.get_option('path'), self.get_option('version')
        if path and len(terms) != 1:
            raise AnsibleLookupError('agent_secret: path can only be given with a single agent, not %d' % len(terms))
        try:
            backend = open_backend(OptionAdapter.from_plugin(self), warn=display.warning)
        except AigovError as exc:
            raise AnsibleLookupError('agent_secret: %s' % exc)
        values = []
        for agent in terms:
            try:
                req = agent_secret.Request(agent, state='read', path=path)
                values.append(backend.read(req.path, version).value)
            except SecretNotFound as exc:
                raise AnsibleLookupError('agent_secret: agent %s has no secret%s: %s'
                                         % (agent, ' version %d' % version if version else '', exc))
            except AigovError as exc:
                raise AnsibleLookupError('agent_secret: agent %s: %s' % (agent, exc))
        return values
