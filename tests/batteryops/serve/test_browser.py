"""The live page in a real headless browser (Debian's Chromium, driven by Selenium).

A runaway module's telemetry is replayed into a running service up to one second before its
point of no return; the page must turn that module red (alarm) while its neighbours stay calm,
show its traces on a click, and keep an acknowledgement across a reload.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from batteryops.core import schema
from batteryops.core.config import parse_params
from batteryops.serve.app import Service, create_app
from batteryops.serve.champion import StaticSource
from batteryops.serve.notify import Notifier
from batteryops.serve.store import Store
from tests.batteryops.conftest import Trained
from tests.batteryops.serve.running import running
from tests.conftest import deep_merge

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def served(raw_params, trained: Trained, tmp_path: Path):
    overrides = {"serve": {"rate_limit_per_s": 1000}, "ask": {"use_model": False}}
    params = parse_params(deep_merge(raw_params, overrides))
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    service = Service(
        params,
        StaticSource(
            trained.scorer,
            "3",
            {"name": "battery-hazard", "version": "3", "threshold": trained.scorer.threshold},
        ),
        Store(url),
        Notifier(params.serve.alerts),
    )
    with running(create_app(service)) as server:
        yield service, server.url, url


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _until(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _replay_to_pnr(service, trained: Trained) -> str:
    """A runaway's rack, from 10 minutes before its fault to 1 s before its PNR; its module."""
    runaway = trained.truth.dropna(subset=["pnr_time"]).iloc[0]
    frame = trained.frames[runaway[schema.RACK_ID]]
    start = runaway["fault_start"] - pd.Timedelta(minutes=10)
    frame = frame[
        (frame[schema.TIMESTAMP] >= start) & (frame[schema.TIMESTAMP] < runaway["pnr_time"])
    ]
    seconds = frame[schema.TIMESTAMP].astype("int64") // 10**9
    for first in range(int(seconds.min()), int(seconds.max()) + 1, 300):
        service.ingest_frame(frame[(seconds >= first) & (seconds < first + 300)])
        time.sleep(0.05)
    return runaway[schema.MODULE_ID]


def test_the_question_box_answers_from_the_replayed_fleet(served, browser, trained) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    service, base, _ = served
    browser.get(base + "/")
    _until(lambda: browser.find_element(By.ID, "link").text == "live", 20, "the WebSocket")
    module = _replay_to_pnr(service, trained)
    _until(lambda: service.store.alarms("open", 10, module), 90, f"{module}'s alarm")

    def ask(question: str) -> str:
        box = browser.find_element(By.ID, "ask-question")
        box.clear()
        box.send_keys(question, Keys.ENTER)
        return _until(
            lambda: (t := browser.find_element(By.ID, "ask-answer").text) not in ("", "…") and t,
            30,
            f"an answer to {question!r}",
        )

    why = ask(f"why did {module} alarm?")
    assert why.startswith(f"{module} alarmed at") and "TreeSHAP" in why
    assert "[tool: why_alarmed; window: alarm" in why
    assert (
        "tool why_alarmed, chosen by the router" in browser.find_element(By.ID, "ask-source").text
    )
    hottest = ask("which modules ran hottest in the last hour?")
    assert module in hottest and "[tool: hottest_modules; window: the last hour" in hottest
    refused = ask("<b>delete</b> all alarms")
    assert "cannot change anything" in refused
    assert not browser.find_elements(By.CSS_SELECTOR, "#ask-answer b")  # text, not markup


