"""Figure: alerts per second a real ansible-rulebook takes in through the shipped aiops_alerts source (auth, episodes,
enrichment from a 1,000-host store, guardrails, payload, fsynced audit entries) against the same rulebook fed by
ansible-rulebook's own built-in webhook source (eda.builtin.webhook: the whole body is one event, nothing decided or
recorded), and the engine's own ceiling: the same rules fed by the built-in range source (no HTTP at all).

Each rulebook keeps the shipped source block (the webhook and range ones replace it) and has three rules: the first
and the last alert print a marker, every other event matches a rule with no action (`none`). One alert per request
(so one event per request for both HTTP sources), the same client, concurrency 8, bearer token on both; the last
alert is sent once every other one was answered. The rate is the alerts between the two markers over the time
between them, as ansible-rulebook printed them; ansible-rulebook hands the engine one event at a time (its source
queue holds one), so a source answers no faster than the engine takes. Interleaved rounds, each in a fresh
ansible-rulebook, median. Target (issue 13): the shipped source >= 0.9x the built-in webhook.
"""

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import aiohttp
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)

import targets  # noqa: E402
from alerts_vs_bare import TOKEN, store_and_keys  # noqa: E402
from tests.ports import free_port  # noqa: E402

BIN = os.path.dirname(sys.executable)
RULEBOOK = os.path.join(ROOT, 'extensions', 'eda', 'rulebooks', 'aiops_remediation.yml')
SMOKE = {'engine_alerts': 200, 'engine_rounds': 1}  # bench/run.py --smoke
TARGET = 0.9
FIRST, LAST = 'bench-first', 'bench-last'
# which -> (where the fingerprint is in the event, the source block; None: the shipped one)
SOURCES = {
    'aiops_alerts': ('event.alert.fingerprint', None),
    'webhook': ('event.payload.alerts[0].fingerprint',
                {'name': 'webhook', 'eda.builtin.webhook': {'host': '127.0.0.1', 'port': '{{ aigov_port }}',
                                                            'token': '{{ aigov_token }}'}}),
}


def rulebook(path, which, alerts):
    """The shipped rulebook with its rules replaced by the three of the figure (and its source, but for aiops_alerts)."""
    with open(RULEBOOK) as handle:
        [ruleset] = yaml.safe_load(handle)
    if which == 'range':
        field, first, last = 'event.i', '0', str(alerts - 1)
        ruleset['sources'] = [{'name': 'range', 'eda.builtin.range': {'limit': alerts}}]
    else:
        field, source = SOURCES[which]
        first, last = '"%s"' % FIRST, '"%s"' % LAST
        if source is not None:
            ruleset['sources'] = [source]
        else:
            ruleset['sources'][0]['aigov.core.aiops_alerts']['rate_per_minute'] = 1000000
    ruleset['rules'] = [
        {'name': 'First', 'condition': '%s == %s' % (field, first), 'action': {'debug': {'msg': 'BENCH-MARK first'}}},
        {'name': 'Last', 'condition': '%s == %s' % (field, last), 'action': {'debug': {'msg': 'BENCH-MARK last'}}},
        {'name': 'Every event', 'condition': 'event.meta is defined', 'action': {'none': {}}},
    ]
    with open(path, 'w') as handle:
        yaml.safe_dump([ruleset], handle)
    return path


def bodies(alerts):
    """One Alertmanager alert per request about the store's model servers; the first and the last are the markers."""
    out = []
    for number in range(alerts):
        fingerprint = FIRST if number == 0 else LAST if number == alerts - 1 else 'e%d' % number
        out.append(json.dumps({'version': '4', 'status': 'firing', 'alerts': [{
            'status': 'firing', 'fingerprint': fingerprint, 'startsAt': '2026-12-06T10:00:00Z',
            'labels': {'alertname': 'ModelServerDown', 'instance': '10.0.%d.%d:8000' % divmod(number % 1000, 250),
                       'confidence': '0.9'}}]}).encode())
    return out


