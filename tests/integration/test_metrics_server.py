"""The /metrics server of `pymac live --prometheus` under clients that do not
behave: idle sockets, slow senders, malformed requests, many scrapers at
once. None of them may delay a normal scrape (Prometheus gives up after
10 s by default; a node agent's stalled scrape is an outage)."""

import re
import socket
import sys
import subprocess
import threading
import time

import pytest

from conftest import REPO, LineReader, stop, tail

sys.path.insert(0, str(REPO / "tests" / "reliability"))
from attack import HTTP_CASES  # noqa: E402

PY312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
# a target that lives long enough for the clients below, then ends by itself
WORKLOAD = "import time\nfor i in range(600):\n    x = [str(j) for j in range(50)]\n    time.sleep(0.05)\n"


@pytest.fixture
def server(pymac, tmp_path):
    proc = subprocess.Popen(
        [pymac, "live", "--lines", "--prometheus", "127.0.0.1:0", "--record", str(tmp_path / "t.pmt"), "--"]
        + [PY312, "-c", WORKLOAD],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    err = LineReader(proc.stderr)
    try:
        line = err.wait_for(lambda l: "serving metrics at" in l, 60)
        assert line, "no 'serving metrics at' line: %s" % err.text()
        m = re.search(r"http://([\d.]+):(\d+)/metrics", line)
        yield (m.group(1), int(m.group(2))), proc
    finally:
        stop(proc)
        err.join()
    assert proc.returncode in (0, -15, 143), tail(err.text())


def request(addr, raw, timeout=10):
    """Send raw bytes, return (status line, headers, body, seconds taken)."""
    t0 = time.monotonic()
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    took = time.monotonic() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return lines[0], headers, body, took


def scrape(addr):
    status, headers, body, took = request(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == "HTTP/1.1 200 OK", status
    assert int(headers["Content-Length"]) == len(body), headers
    assert b"pymac_events_received_total" in body
    return body, took


def test_idle_connections_do_not_stall_a_scrape(server):
    addr, _ = server
    scrape(addr)
    idle = []
    try:
        for _ in range(200):
            idle.append(socket.create_connection(addr, timeout=5))
        # a few that send half a request and stop
        for s in idle[-10:]:
            s.sendall(b"GET /metr")
        _, took = scrape(addr)
        assert took < 1.0, "a scrape took %.2f s with 200 idle connections open" % took
        # the server holds a bounded number: the oldest idle ones were closed
        idle[0].settimeout(5)
        assert idle[0].recv(1) == b"", "the oldest idle connection is still open"
    finally:
        for s in idle:
            s.close()
    # and it serves on
    scrape(addr)


def test_a_slow_reader_delays_nobody(server):
    addr, _ = server
    slow = socket.create_connection(addr, timeout=5)
    try:
        # asks for the page and never reads the answer
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        slow.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        _, took = scrape(addr)
        assert took < 1.0, took
    finally:
        slow.close()


def test_many_scrapes_at_once_get_whole_pages(server):
    addr, _ = server
    results, errors = [], []

    def one():
        try:
            results.append(scrape(addr))
        except Exception as e:  # reported below, with the others
            errors.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(results) == 40
    assert max(took for _, took in results) < 2.0, sorted(took for _, took in results)[-5:]


def test_requests_are_parsed_strictly(server):
    addr, _ = server
    # the malformed requests of tests/reliability/attack.py, one table for both
    for raw, want in HTTP_CASES:
        status, _, body, _ = request(addr, raw)
        assert (status.split() + ["", ""])[1] == want, (raw[:40], status, body[:80])
    status, headers, body, _ = request(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n")
    assert status == "HTTP/1.1 200 OK" and body == b"" and int(headers["Content-Length"]) > 0, (status, headers)
    status, _, body, _ = request(addr, b"GET /metrics?x=1 HTTP/1.0\n\n")
    assert status == "HTTP/1.1 200 OK" and b"pymac_lane_info" in body
    # a client that connects and closes at once is no trouble either
    for _ in range(50):
        socket.create_connection(addr, timeout=5).close()
    scrape(addr)
