"""The document formats (api/documents): workbooks, CSV files and PDFs, read back the way a
spreadsheet program or a PDF reader would (openpyxl, the csv module, pypdf)."""

from __future__ import annotations

import csv
import io
import tracemalloc
import zipfile
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import openpyxl
import pytest
import segno
from pypdf import PdfReader

from api.documents import csvfile, pdf, xlsx
from api.documents.cells import display_width

SHANGHAI = timezone(timedelta(hours=8))


def load(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


# -- XLSX ----------------------------------------------------------------------------------------


def test_a_workbook_has_bold_frozen_headers_numbers_as_numbers_and_dates_as_dates():
    rows = [
        [1, "张明", 2.5, Decimal("1.25"), date(2026, 9, 1), datetime(2026, 9, 1, 9, 30, tzinfo=SHANGHAI), None, True],
        [2, "Li Lei", 3, Decimal("10"), date(2026, 9, 2), datetime(2026, 9, 2, 14, 0), "", False],
    ]
    headers = ["编号", "姓名", "时长", "金额", "日期", "签到时间", "备注", "是否志愿者"]
    book = load(xlsx.workbook([xlsx.Sheet("记录", headers, rows)]))
    (sheet,) = book.worksheets
    assert sheet.title == "记录" and sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == headers and all(c.font.b for c in sheet[1])
    assert not any(c.font.b for c in sheet[2])
    first = [c.value for c in sheet[2]]
    assert first[:4] == [1, "张明", 2.5, 1.25] and all(c.data_type == "n" for c in sheet[2][:4] if c.column != 2)
    assert first[4] == datetime(2026, 9, 1) and sheet["E2"].number_format == "yyyy-mm-dd"
    assert first[5] == datetime(2026, 9, 1, 9, 30)  # the wall time in its offset: Excel has no zones
    assert sheet["F2"].number_format == "yyyy-mm-dd hh:mm"
    assert first[6] is None and (first[7], sheet["H3"].value) == ("是", "否")
    assert sheet["C3"].value == 3 and isinstance(sheet["C3"].value, int)


def test_column_widths_are_estimated_from_the_content_with_chinese_counting_two_or_given():
    headers = ["编号", "书名", "ISBN"]
    rows = [[1, "好饿的毛毛虫（纸板书）", "9787533259563"], [22, "犟龟", "9787533259564"]]
    sheet = load(xlsx.workbook([xlsx.Sheet("书目", headers, rows)])).active
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABC"}
    assert widths["A"] == 6  # at least six
    assert widths["B"] == display_width("好饿的毛毛虫（纸板书）") + 2 == 24  # eleven wide characters
    assert widths["C"] == 15
    given = load(xlsx.workbook([xlsx.Sheet("书目", headers, rows, widths=[8, 40, 20.5])])).active
    assert [given.column_dimensions[letter].width for letter in "ABC"] == [8, 40, 20.5]
    long = load(xlsx.workbook([xlsx.Sheet("长", ["简介"], [["很长的简介" * 50]])])).active
    assert long.column_dimensions["A"].width == 60  # capped


def test_sheet_names_follow_excels_rules_and_stay_unique():
    names = [
        "2026/09 指标:汇总[一]*?",
        "A" * 40,
        "a" * 40,  # the same as the one before, to Excel
        "'引号'",
        "",
        "History",
        "记录",
        "记录",
    ]
    book = load(xlsx.workbook([xlsx.Sheet(name, ["x"], [[1]]) for name in names]))
    titles = book.sheetnames
    assert titles[0] == "2026_09 指标_汇总_一___"
    assert titles[1] == "A" * 31 and titles[2] == "a" * 28 + "(2)"
    assert titles[3] == "引号" and titles[4] == "Sheet" and titles[5] == "History_"
    assert titles[6:] == ["记录", "记录(2)"]
    assert all(len(t) <= 31 and not set(t) & set("[]:*?/\\") for t in titles)
    assert len({t.casefold() for t in titles}) == len(titles)
    assert load(xlsx.workbook([])).sheetnames == ["Sheet"]  # a workbook has at least one sheet


def test_text_that_looks_like_a_formula_stays_text():
    rows = [['=HYPERLINK("http://x","点我")'], ["+8613800000000"], ["-5"], ["@SUM(A1)"], ["#N/A"], [-5], ["a\x01b"]]
    sheet = load(xlsx.workbook([xlsx.Sheet("s", ["值"], rows)])).active
    cells = [sheet.cell(row, 1) for row in range(2, 9)]
    assert [c.value for c in cells[:5]] == ['=HYPERLINK("http://x","点我")', "+8613800000000", "-5", "@SUM(A1)", "#N/A"]
    assert all(c.data_type == "s" and c.quotePrefix for c in cells[:5])  # the apostrophe Excel's users type
    assert (cells[5].value, cells[5].data_type, cells[5].quotePrefix) == (-5, "n", False)  # a number is a number
    assert cells[6].value == "ab"  # no control characters in the XML
    with zipfile.ZipFile(io.BytesIO(xlsx.workbook([xlsx.Sheet("s", ["值"], rows)]))) as book:
        assert b"<f>" not in book.read("xl/worksheets/sheet1.xml")  # no formula anywhere


def test_twenty_thousand_rows_stream_and_read_back():
    count = 20_001

    def rows():  # a generator: the rows are never all in a list
        for i in range(count):
            yield [i, f"居民{i}", i / 4, "3栋2单元"]

    data = xlsx.workbook([xlsx.Sheet("名单", ["编号", "姓名", "时长", "户"], rows())])
    table = xlsx.read_rows(data)
    assert len(table) == count + 1 and table[0] == ["编号", "姓名", "时长", "户"]
    assert table[-1] == [str(count - 1), f"居民{count - 1}", "5000", "3栋2单元"]
    assert table[3] == ["2", "居民2", "0.5", "3栋2单元"]


def test_writing_keeps_memory_low_whatever_the_number_of_rows():
    def rows(n: int):
        for i in range(n):
            yield [i, f"第{i}行的居民姓名", 1.5, "3栋2单元501", "备注" * 5]

    tracemalloc.start()
    try:
        xlsx.workbook([xlsx.Sheet("a", ["a", "b", "c", "d", "e"], rows(4000))])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * 1024 * 1024  # the same rows as cells in memory (openpyxl's normal mode) take 6.5 MB


def _saved(fill) -> bytes:
    """A workbook as a spreadsheet program saves one (shared strings, styles), filled by `fill`."""
    book = openpyxl.Workbook()
    fill(book.active)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_read_rows_gives_text_keeps_blank_rows_and_names_formula_errors():
    def fill(sheet):
        sheet["A1"], sheet["B1"], sheet["C1"] = "书名", "ISBN", "出版日期"
        sheet["A2"], sheet["B2"], sheet["C2"] = "犟龟", 9787533259563.0, date(2019, 5, 1)
        sheet["A5"], sheet["B5"] = "小王子", 3.25
        sheet["Z5"] = "far right"

    table = xlsx.read_rows(_saved(fill), max_columns=10)
    assert table == [["书名", "ISBN", "出版日期"], ["犟龟", "9787533259563", "2019-05-01"], [], [], ["小王子", "3.25"]]

    def broken(sheet):
        sheet["A1"], sheet["A2"], sheet["B3"] = "书名", "好书", "#N/A"  # openpyxl writes an error value

    with pytest.raises(xlsx.FormulaError) as error:
        xlsx.read_rows(_saved(broken))
    assert (error.value.row, error.value.column, error.value.value) == (3, "B", "#N/A")


def test_read_rows_refuses_what_it_cannot_read_safely():
    with pytest.raises(xlsx.Unreadable):
        xlsx.read_rows(b"PK\x03\x04 not really")
    with pytest.raises(xlsx.Unreadable):
        xlsx.read_rows(csvfile.csv_bytes(["a"], [[1]]))
    good = xlsx.workbook([xlsx.Sheet("s", ["书名"], [[f"书{i}"] for i in range(50)])])
    with pytest.raises(xlsx.TooLarge) as too_large:
        xlsx.read_rows(good, max_unzipped=1000)
    assert too_large.value.limit == 1000
    with pytest.raises(xlsx.TooManyRows):
        xlsx.read_rows(good, max_rows=50)
    assert len(xlsx.read_rows(good, max_rows=51)) == 51

    def with_sheet(edit) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w") as target:
            for item in source.infolist():
                part = source.read(item.filename)
                target.writestr(item, edit(part) if item.filename == "xl/worksheets/sheet1.xml" else part)
        return out.getvalue()

    entity = with_sheet(lambda part: b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + part)
    with pytest.raises(xlsx.Unreadable, match="DTD"):
        xlsx.read_rows(entity)
    wide = with_sheet(lambda part: part.replace(b'r="A2"', b'r="ZZZZZZZ2"'))
    with pytest.raises(xlsx.Unreadable):
        xlsx.read_rows(wide)
    far = with_sheet(lambda part: part.replace(b'<row r="3"', b'<row r="1000000"'))
    with pytest.raises(xlsx.TooManyRows):  # at once, without making up the 999,997 empty rows before it
        xlsx.read_rows(far)
    out_of_order = with_sheet(lambda part: part.replace(b'<row r="4"', b'<row r="2"'))
    with pytest.raises(xlsx.Unreadable):
        xlsx.read_rows(out_of_order)


# -- CSV -----------------------------------------------------------------------------------------


def test_a_csv_opens_in_excel_in_china_numbers_bare_formulas_guarded():
    data = csvfile.csv_bytes(
        ["编号", "姓名", "时长", "日期", "时间", "备注"],
        [
            [1, "张明", 2.5, date(2026, 9, 1), datetime(2026, 9, 1, 9, 30, tzinfo=SHANGHAI), None],
            [2, "=1+2", 2.0, date(2026, 9, 2), datetime(2026, 9, 2, 14, 5, 30, tzinfo=UTC), '说,"引号"'],
            [-3, "+86 138", Decimal("0.75"), None, time(9, 0), "@user"],
            [4, "-5", 1, "", "", "\tTAB"],
        ],
    )
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    text = data.decode("utf-8")
    lines = text.removeprefix("\ufeff").split("\r\n")
    assert lines[0] == "编号,姓名,时长,日期,时间,备注" and lines[-1] == ""
    assert lines[1] == "1,张明,2.5,2026-09-01,2026-09-01 09:30,"  # numbers unquoted
    assert lines[2] == '2,\'=1+2,2,2026-09-02,2026-09-02 14:05:30,"说,""引号"""'
    assert lines[3] == "-3,'+86 138,0.75,,09:00,'@user"  # a negative number is a number, not text
    assert lines[4] == "4,'-5,1,,,'\tTAB"
    back = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert back[2][5] == '说,"引号"' and len(back) == 5


# -- PDF -----------------------------------------------------------------------------------------


def _signin(attendees: int, blank: int = 10) -> pdf.SigninSheet:
    rows = [
        pdf.SigninRow(
            name=f"居民{i}",
            household=f"3栋2单元{i:02d}",
            phone=f"138****{i:04d}",
            checked_in=f"09:{i % 60:02d}" if i % 3 else "",
            note="<b>轮椅</b>" if i == 2 else "",
        )
        for i in range(1, attendees + 1)
    ]
    return pdf.SigninSheet(
        community="B社区",
        title="亲子阅读会",
        when="2026-09-12 09:30–11:00",
        place="复合空间二楼",
        project="书香邻里项目",
        service_type="社区活动",
        rows=rows,
        blank_rows=blank,
        organiser="王社工",
    )


def test_a_sign_in_sheet_lists_the_attendees_then_numbered_blank_rows_with_the_header_on_every_page():
    data = pdf.signin_sheet(_signin(45))
    texts = pages(data)
    assert len(texts) >= 2
    first = texts[0]
    for expected in (
        "亲子阅读会 签到表",
        "B社区",
        "2026-09-12 09:30–11:00",
        "复合空间二楼",
        "书香邻里项目",
        "社区活动",
    ):
        assert expected in first, expected
    for page_number, text in enumerate(texts, start=1):
        for column in pdf.SIGNIN_COLUMNS:  # the header row repeated on every page
            assert column in text, (page_number, column)
        assert f"第 {page_number} / {len(texts)} 页" in text and "制表：王社工" in text
    everything = "\n".join(texts)
    assert all(f"居民{i}" in everything and f"138****{i:04d}" in everything for i in range(1, 46))
    assert "<b>轮椅</b>" in everything  # the note as typed, not as markup
    lines = everything.split("\n")
    assert all(str(n) in lines for n in range(46, 56))  # the ten blank rows, numbered on
    assert "56" not in lines
    assert "已签到 30 人（名单共 45 人）" in texts[-1]


def test_a_short_sign_in_sheet_is_one_page_and_says_who_made_it():
    (text,) = pages(pdf.signin_sheet(_signin(0, blank=3)))
    assert "已签到 0 人" in text and "第 1 / 1 页" in text
    assert [n for n in ("1", "2", "3", "4") if n in text.split("\n")] == ["1", "2", "3"]
    unsigned = pdf.SigninSheet("B社区", "议事会", "周五", "会议室", None, None, [], blank_rows=1)
    (text,) = pages(pdf.signin_sheet(unsigned))
    assert "所属项目：无" in text and "服务类型：未标注" in text and "制表：" in text


def test_an_activity_summary_has_its_sections_paragraphs_and_figures():
    doc = pdf.SummaryDoc(
        title="亲子阅读会",
        when="2026-09-12 09:30–11:00",
        place="复合空间二楼",
        project="书香邻里项目",
        sections=[
            ("背景", "社区里双职工家庭多。\n孩子放学后缺少去处。"),
            ("目标", "每月两次共读 <script>alert(1)</script> & 讨论"),
            ("过程", ""),
            ("参与情况", "到场 28 人。"),
            ("成效", "家长反馈好。" * 300),  # long enough to run onto another page
            ("反思", "下次提前招募志愿者。"),
        ],
        figures=[("报名", "32"), ("签到", "28"), ("签到率", "87.5%")],
    )
    data = pdf.activity_summary(doc)
    texts = pages(data)
    assert len(texts) >= 2 and f"第 {len(texts)} / {len(texts)} 页" in texts[-1]
    everything = "\n".join(texts)
    for expected in ("活动总结", "亲子阅读会", "复合空间二楼", "书香邻里项目", "一、背景", "六、反思", "报名", "87.5%"):
        assert expected in everything, expected
    assert "社区里双职工家庭多。" in everything and "孩子放学后缺少去处。" in everything
    assert "<script>alert(1)</script> & 讨论" in everything  # escaped, not markup
    assert "三、过程\n（未填写）" in everything
    assert data == pdf.activity_summary(doc)  # the same content, the same bytes


def test_the_certificate_states_the_hours_and_carries_its_link_as_a_qr_code():
    link = "https://linli.example.org/api/v1/certificates/ABCDEFGHJKLM"
    data = pdf.certificate(
        name="张明",
        hours="12.5",
        period_from=date(2026, 1, 1),
        period_to=date(2026, 9, 30),
        services=["开馆值班", "图书整理"],
        organiser="B社区",
        number="ABCDEFGHJKLM",
        check_url=link,
        issued_on=date(2026, 10, 1),
    )
    (page,) = PdfReader(io.BytesIO(data)).pages
    text = page.extract_text()
    for expected in (
        "志愿服务记录证明",
        "姓名：张明",
        "志愿服务时长：12.5 小时",
        "服务期间：2026-01-01 至 2026-09-30",
        "服务内容：开馆值班、图书整理",
        "记录单位：B社区",
        "证明编号：ABCDEFGHJKLM",
        f"核验：{link}",
        "生成日期：2026-10-01",
        "扫码核验",
    ):
        assert expected in text, expected
    (image,) = page.images
    picture = image.image.convert("L")
    # the picture is the QR code of the link: each module (10 px, a 2-module margin) as segno draws it
    matrix = segno.make(link, error="m", micro=False).matrix
    assert picture.size == ((len(matrix) + 4) * 10,) * 2
    drawn = [
        [picture.getpixel(((c + 2) * 10 + 5, (r + 2) * 10 + 5)) < 128 for c in range(len(matrix))]
        for r in range(len(matrix))
    ]
    assert drawn == [[bool(module) for module in row] for row in matrix]