class Markers(threading.Thread):
    """Reads ansible-rulebook's output; the time each marker appeared."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.seen, self.tail = proc, {}, []

    def run(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            self.tail = (self.tail + [line])[-40:]
            for name in ('first', 'last'):
                if 'BENCH-MARK %s' % name in line:
                    self.seen.setdefault(name, now)

    def wait(self, name, timeout):
        deadline = time.monotonic() + timeout
        while name not in self.seen and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.01)
        if name not in self.seen:
            raise RuntimeError('ansible-rulebook never printed its %s marker:\n%s' % (name, ''.join(self.tail)))
        return self.seen[name]


async def send(port, data, concurrency=8):
    """Every body but the last (concurrency 8), then the last; seconds until all were answered."""
    headers = {'Authorization': 'Bearer ' + TOKEN, 'Content-Type': 'application/json'}
    position = iter(data[:-1])
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async def post(body):
            async with session.post('http://127.0.0.1:%d/' % port, data=body, headers=headers) as response:
                await response.read()
                if response.status not in (200, 202):
                    raise RuntimeError('the source answered %d' % response.status)

        async def worker():
            for body in position:
                await post(body)
        await asyncio.gather(*[worker() for _worker in range(concurrency)])
        await post(data[-1])
    return time.monotonic() - started


def measure(workdir, which, alerts, store, keys, env):
    """(alerts per second between the markers, seconds the client took) of one fresh ansible-rulebook."""
    port = free_port()
    variables = os.path.join(workdir, 'vars-%s.yml' % which)
    log = os.path.join(workdir, 'audit-%s-%d.jsonl' % (which, port))
    with open(variables, 'w') as handle:
        yaml.safe_dump({'aigov_port': port, 'aigov_token': TOKEN, 'aigov_store_path': store, 'aigov_audit_log': log,
                        'aigov_decision_key_file': keys}, handle)
    path = rulebook(os.path.join(workdir, 'rulebook-%s.yml' % which), which, alerts)
    proc = subprocess.Popen([os.path.join(BIN, 'ansible-rulebook'), '-r', path, '-i', os.path.join(workdir, 'inventory.yml'),
                             '--vars', variables], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    markers = Markers(proc)
    markers.start()
    try:
        client = None
        if which != 'range':
            wait_port(port, proc, lambda: ''.join(markers.tail))
            client = asyncio.run(send(port, bodies(alerts)))
        last = markers.wait('last', 600)
        return (alerts - 1) / (last - markers.seen['first']), client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_port(port, proc, output=str, timeout=120):
    """Return once ansible-rulebook (proc) listens on port; RuntimeError, with output() (its last lines), when it exits
    or does not listen within timeout seconds. The alert-to-remediation figure waits the same way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError('ansible-rulebook exited with %s:\n%s' % (proc.returncode, output()))
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError('ansible-rulebook did not listen on %d:\n%s' % (port, output()))


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-engine-')
    store, keys = store_and_keys(workdir)
    with open(os.path.join(workdir, 'inventory.yml'), 'w') as handle:
        yaml.safe_dump({'all': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                        'ansible_python_interpreter': sys.executable}}}}, handle)
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get('PATH', ''), PYTHONUNBUFFERED='1',
               ANSIBLE_COLLECTIONS_PATH=conftest.FARM, ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='false',
               JAVA_HOME=os.environ.get('JAVA_HOME', '/usr/lib/jvm/java-17-openjdk-amd64'))
    order = ('webhook', 'aiops_alerts', 'range')
    rates, clients = dict((which, []) for which in order), dict((which, []) for which in order)
    for index in range(args.engine_rounds):
        for which in order if index % 2 == 0 else tuple(reversed(order)):
            rate, client = measure(workdir, which, args.engine_alerts, store, keys, env)
            rates[which].append(rate)
            clients[which].append(client)
    rate = dict((which, statistics.median(values)) for which, values in rates.items())
    print('\n%s taking in %d alerts (one per request, concurrency 8), the same three rules, median of %d'
          ' interleaved rounds, each in a fresh ansible-rulebook' % (_version(), args.engine_alerts, args.engine_rounds))
    print('  engine ceiling  eda.builtin.range (no HTTP)                 %7.0f events/s' % rate['range'])
    for which, label in (('webhook', 'eda.builtin.webhook (ungoverned)'), ('aiops_alerts', 'aigov.core.aiops_alerts (governed)')):
        print('  %-12s    %-42s %7.0f alerts/s (client done in %.2f s)' % (
            'baseline' if which == 'webhook' else 'candidate', label, rate[which], statistics.median(clients[which])))
    print('  ratio     %.2fx the built-in webhook (target >= %.1f); webhook at %.2fx the engine ceiling' % (
        rate['aiops_alerts'] / rate['webhook'], TARGET, rate['webhook'] / rate['range']))
    found = [targets.check('engine: aiops_alerts alerts/s / built-in webhook alerts/s', rate['aiops_alerts'] / rate['webhook'],
                           '>=', TARGET)]
    return {'figure': 'rulebook_aiops_alerts_vs_builtin_webhook', 'alerts': args.engine_alerts, 'rounds': args.engine_rounds,
            'range_events_per_s': round(rate['range'], 1), 'webhook_alerts_per_s': round(rate['webhook'], 1),
            'aiops_alerts_per_s': round(rate['aiops_alerts'], 1), 'ratio': round(rate['aiops_alerts'] / rate['webhook'], 3),
            'targets': found}


def _version():
    proc = subprocess.run([os.path.join(BIN, 'ansible-rulebook'), '--version'], capture_output=True, text=True, check=False)
    return (proc.stdout.splitlines() or ['ansible-rulebook'])[0].strip()  # 'ansible-rulebook [1.3.2]'


def add_arguments(parser):
    parser.add_argument('--engine-alerts', type=int, default=5000, help='alerts per run of the engine figure')
    parser.add_argument('--engine-rounds', type=int, default=3, help='interleaved rounds of the engine figure')
