"""The parts of two figures that a wrong turn would make measure something else: the alert-to-remediation figure kills
the server at the same point of Prometheus's scrape cycle each time, and the alerts figure's durable reference puts a
line per alert on disk before it answers."""

import asyncio
import datetime
import http.server
import json
import os
import sys
import threading
import time

import aiohttp

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))), 'bench')
sys.path.insert(0, BENCH)

import alert_to_remediation  # noqa: E402  pylint: disable=wrong-import-position
import alerts_vs_bare  # noqa: E402  pylint: disable=wrong-import-position
from tests.ports import free_port  # noqa: E402  pylint: disable=wrong-import-position


class Targets(http.server.BaseHTTPRequestHandler):
    last = None

    def do_GET(self):  # noqa: N802  (http.server's name)
        body = json.dumps({'data': {'activeTargets': [{'health': 'up', 'lastScrape': Targets.last}]}}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_kill_comes_half_a_scrape_interval_after_the_last_scrape():
    last = time.time() - 3.3
    # Prometheus writes nanoseconds and Z
    Targets.last = datetime.datetime.fromtimestamp(last, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f') + '123Z'
    server = http.server.HTTPServer(('127.0.0.1', 0), Targets)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        alert_to_remediation.scrape_phase(server.server_port)
        phase = (time.time() - last) % alert_to_remediation.SCRAPE_INTERVAL
    finally:
        server.shutdown()
    assert 0.5 <= phase < 0.6, phase


def test_the_durable_reference_has_each_alert_on_disk_before_it_answers(tmp_path):
    log = str(tmp_path / 'durable.jsonl')
    bodies = alerts_vs_bare.payloads(6, 3)

    async def run():
        queue, port = asyncio.Queue(), free_port()
        server = asyncio.ensure_future(alerts_vs_bare.durable_main(queue, {'port': port, 'log': log}))
        await asyncio.sleep(0.2)
        try:
            async with aiohttp.ClientSession() as session:
                for body in bodies:
                    async with session.post('http://127.0.0.1:%d/' % port, data=body) as response:
                        assert response.status == 202
                        with open(log) as handle:  # written before the answer, not after
                            written = handle.read().splitlines()
                        assert json.loads(body)['alerts'][-1] == json.loads(written[-1])
            return queue.qsize()
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)

    assert asyncio.run(run()) == 18
    with open(log) as handle:
        assert len(handle.read().splitlines()) == 18
