"""taskq.workflows.diagram: the Tasker document's diagram JSON of a
workflow, and Mermaid text that no step name can break out of."""

from __future__ import annotations

import re

import pytest

from taskq.workflows import STEP_STATUSES
from taskq.workflows.diagram import (STATUS_COLOURS, mermaid, mermaid_text, step_label, step_url,
                                     task_diagram)

TASK_ID = "550e8400-e29b-41d4-a716-446655440000"


def workflow(steps, status="in_progress", full_name="payments.process_payment@2.1.0"):
    """The part of taskq.workflows.get's dict that a diagram reads."""
    return {"id": TASK_ID, "full_name": full_name, "status": status, "steps": [
        {"name": name, "status": st, "duration_ms": ms, "depends_on": deps,
         "started_at": None, "completed_at": None} for name, st, ms, deps in steps]}


DOCUMENT_EXAMPLE = workflow([("validate_payment", "complete", 1000, []),
                             ("charge_card", "in_progress", None, ["validate_payment"])])


def test_json_is_the_documents_example():
    assert task_diagram(DOCUMENT_EXAMPLE) == {
        "nodes": [
            {"id": "validate_payment", "label": "Validate Payment", "shape": "rectangle",
             "style": "fill:#90EE90",
             "url": f"/tasker/tasks/{TASK_ID}/workflow_steps/validate_payment",
             "attributes": {"status": "complete", "duration_ms": 1000}},
            {"id": "charge_card", "label": "Charge Card", "shape": "rectangle",
             "style": "fill:#FFE4B5",
             "url": f"/tasker/tasks/{TASK_ID}/workflow_steps/charge_card",
             "attributes": {"status": "in_progress", "duration_ms": None}},
        ],
        "edges": [{"source_id": "validate_payment", "target_id": "charge_card",
                   "label": "depends_on", "type": "dependency", "direction": "forward",
                   "attributes": {}}],
        "direction": "TD",
        "title": "payments.process_payment@2.1.0",
        "attributes": {"task_id": TASK_ID, "status": "in_progress"},
    }


def test_every_step_status_has_its_own_colour():
    assert set(STATUS_COLOURS) == set(STEP_STATUSES)
    assert len(set(STATUS_COLOURS.values())) == len(STATUS_COLOURS)
    assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in STATUS_COLOURS.values())


def test_urls_follow_the_mount_prefix_and_are_percent_encoded():
    d = task_diagram(workflow([("a", "pending", None, [])]), prefix="/x/tasker/")
    assert d["nodes"][0]["url"] == f"/x/tasker/tasks/{TASK_ID}/workflow_steps/a"
    assert step_url("/tasker", "t/1", 'a "b"/c') == "/tasker/tasks/t%2F1/workflow_steps/a%20%22b%22%2Fc"


@pytest.mark.parametrize("name, label", [
    ("validate_payment", "Validate Payment"), ("charge-card", "Charge Card"),
    ("3ds_check", "3ds Check"), ("a__b", "A B"), ("x", "X"), ("___", "___"), ("", ""),
])
def test_labels_are_title_cased_words(name, label):
    assert step_label(name) == label


def test_mermaid_of_the_documents_example():
    url = f"/tasker/tasks/{TASK_ID}/workflow_steps"
    assert mermaid(task_diagram(DOCUMENT_EXAMPLE)) == "\n".join([
        "flowchart TD",
        '    s0["Validate Payment"]',
        '    s1["Charge Card"]',
        "    s0 --> s1",
        "    classDef status_pending fill:#D3D3D3,stroke:#555555,color:#000000",
        "    classDef status_in_progress fill:#FFE4B5,stroke:#555555,color:#000000",
        "    classDef status_complete fill:#90EE90,stroke:#555555,color:#000000",
        "    classDef status_error fill:#F08080,stroke:#555555,color:#000000",
        "    classDef status_cancelled fill:#DDA0DD,stroke:#555555,color:#000000",
        "    classDef status_skipped fill:#ADD8E6,stroke:#555555,color:#000000",
        "    class s0 status_complete",
        "    class s1 status_in_progress",
        f'    click s0 href "{url}/validate_payment"',
        f'    click s1 href "{url}/charge_card"',
    ]) + "\n"


HOSTILE = [
    'x"] --> evil["owned', "<script>alert(1)</script>", "a\nb\r\nc", "end", "%%{init: {}}%%",
    "click s0 call alert(1)", "`**md**`", "#quot;", "a;b|c{d}(e)[f]", "ünï 😀 \u202e",
    "\ud800 lone", "&lt;b&gt;", "s0 --> s1", "classDef x fill:red", "  ", "'",
]
"""Names no handler definition can have, but a hand-edited record may."""
LINE = re.compile(
    r'    s\d+\["[A-Za-z0-9 #;]+"\]'               # node: an entity-coded label
    r"|    s\d+ --> s\d+"                          # dependency
    r"|    classDef status_[a-z_]+ fill:#[0-9A-F]{6},stroke:#555555,color:#000000"
    r"|    class s\d+ status_[a-z_]+"
    r'|    click s\d+ href "[A-Za-z0-9/%._~:?=&-]+"'  # a link: percent-encoded, no quote
    r"|flowchart TD")


def _decode(label: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), label)


@pytest.mark.parametrize("name", HOSTILE)
def test_no_step_name_breaks_out_of_the_mermaid_text(name):
    wf = workflow([(name, "error", 5, []), ("after", "cancelled", None, [name])], status="error")
    text = mermaid(task_diagram(wf))
    lines = text.splitlines()
    assert all(LINE.fullmatch(line) for line in lines), text
    assert len(lines) == 1 + 2 + 1 + len(STATUS_COLOURS) + 2 + 2
    label = re.fullmatch(r'    s0\["(.*)"\]', lines[1]).group(1)
    assert _decode(label) == (step_label(name) or " ")
    assert "class s0 status_error" in text and "class s1 status_cancelled" in text


def test_mermaid_text_codes_everything_but_letters_digits_and_spaces():
    assert mermaid_text('Say "hi" <b>') == "Say #34;hi#34; #60;b#62;"
    assert mermaid_text("é\n") == "#233;#10;"
    assert mermaid_text("") == " "


def test_a_link_given_with_quotes_is_encoded_and_an_unknown_status_gets_no_class():
    d = task_diagram(workflow([("a", "pending", None, [])]))
    d["nodes"][0]["url"] = '/x" onclick="y\n'
    d["nodes"][0]["attributes"]["status"] = "weird"
    text = mermaid(d)
    assert 'click s0 href "/x%22%20onclick=%22y%0A"' in text
    assert "class s0" not in text
    assert all(LINE.fullmatch(line) for line in text.splitlines())
