"""Figure: an alert storm through the aiops_alerts source with at-least-once delivery on (feedback and the spool),
in its own process, behind an emulated ansible-rulebook (an event queue of one, each event handed back on a feedback
queue of one, as rule_set_runner does with persistence). Four storms of --storm-alerts alerts each: unique and
repeated (each of 1,000 alerts sent again and again), one alert per request and 100 per request.

Printed per storm: requests/s, the source process' resident memory (VmRSS) at start and its peak (VmHWM), the
growth, the spool file at the end, and the accounting: every alert sent is either delivered to the engine or
counted as held back in a 202 reply (duplicate, flapping, rate_limited), and nothing is left waiting in the spool.
The bound it is checked against is documented in docs/remediation.md ("Delivery"): --storm-bound-mib of peak
resident memory of the source's process (its Python, aiohttp, the engine, the 1,000-host store, the gate's memory of
fingerprints and the spool).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import aiohttp

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(ROOT))

from tests import conftest  # noqa: E402  (links this checkout as ansible_collections.aigov.core under FARM)
sys.path.insert(0, conftest.FARM)

import targets  # noqa: E402
from alerts_vs_bare import SOURCE, TOKEN, store_and_keys  # noqa: E402
from tests.ports import free_port  # noqa: E402

CHILD = r'''
import asyncio, json, os, runpy, signal, sys
sys.path.insert(0, %(farm)r)
args = json.loads(sys.argv[1])
main = runpy.run_path(%(source)r)['main']
try:  # the emulated engine keeps a database, as ansible-rulebook with --persistence-id and drools_db_file_path does
    from ansible_rulebook.conf import settings
    settings.persistence_enabled = True
except ImportError:
    pass
seen = {'events': 0, 'fingerprints': set(), 'redelivered': 0}

async def engine(queue, feedback):
    while True:
        event = await queue.get()
        seen['events'] += 1
        seen['fingerprints'].add(event['alert']['fingerprint'])
        seen['redelivered'] += bool(event['meta'].get('redelivered'))
        await feedback.put(event)

async def run():
    queue, feedback = asyncio.Queue(1), asyncio.Queue(1)
    consumer = asyncio.ensure_future(engine(queue, feedback))
    source = asyncio.ensure_future(main(queue, dict(args, eda_feedback_queue=feedback)))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, source.cancel)
    try:
        await source
    except asyncio.CancelledError:
        pass
    consumer.cancel()
    print(json.dumps({'events': seen['events'], 'unique': len(seen['fingerprints']), 'redelivered': seen['redelivered']}))

asyncio.run(run())
'''


def status(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    found = {}
    with open('/proc/%d/status' % pid) as handle:
        for line in handle:
            key, _sep, value = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                found[key] = int(value.split()[0])
    return found


def bodies(total, per_request, repeated):
    """Alertmanager bodies: alert i is about host i %% 1000; repeated storms cycle through 1,000 fingerprints."""
    out = []
    for start in range(0, total, per_request):
        alerts = []
        for number in range(start, min(total, start + per_request)):
            index = number % 1000
            alerts.append({'status': 'firing', 'fingerprint': 'fp%d' % (index if repeated else number),
                           'startsAt': '2026-12-06T10:00:00Z',
                           'labels': {'alertname': 'ModelServerDown', 'instance': '10.0.%d.%d:8000' % divmod(index, 250),
                                      'confidence': '0.9'}})
        out.append(json.dumps({'version': '4', 'status': 'firing', 'alerts': alerts}).encode())
    return out


async def drive(port, data, concurrency=8):
    counts = {}
    position = iter(data)
    headers = {'Authorization': 'Bearer ' + TOKEN, 'Content-Type': 'application/json'}
    async with aiohttp.ClientSession() as session:
        async def worker():
            for body in position:
                async with session.post('http://127.0.0.1:%d/' % port, data=body, headers=headers) as response:
                    reply = await response.json()
                    assert response.status == 202, (response.status, reply)
                    for key, value in reply.items():
                        if isinstance(value, int):
                            counts[key] = counts.get(key, 0) + value
        await asyncio.gather(*[worker() for _worker in range(concurrency)])
    return counts


def storm(workdir, store, keys, total, per_request, repeated, bound_mib):
    """One storm in a fresh source process; its figures."""
    name = '%s, %d per request' % ('repeated' if repeated else 'unique', per_request)
    log = os.path.join(workdir, '%s-%d.jsonl' % ('repeated' if repeated else 'unique', per_request))
    port = free_port()
    args = {'port': port, 'token': TOKEN, 'store': store, 'rate_per_minute': 1000000, 'audit_log': log,
            'decision_key_file': keys, 'feedback': True}
    child = subprocess.Popen([sys.executable, '-c', CHILD % {'farm': conftest.FARM, 'source': SOURCE}, json.dumps(args)],
                             stdout=subprocess.PIPE, text=True)
    try:
        for _attempt in range(300):
            try:
                with __import__('socket').create_connection(('127.0.0.1', port), timeout=0.1):
                    break
            except OSError:
                time.sleep(0.05)
        base = status(child.pid)['VmRSS']
        data = bodies(total, per_request, repeated)
        started = time.perf_counter()
        counts = asyncio.run(drive(port, data))
        elapsed = time.perf_counter() - started
        memory = status(child.pid)
    finally:
        child.send_signal(signal.SIGTERM)
        out = child.communicate(timeout=60)[0]
    seen = json.loads(out.strip().splitlines()[-1])
    spool_bytes = os.path.getsize(log + '.spool') if os.path.exists(log + '.spool') else 0
    from ansible_collections.aigov.core.plugins.module_utils.alerts import spool
    left = spool.Spool(log + '.spool').load()
    held = sum(counts.get(key, 0) for key in ('duplicate', 'flapping', 'rate_limited'))
    growth = (memory['VmHWM'] - base) / 1024.0
    figure = {'storm': name, 'alerts': total, 'requests': len(data), 'requests_per_s': round(len(data) / elapsed, 1),
              'rss_start_mib': round(base / 1024.0, 1), 'rss_peak_mib': round(memory['VmHWM'] / 1024.0, 1),
              'growth_mib': round(growth, 1), 'bound_mib': bound_mib, 'accepted': counts.get('accepted', 0),
              'held_back': held, 'delivered': seen['events'], 'unique_delivered': seen['unique'],
              'left_in_spool': len(left), 'spool_bytes_at_end': spool_bytes,
              # not counted in any 202 reply, or accepted and never delivered to the engine
              'lost': (total - counts.get('accepted', 0) - held) + (counts.get('accepted', 0) - seen['events'])}
    line = '  %-26s %6d requests %6.0f/s  rss %5.1f -> peak %5.1f MiB (+%4.1f; bound %d)  accepted %6d held %6d'
    print((line + ' delivered %6d lost %d  spool left %d (%d bytes)') % (
        name, len(data), figure['requests_per_s'], figure['rss_start_mib'], figure['rss_peak_mib'], growth, bound_mib,
        figure['accepted'], held, seen['events'], figure['lost'], len(left), spool_bytes))
    return figure


SMOKE = {'storm_alerts': 400}  # bench/run.py --smoke


def run(args):
    """Measure and print the figure; return it as a dict."""
    workdir = tempfile.mkdtemp(prefix='aigov-bench-storm-')
    store, keys = store_and_keys(workdir)
    print('\nalert storm: aiops_alerts with feedback (spool) behind an emulated ansible-rulebook, %d alerts per storm,'
          ' 1,000-host store, concurrency 8' % args.storm_alerts)
    storms = [storm(workdir, store, keys, args.storm_alerts, per_request, repeated, args.storm_bound_mib)
              for repeated in (False, True) for per_request in (1, 100)]
    found = []
    for figure in storms:
        figure['within_bound'] = figure['rss_peak_mib'] < args.storm_bound_mib and figure['lost'] == 0
        found.append(targets.check('storm %s: peak RSS of the source' % figure['storm'], figure['rss_peak_mib'], '<=',
                                   args.storm_bound_mib, ' MiB'))
        found.append(targets.check('storm %s: alerts lost' % figure['storm'], figure['lost'], '<=', 0, ''))
    return {'figure': 'alert_storm', 'storms': storms, 'targets': found}


def add_arguments(parser):
    parser.add_argument('--storm-alerts', type=int, default=100000, help='alerts per storm of the alert storm figure')
    parser.add_argument('--storm-bound-mib', type=int, default=256, help='documented bound of the source process peak RSS')


if __name__ == '__main__':
    import argparse
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())
