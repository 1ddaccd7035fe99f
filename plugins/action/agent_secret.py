# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.agent_secret (docs: plugins/modules/agent_secret.py).

An action plugin so the backend is reached from the controller and no
secret is ever shipped to a managed host.
"""

from __future__ import annotations


from ansible_collections.aigov.core.plugins.module_utils.secrets import agent_secret
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import ARGSPEC as BACKEND_ARGSPEC
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import open_backend
from ansible_collections.aigov.core.plugins.plugin_utils.action import AAP_JOB_VARS, AUDIT_LOG_OPTION, ControllerAction, actor


class ActionModule(ControllerAction):
    """Create, rotate or read the metadata of an agent's secret in a backend."""

    ARGUMENT_SPEC = dict(
        agent=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=list(agent_secret.STATES)),
        path=dict(type='str'),
        value=dict(type='str', no_log=True),
        length=dict(type='int', default=40),
        alphabet=dict(type='str', default='alnum', choices=sorted(agent_secret.ALPHABETS)),
        prefix=dict(type='str', default=''),
        max_age=dict(type='str'),
        return_value=dict(type='bool', default=False),
        owner=dict(type='str'),
        reason=dict(type='str'),
        fingerprint_key=dict(type='str', no_log=True),
        audit_log=AUDIT_LOG_OPTION,
        **BACKEND_ARGSPEC
    )

    def run_on_controller(self, args, task_vars, result):
        req = agent_secret.Request(
            args['agent'], state=args['state'], path=args['path'], value=args['value'], length=args['length'],
            alphabet=args['alphabet'], prefix=args['prefix'], max_age=args['max_age'], owner=args['owner'],
            fingerprint_key=args['fingerprint_key'], audit_path=args['audit_log'], actor=actor(task_vars),
            reason=args['reason'])
        backend = open_backend(OptionAdapter.from_dict(args), warn=self._display.warning)
        jobs = dict((name, str(task_vars[name])) for name in AAP_JOB_VARS if task_vars.get(name))
        changed, outcome, value = agent_secret.ensure(backend, req, check_mode=bool(self._task.check_mode),
                                                      audit_extra=jobs or None)
        result.update(changed=changed, **outcome)
        verb = dict(none='unchanged', create='created', update='updated', rotate='rotated')[outcome['action']]
        if self._task.check_mode and changed:
            verb = 'would be ' + verb
        result['msg'] = "agent %s: secret at %s %s (version %s, %s)" % (
            req.agent, backend.where(req.path), verb, outcome['version'], outcome['fingerprint'] or 'value generated on write')
        if self._task.diff and changed:
            result['diff'] = dict(before_header='%s (metadata)' % req.path, after_header='%s (metadata)' % req.path,
                                  before=_metadata_lines(outcome['previous']), after=_metadata_lines(outcome))
        if args['return_value'] and value is not None:
            # The value is in this result only when asked, and the whole result is then hidden from output.
            result['secret'] = value
            result['_ansible_no_log'] = True
        return result


def _metadata_lines(meta):
    if not meta:
        return ''
    return 'version: %s\nfingerprint: %s\n' % (meta.get('version'), meta.get('fingerprint') or '(generated on write)')
