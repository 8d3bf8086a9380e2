"""End to end in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): log in, read
the funnel, open a deal, send a simulator message and press a card button. Screenshots of the main
pages, desktop (1280 wide) and phone (390 wide), go to tests/screenshots/ for a reviewer.

Without chromium this module is skipped locally, and fails in CI (CI=true), where .ci/run installs it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from storage import deals as deals_q
from storage import people
from tests.web.conftest import make_app

CHROMIUM = os.environ.get("BOT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("BOT_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
WAIT = 20  # seconds a step may take before the test fails (a bound, never asserted on)
DESKTOP, PHONE = 1280, 390


def _browser_missing() -> str | None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (requirements.txt)")
    if not missing:
        return None
    return (f"browser tests need {', '.join(missing)}: Debian packages chromium and chromium-driver "
            f"(.ci/run installs them when /usr/bin/chromium is missing)")


@pytest.fixture(scope="module")
def server():
    why = _browser_missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    from werkzeug.serving import make_server
    tmp = tempfile.mkdtemp(prefix="bot-browser-")
    app = make_app(f"sqlite:///{tmp}/bot.db")
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", app
    srv.shutdown()
    srv.server_close()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    profile = tempfile.mkdtemp(prefix="bot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--lang=zh-CN", f"--window-size={DESKTOP},900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait(driver, condition, timeout: float = WAIT):
    """Wait for `condition`; on a timeout keep a screenshot and say what the page showed."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "failed-wait.png"))
        shown = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
        raise AssertionError(f"timed out at {driver.current_url}; the page showed:\n{shown[:3000]}") from None


def css(driver, selector: str):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, selector)


