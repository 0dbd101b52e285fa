#!/usr/bin/env python
"""Turn databricks-dolly-15k rows into task-routing training rows, by a fixed rule.

    python scripts/dolly_rows.py DOLLY.jsonl [-o OUT.jsonl] [--cap N] [--context-first F] [--seed S]
                                 [--no-context-chat] [--drop-reasoning] [--show-dropped CATEGORY]

databricks-dolly-15k (CC BY-SA 3.0) is ~15,000 requests written by Databricks employees: one JSON
object per line, ``{"instruction", "context", "response", "category"}``. ``DOLLY.jsonl`` is the
public file or any sample of its lines. The output rows are in the task-routing format
(``{"messages": [{"role": "user", "content": ...}], "label", "source"}``); they are ShareAlike, so
keep them outside this repository, like the task-routing data (train with
``scripts/train_classifier.py --extra OUT.jsonl:WEIGHT``).

The label follows the label policy of the task-routing data, from the Dolly category and the
wording of the instruction only (no hand labels, no model; docs/classifier-history.md, "Human-written
chat from Dolly"):

* open_qa, general_qa, classification, brainstorming, creative_writing, closed_qa,
  information_extraction -> simple_chat (questions, lists, ideas, stories, questions answered
  from a given passage);
* summarization -> summarization only when the instruction asks to condense (CONDENSE: summar*,
  brief, in N sentences, key/main points, overview, gist, tl;dr, recap, sum up, outline ...).
  Dolly files many passage questions under summarization ("Who is X?" over a bio), which the
  policy calls chat; those rows are dropped, not relabelled, since the category is unsure of them;
* a chat-category row whose instruction asks to condense is summarization when it carries at
  least MIN_TEXT characters of text to condense (context or pasted after the instruction), and is
  dropped otherwise ("summarize Moby-Dick" with no text);
* rows that look like code or math are dropped (CODE, MATH): none of Dolly's categories is code
  generation or multi-step reasoning, so the category says nothing about them;
* with ``--no-context-chat``, chat rows that carry a context (mostly closed_qa and
  information_extraction: a question over a pasted passage) are dropped, and only the
  context-free chat and the summaries are kept;
* with ``--drop-reasoning``, chat-category rows that ask for what the policy calls reasoning are
  dropped too (REASONING: pros and cons, trade-offs, plans and itineraries, riddles and puzzles,
  step-by-step reasoning): Dolly files "Plan a three-day road trip" and "pros and cons of a bigger
  house" under creative_writing and brainstorming.

The user message is the instruction and the context joined by a blank line: context after the
instruction (Dolly's own order), or before it for a fraction ``--context-first`` of the rows with a
context (people paste both ways). ``--cap N`` keeps at most N rows per Dolly category. Every
random choice hashes the row with ``--seed``, so a row gets the same message and the same fate in
the full file and in any sample of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

CHAT = ("open_qa", "general_qa", "classification", "brainstorming", "creative_writing", "closed_qa",
        "information_extraction")
SOURCE = "Dolly (CC BY-SA 3.0)"
MIN_TEXT = 300  # characters of given text that a condense request needs to be summarization
REASONING = re.compile(
    r"pros and cons|advantages and disadvantages|\btrade-?offs?\b|\bplan(?:s|ned|ning)?\b|\bitinerar"
    r"|\briddles?\b|\bpuzzles?\b|\bstep[- ]by[- ]step\b|\breasoning\b|\bdeduce\b|\bestimate\b",
    re.I)
_N = r"(?:a|an|one|two|three|four|five|single|few|couple of|\d+)"
CONDENSE = re.compile(
    r"summar|\bsum(?:s|med|ming)? (?:it |this |that |them )?up\b|\bbrief(?:ly)?\b|\bgist\b|tl;?dr|\brecap"
    r"|\boverview\b|\boutline\b|\bsynopsis\b|\bcondense\b|\bshorten\b|in a nutshell|\bboil\w* (?:it |this )?down"
    rf"|\bin {_N}(?: short| brief)? (?:sentences?|lines?|words|bullets?|bullet points|paragraphs?)\b"
    rf"|\b{_N}[- ](?:sentence|line|paragraph)\b"
    r"|\b(?:key|main|important|major) (?:points?|ideas?|takeaways?|facts?|aspects?|themes?|characteristics?)\b",
    re.I)
CODE = re.compile(
    r"```|\b(?:python|java|javascript|typescript|sql|regex|regular expression|html|css|json|yaml|bash"
    r"|shell|powershell|code|coding|programming|programmer|program in|function|compiler|algorithms?|api"
    r"|spark|pyspark|pandas|dataframe|scala|golang|kubernetes|docker|git|github|script|query|database"
    r"|linux command)\b|\.net\b|\bc\+\+|\bc#",
    re.I)
MATH = re.compile(
    r"\b(?:calculat\w*|compute|solve|equation|arithmetic|probability|how many (?:days|hours|minutes|years) did"
    r"|what is \d)\b|\d\s*[+*/×÷^=]\s*\(?\d|\d\s+-\s+\d",
    re.I)


def row_hash(instruction: str, context: str, seed: str = "") -> str:
    return hashlib.sha256(f"{seed}\x00{instruction}\x00{context}".encode()).hexdigest()


def label(instruction: str, context: str, category: str, drop_reasoning: bool = False) -> tuple[str | None, str]:
    """The task label of a Dolly row (None: dropped) and why."""
    if CODE.search(instruction) or "```" in context:
        return None, "code"
    if MATH.search(instruction) or sum(ch.isdigit() for ch in instruction) > 0.3 * max(1, len(instruction)):
        return None, "math"
    asks = CONDENSE.search(instruction.split("\n", 1)[0][:300]) is not None
    if category == "summarization":
        return ("summarization", "condense") if asks else (None, "summarization without a condense ask")
    if category in CHAT:
        if drop_reasoning and REASONING.search(instruction):
            return None, "reasoning ask"
        if not asks:
            return "simple_chat", "chat"
        given = len(context) + len(instruction.split("\n", 1)[1] if "\n" in instruction else "")
        return ("summarization", "condense with text") if given >= MIN_TEXT else (None, "condense without text")
    return None, f"unknown category {category!r}"


def message(instruction: str, context: str, context_first: bool) -> str:
    instruction, context = instruction.strip(), context.strip()
    if not context:
        return instruction
    return f"{context}\n\n{instruction}" if context_first else f"{instruction}\n\n{context}"


def convert(rows: list[dict], *, seed: str = "20261207", context_first: float = 0.3,
            cap: int | None = None, drop_reasoning: bool = False, context_chat: bool = True) -> tuple[list[dict], Counter, list[tuple[str, str, dict]]]:
    """Training rows, counts by (category, outcome) and the dropped rows with their reason."""
    kept: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    counts: Counter = Counter()
    dropped: list[tuple[str, str, dict]] = []
    seen: set[str] = set()
    for r in rows:
        ins, ctx, cat = r.get("instruction", ""), r.get("context", "") or "", r.get("category", "")
        lbl, why = label(ins, ctx, cat, drop_reasoning)
        h = row_hash(ins, ctx, seed)
        if lbl == "simple_chat" and ctx.strip() and not context_chat:
            lbl, why = None, "chat with a context (--no-context-chat)"
        if lbl is None:
            counts[(cat, "dropped: " + why)] += 1
            dropped.append((cat, why, r))
            continue
        text = message(ins, ctx, int(h[:8], 16) / 0xFFFFFFFF < context_first)
        key = " ".join(text.lower().split())
        if key in seen:
            counts[(cat, "dropped: duplicate")] += 1
            continue
        seen.add(key)
        kept[cat].append((h, {"messages": [{"role": "user", "content": text}], "label": lbl,
                              "source": f"{SOURCE} [{cat}:{row_hash(ins, ctx)[:12]}]"}))
    out = []
    for cat in sorted(kept):
        items = sorted(kept[cat], key=lambda x: x[0])  # seeded order: the cap keeps a seeded sample
        if cap is not None and len(items) > cap:
            counts[(cat, "dropped: cap")] += len(items) - cap
            items = items[:cap]
        for _, row in items:
            counts[(cat, "kept: " + row["label"])] += 1
            out.append(row)
    out.sort(key=lambda row: row_hash(row["messages"][0]["content"], "", seed))
    return out, counts, dropped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="databricks-dolly-15k.jsonl or a sample of its lines")
    ap.add_argument("-o", "--out", help="output file (default: standard output)")
    ap.add_argument("--seed", default="20261207")
    ap.add_argument("--context-first", type=float, default=0.3, help="fraction of rows with the context first")
    ap.add_argument("--cap", type=int, help="at most this many rows per Dolly category")
    ap.add_argument("--no-context-chat", action="store_true", help="drop chat rows that carry a context")
    ap.add_argument("--drop-reasoning", action="store_true", help="drop chat rows that ask for reasoning (REASONING)")
    ap.add_argument("--show-dropped", metavar="CATEGORY", help="print the dropped rows of a category to stderr")
    args = ap.parse_args()
    rows = [json.loads(line) for line in Path(args.input).read_text().splitlines() if line.strip()]
    out, counts, dropped = convert(rows, seed=args.seed, context_first=args.context_first, cap=args.cap,
                                   drop_reasoning=args.drop_reasoning, context_chat=not args.no_context_chat)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    for (cat, what), n in sorted(counts.items()):
        print(f"{cat:<24} {what:<45} {n}", file=sys.stderr)
    print(f"{len(rows)} Dolly rows -> {len(out)} training rows "
          f"({dict(Counter(r['label'] for r in out))})", file=sys.stderr)
    for cat, why, r in dropped:
        if cat == args.show_dropped:
            print(f"[{why}] {r['instruction'][:150]!r} (context {len(r.get('context') or '')} chars)", file=sys.stderr)


if __name__ == "__main__":
    main()
