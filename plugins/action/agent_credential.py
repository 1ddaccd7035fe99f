# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of aigov.core.agent_credential (docs: plugins/modules/agent_credential.py).

An action plugin, like agent_secret: OpenBao/Vault is reached from the
controller and an issued credential is never shipped to a managed host by
this task (the role delivers it in a no_log task).
"""

from __future__ import annotations


from ansible_collections.aigov.core.plugins.module_utils.secrets import short_lived_credentials as slc
from ansible_collections.aigov.core.plugins.module_utils.common._options import OptionAdapter
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import ARGSPEC as BACKEND_ARGSPEC
from ansible_collections.aigov.core.plugins.module_utils.secrets._secret_backend_options import open_backend
from ansible_collections.aigov.core.plugins.plugin_utils.action import AUDIT_LOG_OPTION, ControllerAction, aap_job, actor

VERBS = dict(none='unchanged', issue='issued', renew='renewed', commit='committed (previous revoked)',
             rollback='rolled back (new revoked)', revoke='revoked')


class ActionModule(ControllerAction):
    """Issue, renew, commit, roll back or revoke an agent's short-lived OpenBao/Vault credential."""

    ARGUMENT_SPEC = dict(
        agent=dict(type='str', required=True),
        credential_type=dict(type='str', required=True, choices=list(slc.TYPES)),
        state=dict(type='str', default='present', choices=list(slc.STATES)),
        record_path=dict(type='str'),
        policies=dict(type='list', elements='str', default=[]),
        token_role=dict(type='str'),
        ttl=dict(type='str', default='1h'),
        explicit_max_ttl=dict(type='str', default='0'),
        renewable=dict(type='bool', default=True),
        approle_role=dict(type='str'),
        secret_id_num_uses=dict(type='int', default=0),
        renew_threshold=dict(type='float', default=0.5),
        force=dict(type='bool', default=False),
        return_value=dict(type='bool', default=False),
        owner=dict(type='str'),
        reason=dict(type='str'),
        fingerprint_key=dict(type='str', no_log=True),
        audit_log=AUDIT_LOG_OPTION,
        **BACKEND_ARGSPEC
    )

    def run_on_controller(self, args, task_vars, result):
        req = slc.Request(
            args['agent'], args['credential_type'], state=args['state'], record_path=args['record_path'],
            policies=args['policies'], token_role=args['token_role'], ttl=args['ttl'],
            explicit_max_ttl=args['explicit_max_ttl'], renewable=args['renewable'], approle_role=args['approle_role'],
            approle_mount_point=args['approle_mount_point'], num_uses=args['secret_id_num_uses'],
            renew_threshold=args['renew_threshold'], force=args['force'], owner=args['owner'], fingerprint_key=args['fingerprint_key'],
            audit_path=args['audit_log'], actor=actor(task_vars), reason=args['reason'])
        backend = open_backend(OptionAdapter.from_dict(args), warn=self._display.warning)
        changed, outcome, value = slc.ensure(backend, req, check_mode=bool(self._task.check_mode),
                                             audit_extra=aap_job(task_vars))
        result.update(changed=changed, **outcome)
        verb = VERBS[outcome['action']]
        if self._task.check_mode and changed:
            verb = 'would be ' + verb
        result['msg'] = 'agent %s: %s credential %s (accessor %s, expires %s)' % (
            req.agent, req.type, verb, outcome['accessor'] or '(new)', outcome['expire_time'])
        if self._task.diff and changed:
            result['diff'] = dict(before_header='%s (accessor metadata)' % req.record_path,
                                  after_header='%s (accessor metadata)' % req.record_path,
                                  before=_lines(outcome['previous']), after=_lines(outcome))
        if args['return_value'] and value is not None:
            # Only a credential issued by this very task is returned, and then the whole result is no_log.
            result['credential'] = value
            result['_ansible_no_log'] = True
        return result


def _lines(meta):
    if not meta or not meta.get('expire_time'):
        return ''
    accessor = meta.get('accessor') or '(issued on apply)'
    return 'accessor: %s\nttl: %s\nexpire_time: %s\n' % (accessor, meta.get('ttl'), meta.get('expire_time'))
