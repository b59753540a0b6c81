"""gunicorn_conf: which requests are answered with Connection: close (their body stays unread)."""

from __future__ import annotations

import gunicorn_conf


def test_a_body_longer_than_the_limit_or_chunked_closes_the_connection():
    assert gunicorn_conf.body_left_unread([("CONTENT-LENGTH", "1048577")], 1_048_576)
    assert gunicorn_conf.body_left_unread([("TRANSFER-ENCODING", "gzip, chunked")], 1_048_576)
    assert not gunicorn_conf.body_left_unread([("CONTENT-LENGTH", "1048576")], 1_048_576)
    assert not gunicorn_conf.body_left_unread([("CONTENT-TYPE", "application/json")], 1_048_576)


class Request:
    def __init__(self, headers):
        self.headers = headers
        self.closed = False

    def force_close(self):
        self.closed = True


def test_pre_request_marks_only_those_requests(monkeypatch):
    monkeypatch.setattr(gunicorn_conf, "max_body_bytes", lambda: 100)
    big, small = Request([("CONTENT-LENGTH", "101")]), Request([("CONTENT-LENGTH", "100")])
    gunicorn_conf.pre_request(None, big)
    gunicorn_conf.pre_request(None, small)
    assert big.closed and not small.closed


def test_idle_connections_outlive_a_load_balancer_s_idle_timeout():
    assert gunicorn_conf.keepalive > 60
