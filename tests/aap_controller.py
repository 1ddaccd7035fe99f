"""A stand-in for the automation controller's REST API, for unit tests of the AAP contract.

AAP cannot run here. This serves the part of the API that ansible-rulebook's
run_job_template / run_workflow_template and aigov.core's approval check use,
with the job templates and workflows of examples/aap/controller_config.yml (so
the example and the rulebook's default names are checked against each other).
Launches are recorded as the controller would take them: extra_vars are
dropped when the template does not prompt for variables. A workflow launch
creates its approval node (pending) and, once approve()d, the next job.
"""

import http.server
import json
import threading
import urllib.parse

import yaml


class Controller(object):
    def __init__(self, config_path, token, prefix='api/v2/'):
        with open(config_path) as handle:
            config = yaml.safe_load(handle)
        self.token, self.prefix = token, prefix
        self.templates = {}
        for kind, key in (('job_template', 'controller_templates'), ('workflow_job_template', 'controller_workflows')):
            for template in config.get(key) or []:
                self.templates[len(self.templates) + 1] = dict(template, type=kind)
        self.launches, self.jobs, self.workflow_jobs, self.nodes, self.approvals = [], {}, {}, {}, {}
        self._ids = iter(range(100, 100000))
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self.url = 'http://127.0.0.1:%d/' % self._server.server_port

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    # What a test does to the controller

    def workflow(self, launch):
        """The workflow job a recorded launch created."""
        return self.workflow_jobs[launch['job']]

    def approve(self, workflow_job, by='alice', verdict='approve'):
        """A user approves (or denies, or lets time out) the approval node; approve launches the next job."""
        approval_node, next_node = workflow_job['nodes']
        approval = self.approvals[self.nodes[approval_node]['job']]
        approval.update(status='successful' if verdict == 'approve' else 'failed', timed_out=verdict == 'timeout',
                        finished='2026-11-25T12:00:00Z',
                        summary_fields={'approved_or_denied_by': {'id': 1, 'username': by}} if verdict != 'timeout' else {})
        if verdict == 'approve':
            job = next(self._ids)
            self.jobs[job] = {'id': job, 'status': 'pending'}
            self.nodes[next_node]['job'] = job
            self.nodes[next_node]['summary_fields']['job'] = {'id': job, 'type': 'job', 'status': 'pending'}
            return job
        return None

    # The API

    def _template_row(self, tid, template):
        kind = 'job_templates' if template['type'] == 'job_template' else 'workflow_job_templates'
        return {'id': tid, 'type': template['type'], 'name': template['name'],
                'summary_fields': {'organization': {'name': template['organization']}},
                'related': {'launch': '/%s%s/%d/launch/' % (self.prefix, kind, tid)},
                'ask_limit_on_launch': bool(template.get('ask_limit_on_launch')),
                'ask_labels_on_launch': bool(template.get('ask_labels_on_launch')),
                'ask_inventory_on_launch': bool(template.get('ask_inventory_on_launch')),
                'ask_variables_on_launch': bool(template.get('ask_variables_on_launch'))}

    def _launch(self, tid, body):
        template = self.templates[tid]
        accepted = dict(body)
        if not template.get('ask_variables_on_launch') and not template.get('survey_enabled'):
            accepted.pop('extra_vars', None)   # the controller ignores variables it does not prompt for
        job = next(self._ids)
        launch = {'template': template['name'], 'type': template['type'], 'body': accepted, 'job': job}
        self.launches.append(launch)
        if template['type'] == 'job_template':
            self.jobs[job] = {'id': job, 'status': 'successful'}
            return {'id': job, 'job': job, 'url': '/%sjobs/%d/' % (self.prefix, job)}
        approval, first, second = next(self._ids), next(self._ids), next(self._ids)
        self.approvals[approval] = {'id': approval, 'status': 'pending', 'timed_out': False, 'summary_fields': {}}
        self.nodes[first] = {'id': first, 'job': approval, 'success_nodes': [second],
                             'summary_fields': {'job': {'id': approval, 'type': 'workflow_approval', 'status': 'pending'}}}
        self.nodes[second] = {'id': second, 'job': None, 'success_nodes': [], 'summary_fields': {}}
        self.workflow_jobs[job] = {'id': job, 'status': 'successful', 'nodes': [first, second],
                                   'extra_vars': json.dumps(accepted.get('extra_vars') or {})}
        return {'id': job, 'workflow_job': job, 'url': '/%sworkflow_jobs/%d/' % (self.prefix, job)}

    def _get(self, path, query):
        parts = path.strip('/').split('/')
        if path == 'ping/':
            return {'ha': False}
        if path == 'config/':
            return {'version': '4.6.0'}
        if path == 'unified_job_templates/':
            name = query.get('name', [None])[0]
            rows = [self._template_row(tid, t) for tid, t in self.templates.items() if name in (None, t['name'])]
            return {'count': len(rows), 'next': None, 'results': rows}
        if path in ('jobs/', 'workflow_jobs/'):
            table = self.jobs if path == 'jobs/' else self.workflow_jobs
            ids = [int(i) for i in query.get('id__in', [''])[0].split(',') if i]
            rows = [{'id': i, 'status': table[i]['status']} for i in ids if i in table]
            return {'count': len(rows), 'next': None, 'results': rows}
        if parts[0] == 'workflow_jobs' and len(parts) == 2 and int(parts[1]) in self.workflow_jobs:
            found = self.workflow_jobs[int(parts[1])]
            return {'id': found['id'], 'status': found['status'], 'extra_vars': found['extra_vars']}
        if parts[0] == 'workflow_jobs' and parts[2:] == ['workflow_nodes'] and int(parts[1]) in self.workflow_jobs:
            rows = [self.nodes[n] for n in self.workflow_jobs[int(parts[1])]['nodes']]
            return {'count': len(rows), 'next': None, 'results': rows}
        if parts[0] == 'workflow_approvals' and len(parts) == 2 and int(parts[1]) in self.approvals:
            return self.approvals[int(parts[1])]
        return None

    def _handler(self):
        controller = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _path(self):
                url = urllib.parse.urlsplit(self.path)
                if self.headers.get('Authorization') != 'Bearer %s' % controller.token:
                    return None, None, 401
                if not url.path.startswith('/' + controller.prefix):
                    return None, None, 404
                return url.path[len(controller.prefix) + 1:], urllib.parse.parse_qs(url.query), 200

            def do_GET(self):  # noqa: N802 (http.server's name)
                path, query, status = self._path()
                if status != 200:
                    return self._reply(status, {'detail': 'no'})
                with controller._lock:
                    body = controller._get(path, query)
                self._reply(200 if body is not None else 404, body if body is not None else {'detail': 'Not found.'})

            def do_POST(self):  # noqa: N802
                path, _query, status = self._path()
                body = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'{}')
                parts = (path or '').strip('/').split('/')
                if status != 200 or len(parts) != 3 or parts[2] != 'launch' or int(parts[1]) not in controller.templates:
                    return self._reply(status if status != 200 else 404, {'detail': 'no'})
                with controller._lock:
                    self._reply(201, controller._launch(int(parts[1]), body))

            def log_message(self, *args):
                pass

        return Handler


