"""Plain output (piped, or a log) fits the line width and loses nothing."""

import io

from orchestrator.lifecycle.steps.check import compact
from orchestrator.ui import Ui, fit_widths, prose_groups


def plain_ui():
    out = io.StringIO()
    return Ui(stream=out, err_stream=io.StringIO(), force_plain=True), out


def test_a_wide_table_wraps_its_widest_column_and_keeps_every_word(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    ui, out = plain_ui()
    why = "HTTPS straight to haproxy with the client certificate is accepted and the CN is echoed back"
    ui.table(["step", "why"], [["direct-mtls", why], ["short", "ok"]])
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 60 and len(lines) > 3
    assert " ".join(" ".join(line[13:].split()) for line in lines[1:-1]) == why  # the column, aligned, whole
    assert lines[-1].split() == ["short", "ok"]


def test_a_narrow_table_is_left_as_it_is(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    ui, out = plain_ui()
    ui.table(["a", "b"], [["x" * 30, "y"]])
    assert out.getvalue().splitlines() == ["A                               B", "x" * 30 + "  y"]
    assert fit_widths([50, 50, 50], 100) == [32, 32, 32] and fit_widths([5] * 20, 40) == [5] * 20


def test_prose_keeps_paragraphs_and_items(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    text = "First line\ncontinues here.\n- an item\n  goes on\n- another\nAfter the list.\n\nNew paragraph."
    assert prose_groups(text) == ["First line continues here.", "- an item goes on", "- another", "After the list.", "",
                                  "New paragraph."]
    ui, out = plain_ui()
    ui.paragraph("- " + "word " * 20)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 40 for line in lines) and all(line.startswith("  ") for line in lines[1:])


def test_an_expectation_reads_as_text_not_a_python_dict():
    assert compact({"status": 200, "json": {"headers.x-cn": "client"}}) == "status=200, json.headers.x-cn=client"
    assert compact({"verified": True, "issuerCN": "Lab CA", "verdict": ["FORWARDED", "REDIRECTED"]}) == \
        'verified=true, issuerCN="Lab CA", verdict=FORWARDED|REDIRECTED'
    assert compact({"body": ""}) == 'body=""' and compact("x") == "x"