def all_css(driver, selector: str):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def texts(driver, selector: str) -> list[str]:
    """The text of every match, read in one go (the simulator re-renders its panes while we look)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.innerText)", selector)


def shoot(driver, name: str) -> None:
    """Full-page screenshots at desktop and phone width (the page is laid out again at each)."""
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    for label, width in (("desktop", DESKTOP), ("phone", PHONE)):
        driver.set_window_size(width, 900)
        height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
        driver.set_window_size(width, min(max(height + 40, 700), 9000))
        path = SHOTS / f"{name}-{label}.png"
        driver.save_screenshot(str(path))
        assert path.stat().st_size > 10_000
    driver.set_window_size(DESKTOP, 900)


def press_card_button(driver, card_text: str, label_end: str) -> str:
    """Click the first button ending in `label_end` on the newest pushed card containing `card_text`;
    returns the customer the button is about (labels read "客户:已跟进")."""
    from selenium.common.exceptions import StaleElementReferenceException
    for _ in range(5):  # the pane may be re-rendered between finding and clicking
        try:
            card = [el for el in all_css(driver, "#inbox .msg") if card_text in el.text][-1]
            button = next(b for b in card.find_elements("css selector", ".card-buttons button")
                          if b.text.endswith(label_end))
            customer = button.text.split(":")[0]
            button.click()
            return customer
        except StaleElementReferenceException:
            continue
    raise AssertionError(f"no stable card with {card_text!r}")


def login_as(driver, base: str, local_id: str) -> None:
    driver.delete_all_cookies()
    driver.get(base + "/login")
    css(driver, f'button[data-user="{local_id}"]').click()
    wait(driver, lambda d: d.current_url.startswith(base + "/dashboard"))


def test_log_in_and_read_the_funnel(server, browser):
    base, app = server
    rt = app.extensions["bot"]
    browser.delete_all_cookies()
    browser.get(base + "/dashboard")
    assert "/login" in browser.current_url  # not logged in: the login page
    shoot(browser, "login")
    login_as(browser, base, "liyan")
    with rt.database.connection_context():
        totals = deals_q.funnel_totals(people.rep_by_local_id("liyan").team_id)
    shown = {el.get_attribute("data-count"): int(el.text) for el in all_css(browser, "[data-count]")}
    assert shown == {s.key: totals.get(s.key, (0, 0))[0] for s in rt.funnel.open_stages}
    assert int(css(browser, "#funnel-total").text) == sum(n for n, _ in totals.values())
    # the manager numbers arrive (fetched by the page) and fill the conversion column
    wait(browser, lambda d: css(d, "#kpi").get_attribute("data-ready") == "1")
    assert "跟进间隔" in css(browser, "#kpi-metrics").text
    assert all(el.text.strip() not in ("", "…") for el in all_css(browser, "[data-conv]"))
    # warning levels carry a word and an icon, not only a colour
    badges = [el.text for el in all_css(browser, "#warnings .badge")]
    assert badges and all(b in ("🔴 红色", "🟠 橙色", "🟡 黄色") for b in badges)
    # keyboard: the first Tab reaches the skip link, the filters are real form controls with labels
    from selenium.webdriver.common.keys import Keys
    css(browser, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "跳到正文"
    assert css(browser, "select[name=period]").find_element("xpath", "..").tag_name == "label"
    shoot(browser, "dashboard")


def test_open_a_deal(server, browser):
    base, _ = server
    login_as(browser, base, "liyan")
    link = css(browser, "#warnings tbody tr a")
    customer = link.text
    link.click()
    wait(browser, lambda d: "/dashboard/deal/" in d.current_url)
    assert customer in css(browser, "#deal-title").text
    assert any(w in css(browser, "#deal-title").text for w in ("红色", "橙色", "黄色"))
    assert len(all_css(browser, "#timeline li")) >= 2
    assert len(all_css(browser, "#score tbody tr")) == 5
    shoot(browser, "deal")
    browser.get(base + "/dashboard/warnings")
    shoot(browser, "warnings")


def test_a_rep_sees_only_their_own_deals(server, browser):
    base, _ = server
    login_as(browser, base, "rep1")
    owners = {row.get_attribute("data-owner") for row in all_css(browser, "#warnings tbody tr")}
    assert owners == {"王磊"}
    assert [r.get_attribute("data-rep") for r in all_css(browser, "#reps tbody tr")] != []
    assert len(all_css(browser, "#reps tbody tr")) == 1
    shoot(browser, "dashboard-rep")


def test_simulator_message_and_card_button(server, browser):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
    base, app = server
    rt = app.extensions["bot"]
    real_now = rt.clock.now()
    browser.delete_all_cookies()
    browser.get(base + "/simulator")
    Select(css(browser, "#sim-user")).select_by_value("rep1")
    box = css(browser, "#say-text")
    box.send_keys("今日任务", Keys.ENTER)  # the keyboard alone sends it
    wait(browser, lambda d: any("今日任务" in t for t in texts(d, "#chat-log .msg.bot")))
    # move the simulated now to Monday 09:00: the task card arrives, with buttons
    css(browser, "#next-card").click()
    wait(browser, lambda d: "2026-11-30" in "".join(texts(d, "#sim-now")) and "任务卡" in "".join(texts(d, "#sim-status")))
    wait(browser, lambda d: any("11月30日 今日任务" in t for t in texts(d, "#inbox .msg")))
    customer = press_card_button(browser, "11月30日 今日任务", "已跟进")
    wait(browser, lambda d: any("已记录" in t and customer in t for t in texts(d, "#chat-log .msg.bot")))
    # the manager group's feed shows the red cards
    wait(browser, lambda d: any("红色" in t for t in texts(d, "#groups .msg")))
    assert rt.clock.now() == real_now  # the shared clock was only borrowed
    shoot(browser, "simulator")


def test_an_action_link_opened_in_the_browser_presses_once(server, browser):
    """A DingTalk button opens a link: the browser's GET gets a page that posts itself, so the rep's one
    tap acts, while a fetch without scripts (a preview, a scanner) presses nothing."""
    from bot.links import action_links
    from handlers.messages import Button, Reply
    from handlers.views import deal_silence, period_of
    from storage.models import Activity, Deal
    base, app = server
    rt = app.extensions["bot"]
    with rt.database.connection_context():
        rep = people.rep_by_local_id("rep1")
        deal = (Deal.select().where((Deal.owner == rep.id) & (Deal.status == "open"))
                .order_by(Deal.id.desc()).first())
        period = period_of(deal_silence(rt.context_for(rep), deal).since)
        before = Activity.select().where(Activity.deal == deal.id).count()
    ((_, url),) = action_links(Reply("task_card", {}, [Button("已跟进", f"followup:{deal.id}:{period}")]), "rep1", rt)
    url = base + url[url.index("/a/"):]
    browser.get(url)
    wait(browser, lambda d: "已完成" in css(d, "h1").text)
    assert "已记录跟进" in css(browser, "main").text
    browser.get(url)  # opened again: it says it was done, and does nothing
    wait(browser, lambda d: "已处理过" in css(d, "h1").text)
    with rt.database.connection_context():
        assert Activity.select().where(Activity.deal == deal.id).count() == before + 1
