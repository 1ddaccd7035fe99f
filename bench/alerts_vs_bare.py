"""Figure: the aiops_alerts event source (auth, dedup, enrichment from a 1,000-host asset store,
guardrail decision) against a bare aiohttp receiver that only parses the JSON and enqueues it
(the floor), both driven by the same client in the same run: throughput at 1 and at 100 alerts
per request, and p99 request latency. Targets (issue 13, ratios to the floor in the same run): at 1 alert per
request >= 0.85x its throughput and <= 1.5x its p99; at 100 alerts per request >= 0.18x and <= 8x (ansible.eda's
alertmanager source, measured in this harness, reaches 0.79x and 0.12x). Every decision is appended to the audit
log before it is queued (fsync; concurrent requests share one write and one fsync). A reference receiver, the floor
plus that fsync alone (durable_main), shows what the durability contract costs before any governance.
"""

import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time

import aiohttp
from aiohttp import web

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

import runpy  # noqa: E402

from ansible_collections.aigov.core.plugins.module_utils.store import asset_store  # noqa: E402
from ansible_collections.aigov.core.plugins.module_utils.store.asset_store_sqlite import open_store  # noqa: E402
import targets  # noqa: E402
from inventory_vs_static import host_assets  # noqa: E402
from tests.fixtures.inventory import estate  # noqa: E402
from tests.ports import free_port  # noqa: E402

SOURCE = os.path.join(conftest.FARM, 'ansible_collections', 'aigov', 'core', 'extensions', 'eda', 'plugins',
                      'event_source', 'aiops_alerts.py')
TOKEN = 'bench-token'
SMOKE = {'alert_requests': 40, 'alert_rounds': 1}  # bench/run.py --smoke
# alerts per request: (throughput ratio at least, p99 ratio at most), both against the floor in the same run
TARGETS = {1: (0.85, 1.5), 100: (0.18, 8.0)}


async def _serve(handle, port):
    app = web.Application(client_max_size=1 << 22)
    app.router.add_route('POST', '/{tail:.*}', handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, '127.0.0.1', port).start()
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


async def bare_main(queue, args):
    """The floor: parse and enqueue each alert as an event, nothing else."""
    async def handle(request):
        for alert in json.loads(await request.read())['alerts']:
            await queue.put({'alert': alert})
        return web.json_response({}, status=202)
    await _serve(handle, args['port'])


async def durable_main(queue, args):
    """The floor plus the durability contract alone: a line per alert on disk (fsync; requests that arrive meanwhile
    share the next write, as the source's group commit) before the events are queued and the 202 sent. No
    authentication, episodes, enrichment, decision, seal or hash chain: no receiver that keeps the contract goes below
    it on this machine (a reference line, not a target)."""
    loop = asyncio.get_running_loop()
    fd = os.open(args['log'], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    pending, writing = [], []

    def write(lines):
        os.write(fd, b''.join(lines))
        os.fsync(fd)

    async def drain():
        while pending:
            batch = pending[:]
            del pending[:]
            await loop.run_in_executor(None, write, [line for lines, _done in batch for line in lines])
            for _lines, done in batch:
                done.set_result(None)

    async def handle(request):
        alerts = json.loads(await request.read())['alerts']
        done = loop.create_future()
        pending.append(([json.dumps(alert).encode() + b'\n' for alert in alerts], done))
        if not writing or writing[-1].done():
            writing[:] = [asyncio.ensure_future(drain())]
        await done
        for alert in alerts:
            await queue.put({'alert': alert})
        return web.json_response({}, status=202)
    try:
        await _serve(handle, args['port'])
    finally:
        os.close(fd)


def payloads(count, per_request):
    """Alertmanager groups about model servers of the store's hosts; every alert unique (no dedup hits)."""
    bodies = []
    for request in range(count):
        alerts = []
        for slot in range(per_request):
            index = (request * per_request + slot) % 1000
            alerts.append({'status': 'firing', 'fingerprint': 'r%d-%d' % (request, slot),
                           'labels': {'alertname': 'ModelServerDown', 'instance': '10.0.%d.%d:8000' % divmod(index, 250),
                                      'confidence': '0.9'}})
        bodies.append(json.dumps({'version': '4', 'status': 'firing', 'alerts': alerts}).encode())
    return bodies


async def drive(url, bodies, concurrency):
    latencies = []
    queue = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {'Authorization': 'Bearer ' + TOKEN, 'Content-Type': 'application/json'}
    async with aiohttp.ClientSession() as session:
        async def worker():
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    assert response.status == 202, response.status
                latencies.append(time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _worker in range(concurrency)])
        elapsed = time.perf_counter() - started
    latencies.sort()
    return len(bodies) / elapsed, latencies[int(len(latencies) * 0.99) - 1]


