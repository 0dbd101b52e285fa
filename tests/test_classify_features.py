"""The fast feature extractor (gateway.routing.features) must give exactly the features of a
plain, obviously-correct reference written here: regex tokens, one substring scan per needle,
``^``-anchored line regexes, loop buckets. The fast code differs only in how it computes them
(translate + split, gated needle scans, newline-anchored regexes, bisect), so any difference is
a bug. Also checks the packed-integer scorer against float arithmetic and the memo of exact
inputs."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import pytest

from gateway.routing import classify as C
from gateway.routing import features as F
from gateway.routing.harness import user_view
from tests.agent_fixture import labelled
from gateway.routing.lexicon import (
    _CODE_GROUPS, _NEGATES, _PHRASES, _STRUCT_SUBS, _STRUCT_SUBS_INTL, _STRUCT_WORDS, _WORD_GROUP,
)

ROOT = Path(__file__).resolve().parent.parent
# the task-routing data directory (dev.jsonl ...), when this machine has it: more rows to compare on
_TR = os.environ.get("TASK_ROUTING_DATA")
DATA = [Path(_TR) / name for name in ("dev.jsonl", "realistic_train.jsonl", "human_train.jsonl") if _TR] + [
    ROOT / "tests" / "data" / "extra_train_tasks.jsonl",
    ROOT / "tests" / "data" / "heldout_tasks.jsonl",
]

# --------------------------------------------------------------------------- reference

TOK = re.compile(r"[\w\u0900-\u0dff]+")
SPEAKER = re.compile(r"^\[?[\w .()-]{1,24}\]?:\s", re.MULTILINE)
BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s", re.MULTILINE)
SYMS = "{}();=<>[]_\\|/*+"


def bucket(n, edges):
    return sum(1 for e in edges if n >= e)


def ref_tokens(text, bigrams=3):
    if text.isascii():
        cs = set(TOK.findall(text))
        return cs, {t.lower() for t in cs}
    cs = set(F._TOK_INTL.findall(text))
    low = {t.lower() for t in cs}
    if bigrams and F._CJK.search(text):
        z = F.CJK_ZONE
        if len(text) <= 2 * z:
            zone = text
        else:
            zone = {1: text[:z], 2: text[-z:], 3: text[:z] + "\n" + text[-z:]}[bigrams]
        for run in F._TOK_INTL.findall(zone):
            if len(run) > 1 and not run.isascii():
                low.update(run[i : i + 2] for i in range(len(run) - 1))
    return cs, low


def ref_pairs(head, tail=None):
    """Word bigrams of plain text (lower-cased tokens, in order): all of a short turn's when it
    has at most 2 * PAIR_TOKENS tokens, else those of the first and last PAIR_TOKENS tokens
    (of the head and tail zones of a long turn)."""
    k = F.PAIR_TOKENS
    h = [x.lower() for x in TOK.findall(head)]
    t = h if tail is None else [x.lower() for x in TOK.findall(tail)]
    zones = [h] if tail is None and len(h) <= 2 * k else [h[:k], t[-k:]]
    return {a + " " + b for z in zones for a, b in zip(z, z[1:])}


def ref_lex(toks, zone):
    groups = {_WORD_GROUP[t] for t in toks if t in _WORD_GROUP}
    for t in toks:
        for phrase, name in _PHRASES.get(t, ()):
            if phrase in zone:
                groups.add(name)
    for neg, target in _NEGATES.items():
        if neg in groups:
            groups.discard(target)
    return groups


def ref_struct(text, toks_cs):
    groups = {_STRUCT_WORDS[t] for t in toks_cs if t in _STRUCT_WORDS}
    subs = _STRUCT_SUBS + (() if text.isascii() else _STRUCT_SUBS_INTL)
    groups |= {name for name, needles in subs if any(s in text for s in needles)}
    return groups


def ref_last_turn(text, strong):
    n = len(text)
    if n == 0:
        strong |= {"#len0", "#lines0", "#nums0", "#notext"}
        return
    z = F.ZONE
    if n <= 2 * z:
        cs, toks = ref_tokens(text)
        zone, win = text.lower(), text
        strong |= ref_lex(toks, zone) | toks
        if text.isascii() or F._NOT_PLAIN.search(text) is None:
            strong |= ref_pairs(text)
    else:
        head, tail = text[:z], text[-z:]
        hcs, htoks = ref_tokens(head, 1)
        tcs, ttoks = ref_tokens(tail, 2)
        hg, tg = ref_lex(htoks, head.lower()), ref_lex(ttoks, tail.lower())
        strong |= hg | tg | {"#h" + g for g in hg} | {"#t" + g for g in tg} | htoks | ttoks
        cs, toks, zone, win = hcs | tcs, htoks | ttoks, head.lower(), head + "\n" + tail
        if win.isascii() or F._NOT_PLAIN.search(win) is None:
            strong |= ref_pairs(head, tail)
    strong |= ref_struct(win, cs)
    ncode = len(_CODE_GROUPS & strong)
    if ncode:
        strong.add(f"#code{min(ncode, 3)}")
    strong.add(f"#len{bucket(n, F._LEN_EDGES)}")
    lines = text.count("\n", 0, F.LINES_SPAN) + 1
    strong.add(f"#lines{bucket(lines, F._LINE_EDGES)}")
    if lines >= 3:
        sp, bl = len(SPEAKER.findall(win)), len(BULLET.findall(win))
        if sp >= 2:
            strong.add(f"#speakers{bucket(sp, (4, 8))}")
        if bl >= 2:
            strong.add(f"#bullets{bucket(bl, (4, 8))}")
    strong.add(f"#nums{bucket(sum(t.isdigit() for t in toks), F._NUM_EDGES)}")
    if text[-40:].rstrip().endswith("?"):
        strong.add("#q")
    sym = sum(win.count(c) for c in SYMS)
    strong.add(f"#sym{bucket(int(1000 * sym / len(win)), F._SYM_EDGES)}")
    if n <= 60 and lines == 1:
        first = zone.split(None, 1)
        if first and _WORD_GROUP.get(first[0].strip(",.!?:;")) in ("#greet", "#thanks"):
            strong.add("#greet_first")


def ref_extract(messages):
    strong, weak = set(), set()
    msgs = [m for m in messages if isinstance(m, dict)] if messages else []
    if not msgs:
        return {"#empty"}, weak
    msgs = user_view(msgs)  # the agent harness's text is context (tested in test_classify_agent.py)
    users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
    last_user = users[-1] if users else -1
    content = msgs[last_user].get("content") if last_user >= 0 else None
    last_text = F._content_text(content)
    if isinstance(content, list):
        strong.add("#parts")
        if F._has_image(content):
            strong.add("#image")
    ref_last_turn(last_text, strong)
    roles = [m.get("role") for m in msgs]
    if "system" in roles:
        strong.add("#system")
    upto = msgs[: last_user + 1] if last_user >= 0 else msgs  # the conversation up to the person's turn
    if any(m.get("role") == "tool" or m.get("tool_calls") for m in upto):
        strong.add("#tools")
    if roles[-1] in ("tool", "assistant"):
        strong.add("#ends_" + roles[-1])
    turns = sum(1 for m in upto if m.get("role") in ("user", "assistant"))
    strong.add(f"#turns{bucket(turns, (2, 3, 5))}")
    for i in [i for i in range(len(msgs)) if i != last_user and roles[i] != "system"][-F.CTX_MAX_MSGS :]:
        m = msgs[i]
        ctext = F._content_text(m.get("content"))
        if not ctext:
            continue
        ctext = F._bound(ctext, F.CTX_HEAD, F.CTX_TAIL)
        ccs, ctoks = ref_tokens(ctext)
        weak |= ctoks
        structured, role = len(ctext) >= 40, m.get("role")
        if i > last_user:
            prefixes = (("#after", True), ("#after", structured))
        elif role == "user":
            prefixes = (("#prev", True), ("#prev", structured))
        else:
            prefixes = (("", False), ("#asst", structured))
        (lp, do_lex), (sp, do_struct) = prefixes
        if do_lex:
            strong |= {lp + g for g in ref_lex(ctoks, ctext.lower())}
        if do_struct:
            strong |= {sp + g for g in ref_struct(ctext, ccs)}
    if len(last_text) < 120 and turns > 1:
        strong |= {"#fu" + f for f in strong if f.startswith(("#prev#", "#asst#", "#after#"))}
        strong.add("#followup")
        if len(last_text) <= 60 and "#q" not in strong and strong & {"#thanks", "#greet"}:
            strong.add("#ack")
    return strong, weak - strong


# --------------------------------------------------------------------------- inputs


def _rows() -> list[list[dict]]:
    rows = []
    for p in DATA:
        if p.exists():
            rows += [json.loads(x)["messages"] for x in p.read_text().splitlines() if x.strip()]
    return rows + [msgs for msgs, _, _ in labelled()]  # agent-shaped requests (tests/agent_fixture.py)


ODD = list("abc XYZ 123 \n\n\t-*•:.)([]{}=>|$%^\\\"'`~@&!?;/+_#") + [
    "’", "“", "—", "…", "\u00a0", "é", "中", "文", "ा", "क", "²", "€", "１", "\u2028", "İ", "Σ", "```", "\n- ",
    "\n1. ", "Bob: ", "[10:02] ", "SELECT", "Traceback", "diff --git", "    at ", "\tat ", "error[E", "要約",
]


def _random_inputs(n: int, seed: int) -> list[list[dict]]:
    """Random cuts of real texts glued with structure-heavy and non-ASCII fragments."""
    rng = random.Random(seed)
    texts = [m["content"] for r in _rows() for m in r if isinstance(m.get("content"), str)] or ["plain text"]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 4)):
            t = rng.choice(texts)
            a = rng.randint(0, len(t))
            parts.append(t[a : a + rng.randint(0, 1200)])
            parts.append("".join(rng.choice(ODD) for _ in range(rng.randint(0, 30))))
        text = "".join(parts)
        if rng.random() < 0.3:
            text = "".join(rng.choice(ODD) for _ in range(rng.randint(0, 1500)))
        if rng.random() < 0.1:  # an agent harness's reminder block around the request
            block = "<system-reminder>\n" + rng.choice(texts)[:300] + "\n</system-reminder>\n"
            text = block + text if rng.random() < 0.5 else text + "\n" + block
        msgs = [{"role": "user", "content": text}]
        if rng.random() < 0.4:
            role = rng.choice(["system", "user", "assistant", "tool", "developer"])
            msgs.insert(0, {"role": role, "content": rng.choice(texts)[: rng.randint(0, 900)]})
            if rng.random() < 0.5:
                msgs.append({"role": "tool", "content": text[::-1]})
        out.append(msgs)
    return out


# --------------------------------------------------------------------------- tests


def test_features_equal_reference_on_data():
    rows = _rows()
    if not rows:
        pytest.skip("no data files")
    bad = [r for r in rows if F.extract_features(r) != ref_extract(r)]
    assert not bad, bad[:2]


def test_features_equal_reference_on_random_inputs():
    bad = [r for r in _random_inputs(3000, seed=7) if F.extract_features(r) != ref_extract(r)]
    assert not bad, bad[:2]


def test_line_counts_equal_anchored_regex():
    rng = random.Random(1)
    alphabet = ["\n", "\n", " ", "\t", "-", "*", "•", "1", "12", ".", ")", ":", "[", "]", "a", "Bob", "(", "\r", "\u2028"]
    for _ in range(50_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert F._count_lines(F._SPEAKER_FIRST, F._SPEAKER_NEXT, s) == len(SPEAKER.findall(s)), s
        assert F._count_lines(F._BULLET_FIRST, F._BULLET_NEXT, s) == len(BULLET.findall(s)), s


def test_fast_decision_equals_policy():
    """_classify's unrolled softmax and its shortcut for confident results give what the
    documented policy, decide(_softmax(scores)), gives."""
    model = C._MODEL
    assert model is not None
    for msgs in _rows() + _random_inputs(300, seed=5):
        strong, weak = F.extract_features(msgs)
        if "#empty" in strong or ("#notext" in strong and not weak and "#image" not in strong):
            continue
        expect = C.decide(C._softmax(model.scores(strong, weak)), model.low_conf, model.runner_min)
        assert C._classify(msgs) == expect, msgs


def test_memo_returns_what_classification_computes():
    inputs = _random_inputs(200, seed=11) + [
        [{"role": "user", "content": [{"type": "text", "text": "Prove that 2 is prime."}, {"type": "image_url"}]}],
        [{"role": "assistant", "content": None, "tool_calls": [{"id": "a"}]}, {"role": "user", "content": "and now?"}],
    ]
    for msgs in inputs:
        C.cache_clear()
        first = C.classify(msgs)
        assert first == C._classify(msgs) == C.classify(msgs)


def test_memo_key_covers_what_features_read():
    text = [{"role": "user", "content": "Summarize this: the meeting moved to Friday."}]
    tools = [{"role": "user", "content": "Summarize this: the meeting moved to Friday.", "tool_calls": [{"id": "x"}]}]
    image = [{"role": "user", "content": [{"type": "image_url", "text": "Summarize this: the meeting moved to Friday."}]}]
    keys = {C._cache_key(m) for m in (text, tools, image)}
    assert len(keys) == 3
    assert C._cache_key([{"role": "user", "content": "x" * (C.CACHE_MAX_CHARS + 1)}]) is None
    assert C._cache_key([{"role": "user", "content": {"odd": 1}}]) is None
    assert C._cache_key(["not a dict"]) is None


def test_memo_is_bounded_and_odd_keys_do_not_raise():
    C.cache_clear()
    for i in range(C.CACHE_SIZE + 50):
        C.classify([{"role": "user", "content": f"hello number {i}"}])
    assert len(C._CACHE) <= C.CACHE_SIZE
    r = C.classify([{"role": ["unhashable"], "content": "hi"}])
    assert r.task in C.TASKS


class _BadBool:
    def __bool__(self):
        raise RuntimeError("no truth")


def test_memo_key_failure_falls_back():
    r = C.classify([{"role": "user", "content": "hi", "tool_calls": _BadBool()}])
    assert r.task in C.TASKS


# --------------------------------------------------------------------------- issue #18 features


def test_a_negated_request_drops_its_lexicon_group():
    doc = "Lee: option 1 keeps the old system.\nAna: option 2 moves to the vendor.\n" * 12
    strong, _ = F.extract_features([{"role": "user", "content": "Don't summarize it: which option is best?\n\n" + doc}])
    assert {"#nosumm", "#h#nosumm"} <= strong and not {"#summ", "#h#summ"} & strong
    strong, _ = F.extract_features([{"role": "user", "content": "Summarize it.\n\n" + doc}])
    assert {"#summ", "#h#summ"} <= strong and "#nosumm" not in strong
    strong, _ = F.extract_features([{"role": "user", "content": "Explain this regex, no code please: ^a+$"}])
    assert "#nocode" in strong and "#codeword" not in strong


def test_thanks_after_a_coding_answer_is_an_acknowledgement():
    convo = [{"role": "user", "content": "Why does my loop never end?\n```py\nwhile i < 3: print(i)\n```"},
             {"role": "assistant", "content": "You never increment `i`:\n```py\nwhile i < 3:\n    i += 1\n```"}]
    strong, _ = F.extract_features([*convo, {"role": "user", "content": "thanks, that works now!"}])
    assert {"#ack", "#thanks", "#followup"} <= strong
    strong, _ = F.extract_features([*convo, {"role": "user", "content": "thanks! and how do I test it?"}])
    assert "#ack" not in strong  # a question is not a sign-off
    strong, _ = F.extract_features([{"role": "user", "content": "thanks, that works now!"}])
    assert "#ack" not in strong  # nothing to close


def test_gazetteers_give_unseen_names_their_group():
    """A programming name or a creative form never seen in training still fires its group; a riddle
    that opens with "imagine you are" is not a role-play set-up."""
    def strong(text: str) -> set[str]:
        return F.extract_features([{"role": "user", "content": text}])[0]

    for text in ("How do I crawl a site with scrapy behind a login?", "is recursion slower than a loop in haskell",
                 "explain big O of heapsort", "what's the difference between tcp and udp"):
        assert "#codeword" in strong(text), text
    for text in ("Write an ode to my old bicycle.", "Pretend you are a pirate captain and greet my guests.",
                 "Take on the role of a grumpy librarian.", "Give me a catchphrase for a whimsical bakery."):
        assert "#rewrite" in strong(text), text
    assert "#rewrite" not in strong("Imagine you are in a room with three switches; which bulb is on?")
