# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The approval of a review decision given in an AAP workflow, read back from the controller.

On AAP the rulebook aigov.core.aiops_remediation_aap launches a workflow for a
review decision: an approval node, then the remediate job template. The
remediate job knows its own id (awx_job_id) and its workflow job's
(awx_workflow_job_id); verified_approval() asks the controller, with the job's
controller credential, that
  1. the workflow job carries this job's event payload (the approval was given
     for this alert, not another),
  2. one of its workflow_approval nodes succeeded (approved, not denied or
     timed out), and who approved it,
  3. this job is a success node of that approval node.
Anyone able to launch the job template with forged awx_* variables still fails 2
or 3: the controller, not the job's variables, is the witness.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

try:
    import requests
except ImportError:  # pragma: no cover - requests is a dependency of the collection
    requests = None

from ansible_collections.aigov.core.plugins.module_utils.common.errors import AigovError

# AAP 2.5+ (platform gateway) first, then the controller's own API of AAP 2.4 and AWX.
API_PREFIXES = ('api/controller/v2/', 'api/v2/')


class AapApprovalError(AigovError):
    """No approval can be confirmed; the message names the controller URL, never a credential."""


class ControllerApi(object):
    """GET on the automation controller's REST API with a token or a user and password."""

    def __init__(self, host, token=None, username=None, password=None, verify=True, timeout=10):
        if requests is None:
            raise AapApprovalError('confirming an AAP approval needs the Python library requests on the controller')
        parts = urlsplit(host or '')
        if parts.scheme not in ('http', 'https') or not parts.hostname or parts.username or parts.password:
            raise AapApprovalError('the controller host must be an http(s) URL without credentials in it, got %r'
                                   % ('%s://%s' % (parts.scheme, parts.hostname) if parts.hostname else host))
        if not token and not (username and password):
            raise AapApprovalError('no controller credential: give a token, or a username and password '
                                   '(the job\'s "Red Hat Ansible Automation Platform" credential sets them)')
        self.host = host.rstrip('/') + '/'
        self._session = requests.Session()
        self._session.verify = verify
        if token:
            self._session.headers['Authorization'] = 'Bearer %s' % token
        else:
            self._session.auth = (username, password)
        self._timeout = timeout
        self._prefix = None

    def _request(self, path):
        url = self.host + path
        try:
            response = self._session.get(url, timeout=self._timeout)
        except requests.exceptions.RequestException as exc:
            raise AapApprovalError('controller %s unreachable: %s' % (self.host, type(exc).__name__))
        return url, response

    def prefix(self):
        """The API root this controller serves, found once by asking for its ping endpoint."""
        if self._prefix is None:
            for prefix in API_PREFIXES:
                _url, response = self._request(prefix + 'ping/')
                if response.status_code == 200:
                    self._prefix = prefix
                    break
            else:
                raise AapApprovalError('controller %s serves no API under %s' % (self.host, ' or '.join(API_PREFIXES)))
        return self._prefix

    def get(self, path):
        url, response = self._request(self.prefix() + path)
        if response.status_code in (401, 403):
            raise AapApprovalError('controller refused the credential for %s (HTTP %d)' % (url, response.status_code))
        if response.status_code != 200:
            raise AapApprovalError('controller answered HTTP %d for %s' % (response.status_code, url))
        try:
            return response.json()
        except ValueError:
            raise AapApprovalError('controller answered %s with something other than JSON' % url)


def _event_payload(extra_vars):
    """payload_b64 of the event in a workflow job's extra_vars (a JSON string on the API)."""
    try:
        data = json.loads(extra_vars) if isinstance(extra_vars, str) else extra_vars
        return data['ansible_eda']['event']['payload_b64']
    except (ValueError, TypeError, KeyError):
        return None


def _all_nodes(api, workflow_job_id):
    nodes, path = [], 'workflow_jobs/%d/workflow_nodes/?page_size=200' % workflow_job_id
    page = api.get(path)
    nodes.extend(page.get('results') or [])
    if page.get('next'):
        raise AapApprovalError('workflow job %d has more than 200 nodes; an approval workflow has two'
                               % workflow_job_id)
    return nodes


def verified_approval(api, workflow_job_id, job_id, payload):
    """{request, approver, workflow_job, approved_at} of the approval that let job_id run; AapApprovalError if none."""
    try:
        workflow_job_id, job_id = int(workflow_job_id), int(job_id)
    except (TypeError, ValueError):
        raise AapApprovalError('awx_workflow_job_id and awx_job_id must be job ids')
    workflow = api.get('workflow_jobs/%d/' % workflow_job_id)
    if _event_payload(workflow.get('extra_vars')) != payload:
        raise AapApprovalError('workflow job %d was not launched for this event (its payload_b64 differs)'
                               % workflow_job_id)
    nodes = _all_nodes(api, workflow_job_id)
    mine = [node for node in nodes if node.get('job') == job_id]
    if not mine:
        raise AapApprovalError('job %d is not a node of workflow job %d' % (job_id, workflow_job_id))
    for node in nodes:
        job = (node.get('summary_fields') or {}).get('job') or {}
        if job.get('type') != 'workflow_approval' or mine[0].get('id') not in (node.get('success_nodes') or []):
            continue
        approval = api.get('workflow_approvals/%d/' % int(job['id']))
        approver = ((approval.get('summary_fields') or {}).get('approved_or_denied_by') or {}).get('username')
        if approval.get('status') != 'successful' or approval.get('timed_out') or not approver:
            raise AapApprovalError('the approval node of workflow job %d is %s, not approved'
                                   % (workflow_job_id, 'timed out' if approval.get('timed_out') else approval.get('status')))
        return {'request': 'aap-workflow-approval-%d' % int(job['id']), 'approver': str(approver),
                'workflow_job': workflow_job_id, 'approved_at': approval.get('finished')}
    raise AapApprovalError('job %d of workflow job %d does not follow an approval node' % (job_id, workflow_job_id))