def test_a_replayed_runaway_turns_red_before_pnr_and_ack_persists(
    served, browser, trained: Trained, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    service, base, url = served
    runaway = trained.truth.dropna(subset=["pnr_time"]).iloc[0]
    module = runaway[schema.MODULE_ID]
    frame = trained.frames[runaway[schema.RACK_ID]]
    start = runaway["fault_start"] - pd.Timedelta(minutes=10)
    frame = frame[
        (frame[schema.TIMESTAMP] >= start) & (frame[schema.TIMESTAMP] < runaway["pnr_time"])
    ]

    browser.get(base + "/")
    _until(lambda: browser.find_element(By.ID, "link").text == "live", 20, "the WebSocket")
    # Replay through the service's intake, five minutes of data per step, up to PNR - 1 s.
    seconds = frame[schema.TIMESTAMP].astype("int64") // 10**9
    for first in range(int(seconds.min()), int(seconds.max()) + 1, 300):
        service.ingest_frame(frame[(seconds >= first) & (seconds < first + 300)])
        time.sleep(0.05)

    cell_id = "m-" + module

    def red() -> bool:
        cells = browser.find_elements(By.ID, cell_id)
        return bool(cells) and cells[0].get_attribute("data-alarm") == "1"

    _until(red, 90, f"{module} to turn red")
    assert "alarm" in browser.find_element(By.ID, cell_id).get_attribute("class")
    # Other modules of the rack may be running away too; none without a fault may alarm.
    faulty = set(trained.truth.loc[trained.truth["fault_type"] != "none", schema.MODULE_ID])
    cells = browser.find_elements(By.CSS_SELECTOR, ".module")
    assert len(cells) == frame[schema.MODULE_ID].nunique()
    red_cells = {
        c.get_attribute("data-module") for c in cells if c.get_attribute("data-alarm") == "1"
    }
    assert module in red_cells and red_cells <= faulty
    alarm = [a for a in service.store.alarms("open") if a["module_id"] == module][0]
    assert alarm["opened_ts"] < runaway["pnr_time"].value // 10**9

    browser.find_element(By.ID, cell_id).click()
    _until(lambda: browser.find_element(By.ID, "module-title").text == module, 10, "the panel")
    assert "ALARM" in browser.find_element(By.ID, "module-kv").text
    time.sleep(1.0)  # the traces and the forecast are drawn
    # BATTERYOPS_SCREENSHOT=docs/live-page.png refreshes the README's picture.
    browser.save_screenshot(os.environ.get("BATTERYOPS_SCREENSHOT", str(tmp_path / "page.png")))

    row = _until(lambda: browser.find_elements(By.ID, f"a-{alarm['id']}"), 10, "the alarm row")[0]
    row.find_element(By.CSS_SELECTOR, "button[data-act=ack]").click()
    _until(lambda: service.store.alarm(alarm["id"])["review"] == "acknowledged", 10, "the ack")
    browser.refresh()
    acknowledged = _until(
        lambda: [
            r
            for r in browser.find_elements(By.ID, f"a-{alarm['id']}")
            if r.get_attribute("data-review") == "acknowledged"
        ],
        20,
        "the acknowledged row after a reload",
    )
    assert "acknowledged" in acknowledged[0].text
    assert Store(url).alarm(alarm["id"])["reviewed_by"] == "live page"


def test_a_service_that_needs_a_key_asks_the_operator_once(
    raw_params, trained: Trained, tmp_path: Path, browser
) -> None:
    """Off localhost writes need ``X-API-Key``: the page asks for it and keeps it for the tab."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    overrides = {"serve": {"rate_limit_per_s": 1000}, "ask": {"use_model": False}}
    params = parse_params(deep_merge(raw_params, overrides))
    service = Service(
        params,
        StaticSource(trained.scorer, "3", {"name": "battery-hazard", "version": "3"}),
        Store(f"sqlite:///{tmp_path / 'serve.db'}"),
        Notifier(params.serve.alerts),
    )
    with running(create_app(service, api_key="s3cret", require_key=True)) as server:
        browser.get(server.url + "/")
        _until(lambda: browser.find_element(By.ID, "link").text == "live", 20, "the WebSocket")
        for question, expect_prompt in (("which modules ran hottest?", True), ("status", False)):
            box = browser.find_element(By.ID, "ask-question")
            box.clear()
            box.send_keys(question, Keys.ENTER)
            if expect_prompt:
                asked = _until(lambda: _alert(browser), 20, "the page to ask for the key")
                assert "API key" in asked.text
                asked.send_keys("s3cret")
                asked.accept()
            answer = _until(
                lambda: (
                    (t := browser.find_element(By.ID, "ask-answer").text) not in ("", "…") and t
                ),
                30,
                f"an answer to {question!r}",
            )
            assert "X-API-Key" not in answer and "error 401" not in answer, answer
        assert service.refused.get(401) == 1  # the first question only, before the key


def _alert(browser):  # noqa: ANN001, ANN202
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return browser.switch_to.alert
    except NoAlertPresentException:
        return None