async def measure(main, args, bodies, concurrency):
    sink = asyncio.Queue()
    port = free_port()
    task = asyncio.ensure_future(main(sink, dict(args, port=port)))
    for _attempt in range(100):
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.1):
                break
        except OSError:
            await asyncio.sleep(0.05)
    drainer = asyncio.ensure_future(_drain(sink))
    try:
        return await drive('http://127.0.0.1:%d/' % port, bodies, concurrency)
    finally:
        task.cancel()
        drainer.cancel()
        await asyncio.gather(task, drainer, return_exceptions=True)


async def _drain(queue):
    while True:
        await queue.get()


def store_and_keys(workdir):
    """(asset store of 1,000 hosts with model servers at 10.0.x.y:8000, decision key file) in workdir."""
    store = os.path.join(workdir, 'assets.sqlite3')
    scans = [estate.scan('host-%04d' % i, host_assets(i, 'host-%04d' % i), '10.0.%d.%d' % divmod(i, 250)) for i in range(1000)]
    asset_store.record_scans(open_store(store), scans, estate.T1)
    keys = os.path.join(workdir, 'decision.keys')
    with open(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), 'w') as handle:
        handle.write('bench:%s\n' % os.urandom(32).hex())
    return store, keys


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-alerts-')
    store, keys = store_and_keys(workdir)
    source_main = runpy.run_path(SOURCE)['main']
    source_args = {'token': TOKEN, 'store': store, 'dedup_ttl': 300, 'rate_per_minute': 1000000,
                   'audit_log': os.path.join(workdir, 'audit.jsonl'), 'decision_key_file': keys}
    figure = {'figure': 'event_source_vs_bare_aiohttp', 'requests': args.alert_requests, 'rounds': args.alert_rounds}
    print('\naiops_alerts (auth, dedup, enrichment, guardrails, audit) vs a bare aiohttp parse-and-enqueue receiver,'
          ' same client, %d requests, concurrency 8, median of %d interleaved rounds' % (args.alert_requests, args.alert_rounds))
    found = []
    for per_request, (target, p99_target) in sorted(TARGETS.items()):
        bodies = payloads(args.alert_requests if per_request == 1 else max(20, args.alert_requests // 20), per_request)
        mains = {'bare': (bare_main, {}), 'durable': (durable_main, {'log': os.path.join(workdir, 'durable.jsonl')}),
                 'source': (source_main, source_args)}
        rates, p99s = dict((which, []) for which in mains), dict((which, []) for which in mains)
        for index in range(args.alert_rounds):
            order = ('bare', 'durable', 'source')[index % 3:] + ('bare', 'durable', 'source')[:index % 3]
            for which in order:
                main, main_args = mains[which][0], dict(mains[which][1])
                if which == 'source':
                    # fresh fingerprints each round, so the gate never sees a duplicate
                    bodies_run = [body.replace(b'"fingerprint": "r', b'"fingerprint": "%d-r' % index) for body in bodies]
                else:
                    bodies_run = bodies
                rate, p99 = asyncio.run(measure(main, main_args, bodies_run, 8))
                rates[which].append(rate)
                p99s[which].append(p99)
        bare, source = statistics.median(rates['bare']), statistics.median(rates['source'])
        bare_p99, source_p99 = statistics.median(p99s['bare']), statistics.median(p99s['source'])
        durable, durable_p99 = statistics.median(rates['durable']), statistics.median(p99s['durable'])
        print('  %3d alert(s)/request: floor %7.0f req/s, source %7.0f req/s, ratio %.2fx (target >= %.2f);'
              ' p99 %.1f ms vs %.1f ms, ratio %.2fx (target <= %g)' % (
                  per_request, bare, source, source / bare, target, bare_p99 * 1000, source_p99 * 1000, source_p99 / bare_p99,
                  p99_target))
        print('      reference, the floor + an fsynced line per alert before the 202 (no governance): %7.0f req/s, ratio'
              ' %.2fx; p99 %.1f ms, ratio %.2fx' % (durable, durable / bare, durable_p99 * 1000, durable_p99 / bare_p99))
        found.append(targets.check('alerts %d/request: throughput / bare receiver' % per_request, source / bare, '>=', target))
        found.append(targets.check('alerts %d/request: p99 / bare receiver p99' % per_request, source_p99 / bare_p99, '<=',
                                   p99_target))
        figure['alerts_per_request_%d' % per_request] = {
            'floor_rps': round(bare, 1), 'source_rps': round(source, 1), 'throughput_ratio': round(source / bare, 3),
            'floor_p99_ms': round(bare_p99 * 1000, 2), 'source_p99_ms': round(source_p99 * 1000, 2),
            'p99_ratio': round(source_p99 / bare_p99, 3),
            'durable_floor_rps': round(durable, 1), 'durable_floor_ratio': round(durable / bare, 3),
            'durable_floor_p99_ratio': round(durable_p99 / bare_p99, 3)}
    figure['targets'] = found
    return figure


def add_arguments(parser):
    parser.add_argument('--alert-requests', type=int, default=2000, help='requests per run of the event source figure')
    parser.add_argument('--alert-rounds', type=int, default=3, help='interleaved rounds of the event source figure')
