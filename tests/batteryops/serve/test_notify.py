"""Alerts: every channel gets one, repeats are held back, floods are capped, failures counted."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from batteryops.core.config import AlertParams
from batteryops.serve.notify import Alert, Notifier


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def webhook():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def _notifier(clock: _Clock, **overrides) -> Notifier:
    params = {"notifiers": ["log"], "dedup_s": 600, "max_per_minute": 3} | overrides
    return Notifier(AlertParams(**params), clock=clock)


def test_webhook_receives_the_alert(webhook) -> None:
    url, received = webhook
    notifier = _notifier(_Clock(), notifiers=["log", "webhook"], webhook_url=url)
    assert notifier.notify(Alert("alarm", "R01-M03", "hazard alarm", {"probability": 0.99}))
    notifier.flush()
    assert received[0]["key"] == "R01-M03"
    assert received[0]["detail"]["probability"] == 0.99
    assert notifier.stats()["failed"] == 0


def test_the_same_alert_is_sent_once_per_dedup_window(caplog) -> None:
    clock = _Clock()
    notifier = _notifier(clock)
    assert notifier.notify(Alert("alarm", "R01-M03", "a"))
    clock.now = 599
    assert not notifier.notify(Alert("alarm", "R01-M03", "a"))
    assert notifier.notify(Alert("alarm", "R01-M04", "b"))  # another module is another alert
    clock.now = 601
    assert notifier.notify(Alert("alarm", "R01-M03", "a"))
    notifier.flush()
    assert notifier.stats() == {"sent": 3, "deduplicated": 1, "rate_limited": 0, "failed": 0}
    assert sum("ALERT alarm R01-M03" in r.getMessage() for r in caplog.records) == 2


def test_a_flood_is_capped_per_minute() -> None:
    clock = _Clock()
    notifier = _notifier(clock)
    sent = [notifier.notify(Alert("alarm", f"M{i}", "x")) for i in range(10)]
    assert sent == [True] * 3 + [False] * 7
    clock.now = 61
    assert notifier.notify(Alert("alarm", "M99", "x"))
    assert notifier.stats()["rate_limited"] == 7


def test_a_dead_channel_is_counted_and_the_others_still_send(caplog) -> None:
    notifier = _notifier(
        _Clock(), notifiers=["webhook", "log"], webhook_url="http://127.0.0.1:9/nothing"
    )
    notifier.notify(Alert("monitoring", "drift", "drift breach"))
    notifier.flush()
    assert notifier.stats()["failed"] == 1
    assert any("ALERT monitoring drift" in r.getMessage() for r in caplog.records)


def test_channels_need_their_settings() -> None:
    with pytest.raises(ValueError, match="webhook_url"):
        AlertParams(notifiers=["webhook"], dedup_s=1, max_per_minute=1)
    with pytest.raises(ValueError, match="smtp"):
        AlertParams(notifiers=["email"], dedup_s=1, max_per_minute=1)


def test_email_goes_through_an_smtp_relay() -> None:
    """A minimal SMTP relay on localhost receives the alert as an e-mail."""

    import socketserver

    received: list[str] = []

    class Relay(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 localhost\r\n")
            data = False
            lines: list[str] = []
            while line := self.rfile.readline():
                text = line.decode().rstrip("\r\n")
                if data:
                    if text == ".":
                        data = False
                        received.append("\n".join(lines))
                        self.wfile.write(b"250 queued\r\n")
                    else:
                        lines.append(text)
                    continue
                verb = text.split(" ")[0].upper()
                if verb == "DATA":
                    data = True
                    self.wfile.write(b"354 go on\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.TCPServer(("127.0.0.1", 0), Relay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        params = AlertParams(
            notifiers=["email"],
            smtp={
                "host": "127.0.0.1",
                "port": server.server_address[1],
                "recipients": ["ops@example.org"],
            },
            dedup_s=600,
            max_per_minute=3,
        )
        notifier = Notifier(params, clock=_Clock())
        notifier.notify(Alert("alarm", "R02-M07", "thermal hazard alarm on R02-M07"))
        notifier.flush()
    finally:
        server.shutdown()
        server.server_close()
    assert notifier.stats()["failed"] == 0
    assert "Subject: [batteryops] thermal hazard alarm on R02-M07" in received[0]
    assert "ops@example.org" in received[0]
