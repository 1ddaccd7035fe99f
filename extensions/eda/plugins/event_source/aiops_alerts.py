# -*- coding: utf-8 -*-
# Copyright: aigov.core contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
short_description: Receive AIOps alerts and attach a governance decision to each.
description:
  - An HTTP receiver for Alertmanager (webhook version 4), Grafana alerting webhooks, CloudEvents 1.0
    (structured, binary and batched modes of the HTTP binding) and generic JSON alerts (one, or a list such as
    Prometheus' own POST /api/v2/alerts body), on any path, by POST or PUT (Grafana's webhook can use either).
  - Every request must carry a bearer token, a signature (the source's own X-Aigov-Signature, Grafana's
    (O(grafana_hmac_secret)) or Standard Webhooks' (O(standard_webhooks_secret))), or both, unless
    O(allow_unauthenticated) is set. Answers 202 once the events are queued, with the counts and each refused
    alert (C(refused), its index and why); 400 only when nothing in the request is an alert (bad JSON, nested
    deeper than 64 levels, or every alert refused); 401 without credentials, 403 for wrong, forged or replayed
    ones, 413 for a body over O(max_body_bytes). The Authorization header never reaches an event.
  - An alert is an episode, its fingerprint and C(startsAt) (docs/remediation.md, "Episodes"). Each notification of
    an episode is passed on once, however late the sender repeats it; a new C(startsAt) is decided again. An episode
    still firing after its remediation reported success is escalated once (decision C(escalate)).
  - Each alert is normalized (schemas/alert.v1.json), held back when it is a duplicate, flapping or
    over the per-asset rate (counted in the response), enriched from the asset store and the registry
    (owners, risk tier, use case, environment), and given a decision by the guardrails
    (automate, review, escalate or reject; schemas/decision.v1.json). Resolved alerts carry no decision.
  - The decision is about the action the action table (O(actions)) proposes for the alert, named in the
    decision's C(remediation). A disruptive one is capped per risk tier, one touching more hosts than the
    policy's C(max_hosts_per_action) escalates, and an alert no entry maps gets C(escalate) ("no remediation is
    mapped for alert X"), never C(automate), and does not count toward the hourly action limit.
  - Every decision is appended to the audit log (O(audit_log)) before its event is queued, so a decision
    is durable before any action on it starts; 503 when the log cannot be written.
  - Each decision entry names the event's payload (C(payload_sha256)) and is sealed (C(seal), HMAC-SHA256) with the
    decision key (O(decision_key_file)); the remediation, the approval queue and the audit reports accept only
    decisions whose seal holds, so an entry appended to the log by anyone else is not a decision.
  - "Event: C({alert: ..., asset: ..., decision: ..., payload_b64: ..., meta: {received_at, path}}) (and
    C(meta.truncated_alerts) when the sender left alerts out: Alertmanager's C(truncatedAlerts)); ansible-rulebook
    adds C(meta.source). C(payload_b64) (firing alerts) is the alert without labels and annotations, the asset, the
    decision and the receipt time as base64 of JSON: pass it, never the event, to a playbook
    (ansible-core renders template syntax in extra variables, and labels come from the sender)."
options:
  host:
    description: Address to listen on. Binds to loopback unless told otherwise.
    type: str
    default: 127.0.0.1
  port:
    description:
      - TCP port to listen on.
      - Whole-number options also accept a string of digits (C("5050")), as rulebook variables from
        C(--env-vars) arrive as strings.
    type: int
    required: true
  token:
    description: Bearer token senders must present (Authorization header).
    type: str
  hmac_secret:
    description: Shared secret of the X-Aigov-Signature header (sha256=HMAC over "<timestamp>.<body>").
    type: str
  grafana_hmac_secret:
    description:
      - Secret of Grafana's webhook "HMAC Signature" setting; its hex HMAC-SHA256 is checked in
        O(grafana_signature_header), over "<timestamp>:<body>" when O(grafana_timestamp_header) is set.
    type: str
  grafana_signature_header:
    description: The header Grafana puts the signature in (its "Header" setting).
    type: str
    default: X-Grafana-Alerting-Signature
  grafana_timestamp_header:
    description:
      - The header Grafana puts the Unix time in (its "Timestamp Header" setting, no default there). Set it in both;
        without it a signed request has no timestamp and can be replayed (an episode is still decided once).
    type: str
  standard_webhooks_secret:
    description:
      - Secret (C(whsec_) and base64) of a Standard Webhooks sender (webhook-id, webhook-timestamp, webhook-signature
        C(v1,<base64 HMAC-SHA256 of "id.timestamp.body">)); a message id is accepted once.
    type: str
  cloudevent_types:
    description:
      - CloudEvents types (fnmatch patterns) that are alerts; events of other types are acknowledged and counted as
        C(ignored), never decided. A type ending in C(.resolved) is a resolved alert. A comma-separated string is
        accepted too (rulebook variables from C(--env-vars)).
    type: list
    elements: str
    default: ['*.alert', '*.alert.firing', '*.alert.resolved']
  max_episodes:
    description:
      - Notifications of episodes remembered (about 140 bytes each, 14 MB at the default; least recently seen
        forgotten first). Rebuilt from the audit log's decisions at start.
    type: int
    default: 100000
  outcome_timeout:
    description:
      - Seconds an automate decision (or an approved review, from its approval) has to report its remediation's outcome.
        A remediation whose run or post-check failed, whose plan was refused, or that reports nothing in this time is
        escalated once to the asset's escalation owner (decision C(escalate), the exception kind in C(exceptions)).
    type: int
    default: 900
  still_firing_settle:
    description:
      - Seconds after a remediation reported success before a firing notification of its episode counts as still
        firing (and is escalated to the owner, once). A notification sooner may have left the sender before the
        mended target was scraped and the rule evaluated again; it stays a duplicate. Set it to at least your scrape
        interval plus your rule evaluation interval, plus the range of the rule's expression (C(rate(...[5m]))) and
        its C(keep_firing_for), if any.
    type: int
    default: 120
  approval_ttl:
    description:
      - Seconds a review's approval request waits for a verdict; then it expires into an escalation (the
        C(aigov.core.approve) playbook refuses it). The shipped rulebook gives C(aigov.core.request_approval) the same
        value (C(aigov_approval_ttl)), which queues the request with that C(expires_at).
    type: int
    default: 14400
  replay_window:
    description: Seconds a signed request's X-Aigov-Timestamp may differ from now; a signature is accepted once.
    type: int
    default: 300
  allow_unauthenticated:
    description: Accept requests without any credential (only for a sender on the same host).
    type: bool
    default: false
  certfile:
    description: Server certificate (PEM) to serve HTTPS.
    type: str
  keyfile:
    description: Private key of O(certfile).
    type: str
  cafile:
    description: CA bundle of the client certificates to require (mutual TLS).
    type: str
  max_body_bytes:
    description: Largest request body accepted.
    type: int
    default: 1048576
  store:
    description:
      - Path of the aigov.core asset store used for enrichment.
      - Default the environment variable C(AIGOV_ASSET_STORE), else C(aigov-data/assets.sqlite3); a relative path
        is taken from the directory ansible-rulebook runs in (the rule of every aigov.core path, docs/architecture.md).
    type: str
  registry:
    description: Registry of use cases, a bundled name or a path.
    type: str
    default: default
  guardrails:
    description: Guardrail policy, a bundled name or a path (docs/guardrails.md).
    type: str
    default: default
  actions:
    description:
      - The action table (docs/remediation.md), a bundled name or a path. Pass the playbooks the same one
        (the rulebook's C(aigov_remediation_actions)).
    type: str
    default: default
  default_confidence:
    description: Confidence (0 to 1) of alerts that carry no confidence label or annotation.
    type: float
  dedup_ttl:
    description: Not used any more (duplicates are re-notifications of an episode, however late); accepted for older rulebooks.
    type: int
    default: 300
  rate_per_minute:
    description: Alerts per asset per minute passed on; the rest are counted as rate_limited.
    type: int
    default: 30
  decision_key_file:
    description:
      - File of the decision keys that seal each decision entry (docs/remediation.md, "The decision key"), one
        C(<key id>:<key>) a line, the first one signs, later lines are earlier keys still accepted. Mode 0600 or
        0640; readable only by this source and the controller user that runs the remediation playbooks.
      - Default the environment variable C(AIGOV_DECISION_KEY_FILE). Required. Read at start; restart the
        rulebook after a rotation.
    type: str
  audit_log:
    description:
      - The hash-chained audit log (docs/secrets.md) every decision is appended to (with fsync) before its
        event is queued. When it cannot be written the request gets 503 and no event is queued.
      - Default the environment variable C(AIGOV_AUDIT_LOG), else C(aigov-data/audit.jsonl); a relative path is
        taken from the directory ansible-rulebook runs in (the rule of every aigov.core path, docs/architecture.md).
    type: str
  feedback:
    description:
      - Deliver at least once (docs/remediation.md, "Delivery"). Read by ansible-rulebook, which then needs
        C(--persistence-id) and a persistence database in its variables (C(drools_db_file_path) for embedded H2,
        C(drools_db_host), C(drools_db_port), C(drools_db_name) for PostgreSQL) and gives this source the engine's
        feedback.
      - Each accepted event stays in a spool next to the audit log (C(<audit_log>.spool)), fsynced before the 202,
        until the engine's feedback says the rules engine has it; when the source starts again it re-emits every
        event that got none, with its original decision and payload (C(meta.redelivered) true), never deciding it again.
      - With the audit log in PostgreSQL the spool is the table C(aigov_event_spool) in that database, under the
        persistence id and this source's port, so a restarted activation in a fresh container re-emits what the
        previous one had not delivered (docs/fleet-scale.md).
      - ansible-rulebook gives the feedback queue for C(--persistence-id) alone, even with no database configured
        (its persistence then stays off). The source checks at the first feedback and, without a database, stops with
        an error naming the missing variables and confirms nothing (the events come back at the next start).
      - The shipped rulebook C(aigov.core.aiops_remediation_persistent) is C(aigov.core.aiops_remediation) with this set.
      - Without it an event answered 202 lives in ansible-rulebook's memory until a rule takes it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Govern AIOps alerts
  hosts: all
  sources:
    - aigov.core.aiops_alerts:
        host: 127.0.0.1
        port: 5050
        token: "{{ aiops_token }}"
        store: /var/lib/aigov/assets.sqlite3
  rules:
    - name: Automate what the guardrails allow
      condition: event.decision.decision == "automate"
      action:
        run_playbook:
          name: aigov.core.remediate
"""

import asyncio
import json
import logging
import os
import ssl
import sys


def _import_path():
    """ansible-rulebook runs this file with runpy, outside Ansible's collection loader: put the
    directory holding the ansible_collections tree this file ships in on sys.path, so the engine
    is imported from the same collection (one source of truth with the playbooks)."""
    tree = os.path.dirname(os.path.abspath(__file__))
    for _level in range(6):  # event_source -> plugins -> eda -> extensions -> core -> aigov -> ansible_collections
        tree = os.path.dirname(tree)
    if os.path.basename(tree) == 'ansible_collections' and os.path.dirname(tree) not in sys.path:
        sys.path.insert(0, os.path.dirname(tree))


_import_path()

from aiohttp import web  # noqa: E402

from ansible_collections.aigov.core.plugins.module_utils.alerts import alert_intake, guardrails, intake, spool  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.audit import decision_keys  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.common import paths  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.store import registry  # noqa: E402
from ansible_collections.aigov.core.plugins.plugin_utils.data_file_locator import load_action_table, resolve_data_file  # noqa: E402

LOGGER = logging.getLogger('aigov.core.aiops_alerts')
_INT_OPTIONS = ('port', 'max_body_bytes', 'replay_window', 'dedup_ttl', 'rate_per_minute', 'max_episodes', 'outcome_timeout',
                'approval_ttl', 'still_firing_settle')
_SIGNATURE_OPTIONS = ('hmac_secret', 'grafana_hmac_secret', 'standard_webhooks_secret')


def _whole_numbers(args):
    """args with digit strings of the whole-number options as ints (--env-vars arrive as strings)."""
    args = dict(args)
    for key in _INT_OPTIONS:
        value = args.get(key)
        if isinstance(value, str) and value.strip().isdigit():
            args[key] = int(value.strip())
    return args


def _validate(args):
    """Check every argument before listening; ValueError states the rule."""
    args = _whole_numbers(args)
    if not isinstance(args.get('port'), int) or not 0 < args['port'] < 65536:
        raise ValueError('port must be a TCP port number (1-65535), got %r' % (args.get('port'),))
    if not (args.get('token') or any(args.get(key) for key in _SIGNATURE_OPTIONS) or args.get('allow_unauthenticated')):
        raise ValueError('give token, a signature secret (%s), or both; allow_unauthenticated: true accepts anyone'
                         % ', '.join(_SIGNATURE_OPTIONS))
    types = args.get('cloudevent_types')
    if isinstance(types, str):  # a rulebook variable rendered to text, or a comma-separated list
        types = [item.strip(' \'"') for item in types.strip('[] ').split(',') if item.strip(' \'"')]
    if types is not None and (not isinstance(types, list) or not all(isinstance(item, str) and item for item in types)):
        raise ValueError('cloudevent_types must be a list of event type patterns')
    if bool(args.get('certfile')) != bool(args.get('keyfile')):
        raise ValueError('certfile and keyfile go together')
    if args.get('cafile') and not args.get('certfile'):
        raise ValueError('cafile (mutual TLS) needs certfile and keyfile')
    confidence = args.get('default_confidence')
    if confidence is not None and not 0 <= float(confidence) <= 1:
        raise ValueError('default_confidence must be between 0 and 1')
    for key in _INT_OPTIONS[1:]:
        if key in args and (isinstance(args[key], bool) or not isinstance(args[key], int) or args[key] < 1):
            raise ValueError('%s must be a whole number of at least 1' % key)
    base = paths.base_dir()
    return {
        'host': args.get('host', '127.0.0.1'),
        'port': args['port'],
        'auth': alert_intake.RequestAuth(
            args.get('token'), args.get('hmac_secret'), args.get('replay_window', 300),
            grafana=args.get('grafana_hmac_secret') and {'secret': args['grafana_hmac_secret'],
                                                         'header': args.get('grafana_signature_header'),
                                                         'timestamp_header': args.get('grafana_timestamp_header')},
            standard_webhooks=args.get('standard_webhooks_secret')),
        'cloudevent_types': types,
        'max_body': args.get('max_body_bytes', 1048576),
        'gate': alert_intake.AlertGate(rate_per_minute=args.get('rate_per_minute', 30),
                                       max_episodes=args.get('max_episodes', 100000)),
        'enricher': alert_intake.Enricher(paths.resolve(paths.ASSET_STORE, args.get('store'), base=base),
                                          registry.load_registry(resolve_data_file('registry', args.get('registry', 'default'), base))),
        'policy': guardrails.load_guardrails(resolve_data_file('guardrail policy', args.get('guardrails', 'default'), base)),
        'actions': load_action_table(args.get('actions') or 'default', base),
        'confidence': None if confidence is None else float(confidence),
        'ssl': _ssl_context(args),
        'keyring': decision_keys.load(args.get('decision_key_file') or os.environ.get(decision_keys.ENV_FILE)),
        'audit_log': paths.resolve(paths.AUDIT_LOG, args.get('audit_log'), base=base),
        'outcome_timeout': args.get('outcome_timeout'),
        'approval_ttl': args.get('approval_ttl'),
        'still_firing_settle': args.get('still_firing_settle'),
    }


def _ssl_context(args):
    if not args.get('certfile'):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args['certfile'], args['keyfile'])
    if args.get('cafile'):
        context.load_verify_locations(args['cafile'])
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _handler(pipeline, max_body):
    """The aiohttp handler of every POST or PUT: the body and the headers to the intake pipeline, its answer back."""
    async def handle(request):
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({'error': 'body larger than %d bytes' % max_body}, status=413)
        headers = request.headers
        status, reply = await pipeline.receive(body, headers.get('Authorization'), headers.get('X-Aigov-Signature'),
                                               headers.get('X-Aigov-Timestamp'), request.path, request.remote, headers)
        return web.json_response(reply, status=status)
    return handle


def _engine_persists():
    """Whether the ansible-rulebook this source runs in keeps a database (its settings.persistence_enabled, set by
    persistence.enable_persistence); None outside ansible-rulebook. ansible-rulebook creates the feedback queue for
    --persistence-id alone, even when no database is configured and its persistence stays off."""
    try:
        from ansible_rulebook.conf import settings  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    enabled = getattr(settings, 'persistence_enabled', None)
    return enabled if isinstance(enabled, bool) else None


def _persistence_id():
    """ansible-rulebook's --persistence-id (its settings.persistence_id), or None outside ansible-rulebook."""
    try:
        from ansible_rulebook.conf import settings  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    value = getattr(settings, 'persistence_id', None)
    return value if isinstance(value, str) and value else None


async def _redeliver(queue, config, feedback):
    """With the engine's feedback queue: the spool (config['spool']), its events that never got feedback queued
    again, and the task that takes the feedback; (None, None) without it."""
    if feedback is None:
        return None, None
    persistence = _persistence_id()
    key = persistence and '%s:%d' % (persistence, config['port'])  # a spool in PostgreSQL: the rows of this key
    commit = config['spool'] = spool.SpoolCommit(spool.open_spool(config['audit_log'], key))
    acks = asyncio.ensure_future(commit.feedback(feedback, _engine_persists))
    waiting = await asyncio.get_running_loop().run_in_executor(None, commit.spool.load)
    if waiting:
        LOGGER.warning('re-emitting %d accepted events the rulebook never confirmed', len(waiting))
    for event in waiting:
        await queue.put(event)
    return commit, acks


async def _check_exits(pipeline):
    """About once a second: escalate the remediations that failed, were refused, reported nothing in time or whose
    approval expired (intake.Intake.check_exits), and, once a minute, record the requests refused for their
    credentials (record_refusals); an error is logged and tried again, never the end of the source."""
    while True:
        await asyncio.sleep(1.0)
        try:
            await pipeline.check_exits()
            await pipeline.record_refusals()
        except Exception:  # pylint: disable=broad-except  # the watch must outlive any one bad entry
            LOGGER.exception('checking the exits of remediations failed; trying again in a second')


async def main(queue, args):
    """Serve until cancelled."""
    config = _validate(args)
    intake.refresh_store(config['enricher'])  # before the first alert, not during it
    commit, acks = await _redeliver(queue, config, args.get('eda_feedback_queue'))
    pipeline = intake.Intake(queue, config)
    app = web.Application(client_max_size=config['max_body'])
    for method in ('POST', 'PUT'):  # Grafana's webhook contact point sends PUT when told to
        app.router.add_route(method, '/{tail:.*}', _handler(pipeline, config['max_body']))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config['host'], config['port'], ssl_context=config['ssl'])
        await site.start()
        LOGGER.info('listening on %s port %d', config['host'], config['port'])
        exits = asyncio.ensure_future(_check_exits(pipeline))
        try:
            await (acks if acks is not None else asyncio.Future())  # acks ends only with an error (NotPersisted)
        finally:
            exits.cancel()
    except asyncio.CancelledError:
        LOGGER.info('stopping')
        raise
    finally:
        await runner.cleanup()
        pipeline.close()
        if acks is not None:
            acks.cancel()
            commit.close()


if __name__ == '__main__':
    class _PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event, indent=2))

    asyncio.run(main(_PrintQueue(), {'port': 5050, 'allow_unauthenticated': True}))
