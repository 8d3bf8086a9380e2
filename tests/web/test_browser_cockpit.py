"""The manager's cockpit in headless Chromium: the phone shows the red deals and today's actions first,
a manager takes a deal over from the board, drills from a figure to its deals, filters and exports them,
and opens a chat card's link. Screenshots at 1280 and 390 px (tests/screenshots/, git-ignored):
`cockpit-dashboard-*`, `cockpit-deal-*`, `cockpit-deals-*`, `cockpit-after-take-*`."""
from __future__ import annotations

import re

from storage import people
from storage.models import Deal, ManagerAction
from tests.web.test_browser import PHONE, all_css, browser, css, login_as, server, shoot, wait  # noqa: F401


def top_of(driver, selector: str) -> float:
    return driver.execute_script("return document.querySelector(arguments[0]).getBoundingClientRect().top "
                                 "+ window.scrollY", selector)


def test_on_a_phone_the_red_deals_and_todays_actions_come_first(server, browser):
    base, _ = server
    login_as(browser, base, "liyan")
    browser.set_window_size(PHONE, 900)
    try:
        browser.get(base + "/dashboard")
        # the numbers come inline (cached) or are fetched by the page
        wait(browser, lambda d: css(d, "#kpi").get_attribute("data-pending") is None)
        first_row = top_of(browser, "#warnings tbody tr")
        assert first_row < 900  # within the first screen
        assert first_row < top_of(browser, "#kpi") and first_row < top_of(browser, "#funnel")
        assert css(browser, "#warnings tbody tr").get_attribute("data-level") == "red"
        assert "今天到期或已逾期的下一步" in css(browser, "#today").text
        # each value of a row says what it is (labels on the phone)
        row = css(browser, "#warnings tbody tr")
        labels = browser.execute_script(
            "return Array.from(arguments[0].querySelectorAll('td[data-label]')).map("
            "td => getComputedStyle(td, '::before').content)", row)
        assert all(lab not in ("none", "normal", "") for lab in labels) and len(labels) >= 6
        # no horizontal scrolling at 390 px
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE + 1
    finally:
        browser.set_window_size(1280, 900)
    shoot(browser, "cockpit-dashboard")


def test_take_a_deal_over_from_the_board(server, browser):
    base, app = server
    rt = app.extensions["bot"]
    login_as(browser, base, "liyan")
    row = css(browser, '#warnings tbody tr[data-level="red"]')
    deal_id = int(re.search(r"/dashboard/deal/(\d+)", row.find_element("css selector", "a").get_attribute("href")).group(1))
    assert row.find_element("css selector", '[data-label="建议"]').text.strip()
    row.find_element("css selector", 'button[value="take"]').click()
    wait(browser, lambda d: "你已认领" in css(d, "#flash").text)
    with rt.database.connection_context():
        assert Deal.get_by_id(deal_id).intervention_by_id == people.rep_by_local_id("liyan").id
        assert ManagerAction.select().where(ManagerAction.deal == deal_id).count() == 1
    shoot(browser, "cockpit-after-take")
    browser.get(f"{base}/dashboard/deal/{deal_id}")
    box = css(browser, "#next-action").text
    assert "下一步" in box and "建议动作" in box and "介入" in box and "李岩" in box
    shoot(browser, "cockpit-deal")


def test_from_a_figure_to_its_deals_filter_and_export(server, browser):
    base, _ = server
    login_as(browser, base, "liyan")
    red = int(css(browser, '[data-level-count="red"]').text)
    css(browser, 'a[href="/dashboard/deals?level=red"]').click()
    wait(browser, lambda d: "/dashboard/deals" in d.current_url)
    assert int(css(browser, "#deal-count").text) == red
    assert {r.get_attribute("data-level") for r in all_css(browser, "#deals tbody tr")} == {"red"}
    # narrow further: amount from 20万, biggest first
    box = css(browser, 'input[name="min"]')
    box.clear()
    box.send_keys("20万")
    from selenium.webdriver.support.ui import Select
    Select(css(browser, 'select[name="sort"]')).select_by_value("amount")
    css(browser, "#deal-filters button[type=submit]").click()
    wait(browser, lambda d: "min=" in d.current_url)
    amounts = [int(e.get_attribute("data-amount-yuan")) for e in all_css(browser, "#deals [data-amount-yuan]")]
    assert amounts == sorted(amounts, reverse=True) and all(a >= 200000 for a in amounts)
    assert int(css(browser, "#deal-count").text) == len(amounts)
    href = css(browser, "#export").get_attribute("href")
    assert "/dashboard/deals.xlsx?" in href and "min=" in href and "level=red" in href
    shoot(browser, "cockpit-deals")