class EdaActivations(object):
    """A stand-in for eda-server's activations API and ansible.eda.rulebook_activation's apply.

    The server side refuses what eda-server refuses: a field the serializer does not have
    (eda-server's DRF serializer would drop it silently, so a setting would never apply: an error
    here), a wrong type (extra_var must be a string holding a YAML mapping, is_enabled a boolean,
    eda_credentials a list of ids), and a PATCH of an enabled activation (409: disable it first).
    On create it merges the extra vars the credentials inject into the stored extra_var, and it
    returns that with secrets masked as $encrypted$ (aap_eda/api/serializers/activation.py).
    The client side is the module's: it sends create_params and, for an existing activation,
    PATCHes when any field differs (plugins/module_utils/controller.py, update_if_needed).
    """

    FIELDS = {'name': str, 'description': str, 'is_enabled': bool, 'decision_environment_id': int, 'rulebook_id': int,
              'extra_var': str, 'organization_id': int, 'restart_policy': str, 'awx_token_id': int, 'log_level': str,
              'eda_credentials': list, 'k8s_service_name': str, 'source_mappings': str, 'skip_audit_events': bool,
              'enable_persistence': bool, 'rule_engine_credential_id': int, 'restart_on_project_update': bool}

    def __init__(self, credentials, updatable):
        self.credentials = credentials   # name -> (credential type, inputs)
        self.updatable = updatable
        self.rows, self.requests = {}, []

    def _refuse(self, body):
        for field, value in body.items():
            if field not in self.FIELDS:
                return 400, {field: ['unknown field']}
            if value is not None and not isinstance(value, self.FIELDS[field]):
                return 400, {field: ['must be a %s' % self.FIELDS[field].__name__]}
        if body.get('extra_var') is not None and not isinstance(yaml.safe_load(body['extra_var']) or {}, dict):
            return 400, {'extra_var': ['Extra vars must be in dict format']}
        return None

    def post(self, body, injected):
        self.requests.append(('POST', body))
        refused = self._refuse(body)
        if refused:
            return refused
        row = dict(body, id=len(self.rows) + 1)
        merged = dict(yaml.safe_load(body.get('extra_var') or '{}') or {}, **injected)
        row['extra_var'] = yaml.dump(merged) if merged else None
        self.rows[row['id']] = row
        return 201, row

    def patch(self, ident, body):
        self.requests.append(('PATCH', body))
        refused = self._refuse(body)
        if refused:
            return refused
        if self.rows[ident].get('is_enabled'):
            return 409, {'detail': 'Activation is enabled and cannot be updated; disable it first.'}
        self.rows[ident].update(body)
        return 200, self.rows[ident]

    def get(self, name, secret_keys):
        for row in self.rows.values():
            if row['name'] == name:
                shown = dict(row)
                if row.get('extra_var'):
                    data = yaml.safe_load(row['extra_var'])
                    shown['extra_var'] = yaml.safe_dump(dict((k, '$encrypted$' if k in secret_keys else v)
                                                             for k, v in data.items()))
                return shown
        return None

    def apply(self, params, ids, injected, secret_keys):
        """One run of the module with these (validated) params; returns (changed, status)."""
        existing = self.get(params['name'], secret_keys)
        if existing:
            body = dict((k, v) for k, v in existing.items() if k in self.updatable)
        else:
            body = {'rulebook_id': ids['rulebook'], 'decision_environment_id': ids['decision_environment'],
                    'organization_id': ids['organization']}
        if params.get('eda_credentials'):
            body['eda_credentials'] = [ids['credential:' + name] for name in params['eda_credentials']]
        for option, field in (('description', 'description'), ('extra_vars', 'extra_var'),
                              ('restart_policy', 'restart_policy'), ('log_level', 'log_level')):
            if params.get(option):
                body[field] = params[option]
        if not existing:
            body['is_enabled'] = params.get('state') != 'disabled'
        body['name'] = params['name']
        if not existing:
            status, _row = self.post(body, injected)
            return True, status
        if any(existing.get(k) != v for k, v in body.items()):
            status, _row = self.patch(existing['id'], body)
            return True, status
        return False, 200
