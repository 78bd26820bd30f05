"""Switching communities in the console's header: staff of several communities see the others in
the switcher, and switching keeps the section (from 图书's overdue list to the other community's
图书); staff of one see no list. Every page under /console/c/ says which community it is, in the
header and in the <title>."""

from __future__ import annotations

import re

from tests.factories import community, grant, login, platform_admin
from tests.test_console_access import community_routes

SWITCH_LIST = re.compile(r'<ul aria-label="切换到其他社区">(.*?)</ul>', re.S)
LINK = re.compile(r'<a href="([^"]+)" data-community="(\d+)">([^<]+)</a>')


def switch_links(html: str) -> list[tuple[str, int, str]]:
    """(href, community id, name) of the header's switcher; [] when it has no list."""
    found = SWITCH_LIST.search(html)
    if found is None:
        return []
    return [(href, int(cid), name) for href, cid, name in LINK.findall(found.group(1))]


def title_of(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None, "no title"
    return found.group(1)


def current(html: str) -> tuple[int, str]:
    """The community the header says the page is about."""
    found = re.search(r'<strong data-community="(\d+)">([^<]+)</strong>', html)
    assert found is not None, "no community in the header"
    return int(found.group(1)), found.group(2)


def menu_entry(html: str) -> str | None:
    menu = re.search(r'<nav aria-label="主菜单">(.*?)</nav>', html, re.S)
    found = re.search(r'aria-current="page">([^<]+)</a>', menu.group(1)) if menu else None
    return found.group(1) if found else None


async def world(client, db):
    root = await platform_admin(client, db)
    north = await community(client, root, "北苑社区")
    south = await community(client, root, "南湖社区")
    both = await login(client, "社工老李")
    await grant(client, root, north["id"], both, "staff")
    await grant(client, root, south["id"], both, "admin")
    single = await login(client, "社工小赵")
    await grant(client, root, north["id"], single, "staff")
    return north["id"], south["id"], both, single


async def test_staff_of_two_communities_switch_and_keep_the_section(client, db, console):
    north, south, both, _single = await world(client, db)
    browser = await console(both)

    page = await browser.get(f"/console/c/{north}/library/overdue")
    assert page.status_code == 200, page.text
    assert current(page.text) == (north, "北苑社区")
    assert "北苑社区" in title_of(page.text)
    assert switch_links(page.text) == [(f"/console/c/{south}/library", south, "南湖社区")]

    landed = await browser.get(f"/console/c/{south}/library")
    assert landed.status_code == 200
    assert current(landed.text) == (south, "南湖社区") and "南湖社区" in title_of(landed.text)
    assert 'aria-current="page">图书</a>' in landed.text
    assert switch_links(landed.text) == [(f"/console/c/{north}/library", north, "北苑社区")]

    # a section whose path differs from its menu key, and a page deep inside one
    books = await browser.get(f"/console/c/{north}/record-books")
    assert switch_links(books.text) == [(f"/console/c/{south}/record-books", south, "南湖社区")]
    review = await browser.get(f"/console/c/{north}/concerns/review")
    assert switch_links(review.text) == [(f"/console/c/{south}/concerns", south, "南湖社区")]


async def test_staff_of_one_community_see_no_switcher_list(client, db, console):
    north, _south, _both, single = await world(client, db)
    browser = await console(single)
    page = await browser.get(f"/console/c/{north}/today")
    assert page.status_code == 200
    assert current(page.text) == (north, "北苑社区")
    assert switch_links(page.text) == [] and "切换到其他社区" not in page.text
    assert '<details class="switch"' not in page.text


async def test_every_page_says_which_community_and_switching_lands_on_its_section(app, client, db, console):
    """Every console page of a community that needs nothing but the community (the tops of the
    menu's sections and their lists): the community's name in the header and the title, and the
    switcher's link to the other community opens that section there."""
    north, south, both, _single = await world(client, db)
    browser = await console(both)
    paths = sorted({path for method, path in community_routes(app) if method == "GET" and path.count("{") == 1})
    checked = 0
    for path in paths:
        page = await browser.get(path.replace("{community_id}", str(north)))
        if page.status_code != 200 or not page.text.lstrip().lower().startswith("<!doctype html"):
            continue  # a fragment, a file, a redirect
        checked += 1
        assert current(page.text) == (north, "北苑社区"), path
        assert title_of(page.text).endswith(" · 北苑社区 · 邻里工作台"), (path, title_of(page.text))
        ((href, cid, name),) = switch_links(page.text)
        assert (cid, name) == (south, "南湖社区"), path
        there = await browser.get(href)
        assert there.status_code == 200, (path, href, there.status_code)
        assert current(there.text) == (south, "南湖社区"), (path, href)
        # the same section: the menu marks the same entry on both pages
        assert menu_entry(there.text) == menu_entry(page.text) is not None, (path, href)
    assert checked >= 15, checked
