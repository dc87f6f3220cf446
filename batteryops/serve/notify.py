"""Alerts on new alarms and monitoring breaches: log, webhook or e-mail; de-duplicated, limited.

One :class:`Notifier` fans an :class:`Alert` out to the channels named in
``serve.alerts.notifiers``. The same alert (kind and key, e.g. ``alarm`` and a module id) goes out
at most once per ``dedup_s``, and no more than ``max_per_minute`` alerts go out in any minute;
what is held back is counted, never queued for later (a flood of stale alerts helps no one).
Sending happens on a background thread so a slow webhook or SMTP relay never delays scoring.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import time
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any

from batteryops.core.config import AlertParams

log = logging.getLogger("batteryops.serve.alerts")


@dataclass
class Alert:
    """One thing an operator must hear about."""

    kind: str  # alarm | monitoring
    key: str  # what de-duplicates it: a module id, a breached metric
    title: str
    detail: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class Notifier:
    """Sends alerts to the configured channels with de-duplication and a global rate limit."""

    def __init__(self, params: AlertParams, clock: Any = time.monotonic):
        self.params = params
        self._clock = clock
        self._last_sent: dict[tuple[str, str], float] = {}
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alerts")
        self.sent = 0
        self.deduplicated = 0
        self.rate_limited = 0
        self.failed = 0

    def notify(self, alert: Alert) -> bool:
        """Send ``alert`` unless it repeats a recent one or the minute's budget is spent."""
        now = self._clock()
        with self._lock:
            last = self._last_sent.get((alert.kind, alert.key))
            if last is not None and now - last < self.params.dedup_s:
                self.deduplicated += 1
                return False
            while self._window and now - self._window[0] >= 60.0:
                self._window.popleft()
            if len(self._window) >= self.params.max_per_minute:
                self.rate_limited += 1
                return False
            self._window.append(now)
            self._last_sent[(alert.kind, alert.key)] = now
            self.sent += 1
        self._pool.submit(self._send, alert)
        return True

    def _send(self, alert: Alert) -> None:
        for channel in self.params.notifiers:
            try:
                getattr(self, f"_{channel}")(alert)
            except Exception as error:  # noqa: BLE001 - a failed channel must not stop the others
                self.failed += 1
                log.error("alert via %s failed: %s", channel, error)

    def _log(self, alert: Alert) -> None:
        log.warning("ALERT %s %s: %s %s", alert.kind, alert.key, alert.title, alert.detail)

    def _webhook(self, alert: Alert) -> None:
        body = json.dumps(asdict(alert), default=str).encode()
        request = urllib.request.Request(
            str(self.params.webhook_url),
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - URL from params
            response.read()

    def _email(self, alert: Alert) -> None:
        smtp = self.params.smtp
        message = EmailMessage()
        message["Subject"] = f"[batteryops] {alert.title}"
        message["From"] = smtp.sender
        message["To"] = ", ".join(smtp.recipients)
        message.set_content(json.dumps(asdict(alert), indent=2, default=str))
        with smtplib.SMTP(str(smtp.host), smtp.port, timeout=10) as client:
            if smtp.starttls:
                client.starttls()
            client.send_message(message)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every accepted alert has been handed to its channels."""
        self._pool.submit(lambda: None).result(timeout=timeout_s)

    def stats(self) -> dict[str, int]:
        """Counts of sent, de-duplicated, rate-limited and failed alerts."""
        return {
            "sent": self.sent,
            "deduplicated": self.deduplicated,
            "rate_limited": self.rate_limited,
            "failed": self.failed,
        }

    def close(self) -> None:
        """Finish sending and stop the sender thread."""
        self._pool.shutdown(wait=True)
