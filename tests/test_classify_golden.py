"""The classifier's features and decisions, frozen: a golden computed once from the code as it
was before a speed-only change, so any change to *how* features are computed or scored that
changes *what* they are (or the task / confidence, bit for bit) fails here.

Cases: every row of tests/data/heldout_tasks.jsonl, app_tasks.jsonl, extra_train_tasks.jsonl and
the agent fixture (tests/agent_fixture.py), each as is, with a long last user turn (the row's
text followed by the next rows' until 1,200-8,000 characters: the zoned path) and chained after
the previous row with an assistant reply (the context path); plus the benchmark's prompts.
For each case the golden holds a hash of the sorted (strong, weak) feature sets and the task and
confidence of :func:`classify` (uncached; the memo hit must give the same).

The golden depends on the lexicons and the weights file, so retraining or editing a lexicon
changes it on purpose. After such a change (and only then), regenerate it with

    .venv/bin/python -m tests.test_classify_golden --write

and commit tests/data/classify_golden.json with the change.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator

from gateway.routing import classify as C
from tests.agent_fixture import labelled

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "classify_golden.json"
FILES = ("heldout_tasks", "app_tasks", "extra_train_tasks")
REGEN = "regenerate with: .venv/bin/python -m tests.test_classify_golden --write"


def _rows() -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for name in FILES:
        lines = (DATA / f"{name}.jsonl").read_text().splitlines()
        out += [(f"{name}:{i}", json.loads(x)["messages"]) for i, x in enumerate(lines) if x.strip()]
    out += [(f"agent:{i}", msgs) for i, (msgs, _, _) in enumerate(labelled())]
    return out


def _last_text(msgs: list[dict[str, Any]]) -> str:
    for m in reversed(msgs):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if isinstance(p, dict))
    return ""


def cases() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every case, in a fixed order (the rows, their long and chained variants, the benchmark's)."""
    rows = _rows()
    texts = [_last_text(m) for _, m in rows]
    for i, (cid, msgs) in enumerate(rows):
        yield cid, msgs
        long, j = texts[i], i + 1
        while len(long) < 1200:
            long += "\n\n" + texts[j % len(texts)]
            j += 1
        yield cid + ":long", [{"role": "user", "content": long[:8000] + "\n\n" + texts[i][-300:]}]
        prev = rows[i - 1][1]
        yield cid + ":chain", [*prev, {"role": "assistant", "content": texts[i - 1][::-1][:500]},
                               *(m for m in msgs if m.get("role") != "system")]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import bench_classifier as B

    for name, msgs in {**B.prompts(8000), "short": B.SHORT}.items():
        yield f"bench:{name}", msgs


def fingerprint(msgs: list[dict[str, Any]]) -> str:
    """``"<hash of the sorted features> <task> <confidence>"``; the memo must answer the same."""
    strong, weak = C.extract_features(msgs)
    body = json.dumps([sorted(strong), sorted(weak)], ensure_ascii=False).encode()
    C.cache_clear()
    first = C.classify(msgs)
    assert C.classify(msgs) == first  # the memo hit
    return f"{hashlib.sha256(body).hexdigest()[:16]} {first.task} {first.confidence!r}"


def compute() -> dict[str, Any]:
    return {"weights": C.weights_info(), "cases": {cid: fingerprint(m) for cid, m in cases()}}


def test_features_and_decisions_match_the_golden() -> None:
    golden = json.loads(GOLDEN.read_text())
    now = compute()
    assert now["weights"] == golden["weights"], f"weights file changed since the golden was made; {REGEN}"
    assert now["cases"].keys() == golden["cases"].keys(), f"fixture rows changed; {REGEN}"
    feats = [c for c, g in golden["cases"].items() if now["cases"][c].split()[0] != g.split()[0]]
    tasks = [c for c, g in golden["cases"].items() if now["cases"][c].split()[1:] != g.split()[1:]]
    assert not feats, (f"{len(feats)} cases with other features, e.g. {feats[:5]} (if a lexicon, a feature or a "
                       f"fixture changed on purpose: {REGEN})")
    assert not tasks, f"{len(tasks)} cases with another task or confidence, e.g. {tasks[:5]}"
    assert len(golden["cases"]) > 1500


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    data = compute()
    lines = [f"{json.dumps(c)}: {json.dumps(v)}" for c, v in data["cases"].items()]
    GOLDEN.write_text('{"weights": %s,\n"cases": {\n%s\n}}\n' % (json.dumps(data["weights"]), ",\n".join(lines)))
    print(f"wrote {len(data['cases'])} cases to {GOLDEN}")