def test_the_simulator_tour_in_five_steps(server, browser):
    base, app = server
    rt = app.extensions["bot"]
    real_now = rt.clock.now()
    browser.delete_all_cookies()
    browser.get(base + "/simulator")
    for key, expect in (("start", "正常"), ("yellow", "黄色"), ("orange", "橙色"), ("red", "红色"),
                        ("take", "红色"), ("followup", "正常")):
        wait(browser, lambda d: css(d, f'[data-tour="{key}"]').is_enabled())
        css(browser, f'[data-tour="{key}"]').click()
        wait(browser, lambda d: css(d, "#tour").get_attribute("data-step") == key)
        assert expect in css(browser, '[data-tour-number="导览商机"]').text
        if key == "red":
            wait(browser, lambda d: any("导览示范店" in e.text and "需要主管介入" in e.text
                                        for e in all_css(d, "#groups .msg")))
            shoot(browser, "cockpit-tour-red")
        if key == "take":
            assert "1个主管事先介入" in css(browser, '[data-tour-number^="提前干预率"]').text
    wait(browser, lambda d: any("将介入" in e.text for e in all_css(d, "#inbox .msg")))
    assert rt.clock.now() == real_now
    shoot(browser, "cockpit-tour")


def test_each_rep_against_their_own_target_at_1280_and_390_px(server, browser):
    """The reps table shows each rep's wins against their own target (set in chat), and 未设目标 with the
    command when a rep has none: filled in by the page's script, as the server renders it; labelled and
    readable on a phone."""
    from handlers.messages import Incoming
    from bot.render import render_text
    base, app = server
    rt = app.extensions["bot"]
    login_as(browser, base, "liyan")
    handled = rt.handle(Incoming("local", "browser-target-1", "liyan", text="目标 张敏 30万"))
    assert "已设置 张敏 的个人目标" in render_text(handled.replies[0])
    with rt.database.connection_context():
        zhang, wang = people.rep_by_local_id("rep2").id, people.rep_by_local_id("rep1").id
    browser.get(base + "/dashboard")  # a target changed since: the numbers are fetched by the page's script
    wait(browser, lambda d: css(d, "#kpi").get_attribute("data-ready") == "1")

    def cell(rid: int):
        return css(browser, f'tr[data-rep="{rid}"] td[data-field="target"]')
    shown = {rid: cell(rid).text for rid in (zhang, wang)}
    assert re.match(r"^\d+% 2026-Q4 目标 30万，已赢单 \S+$", shown[zhang].replace("\n", " ")), shown[zhang]
    assert shown[wang].replace("\n", " ") == "未设目标 主管发「目标 王磊 2026-Q4 50万」设置"
    assert "unset" in cell(wang).get_attribute("class") and "unset" not in cell(zhang).get_attribute("class")
    assert css(browser, "#reps thead").text.endswith("个人目标达成")
    shoot(browser, "cockpit-rep-targets")
    # the page rendered with the numbers says the same
    browser.get(base + "/dashboard?wait=1")
    assert {rid: cell(rid).text for rid in (zhang, wang)} == shown
    browser.set_window_size(PHONE, 900)
    try:
        browser.get(base + "/dashboard")
        wait(browser, lambda d: css(d, "#kpi").get_attribute("data-ready") == "1"
             or css(d, "#kpi").get_attribute("data-pending") is None)
        td = cell(wang)
        browser.execute_script("arguments[0].scrollIntoView()", td)
        label = browser.execute_script("return getComputedStyle(arguments[0], '::before').content", td)
        assert "个人目标达成" in label
        box = browser.execute_script("var r = arguments[0].getBoundingClientRect(); return [r.left, r.right];", td)
        assert 0 <= box[0] and box[1] <= PHONE  # the whole cell, command included, within the screen
        assert "目标 王磊 2026-Q4 50万" in td.text
        assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE + 1
    finally:
        browser.set_window_size(1280, 900)
