"""Task classifier: labels a chat request ``simple_chat``, ``code_generation``,
``summarization`` or ``complex_reasoning`` with a confidence in [0, 1].

Pure Python (stdlib + orjson), in-process, deterministic, no network.

Model: multinomial logistic regression over sparse binary features; the weights ship in
``gateway/data/classifier_weights.json`` and are trained by ``scripts/train_classifier.py``
(see ``docs/classifier.md``). Features (:func:`extract_features`):

* lower-cased word tokens of the last user turn (a bounded head + tail of long texts),
  CJK character bigrams near the start and end of the turn;
* tokens of the rest of the conversation (system prompt, earlier turns, tool results),
  bounded per message, counted at weight ``alpha``;
* hand-rule features (all start with ``#``): multilingual lexicons (summarize / prove /
  trade-off / step-by-step / code words / greetings / rewrite ...), structural markers
  (code fences, stack traces, diffs, shell, SQL, YAML/Terraform/Dockerfile, log lines,
  e-mail headers, speaker lines, math notation), where the instruction sits (head/tail),
  length / line / number / symbol-density buckets and the conversation's shape, plus the
  lexicon/structure of earlier turns, the system prompt and trailing tool output.

Low-confidence policy (:func:`decide`): if the winning probability is below
``LOW_CONFIDENCE`` and a *more demanding* class (tier: simple_chat < summarization <
code_generation = complex_reasoning) has probability >= ``RUNNER_UP_MIN``, the most likely
of those more demanding classes is returned instead, so uncertain requests go to the
higher-quality side. A request with no text at all is ``simple_chat`` with confidence 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import orjson

__all__ = ["TASKS", "Classification", "classify", "decide", "extract_features", "rule_scores"]

TASKS: tuple[str, ...] = ("simple_chat", "code_generation", "summarization", "complex_reasoning")

# Tier used by the low-confidence policy: higher = needs a stronger model.
TIER: dict[str, int] = {"simple_chat": 0, "summarization": 1, "code_generation": 2, "complex_reasoning": 2}
LOW_CONFIDENCE = 0.55
RUNNER_UP_MIN = 0.2

WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "classifier_weights.json"


@dataclass(frozen=True, slots=True)
class Classification:
    task: str
    confidence: float  # 0..1


# --------------------------------------------------------------------------- text access

LAST_HEAD = 600  # chars of a long last user turn that are tokenised: its start ...
LAST_TAIL = 300  # ... and its end (instructions are usually first or last)
STRUCT_HEAD = 450  # punctuation/layout markers are searched in this head ...
STRUCT_TAIL = 200  # ... and this tail of the turn
ZONE = 250  # instruction zone: this many chars at each end of the last user turn
CTX_HEAD = 300  # per context message
CTX_TAIL = 150
CTX_MAX_MSGS = 6  # most recent context messages considered


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, dict):
                t = part.get("text")
                if isinstance(t, str):
                    out.append(t)
            elif isinstance(part, str):
                out.append(part)
        return "\n".join(out)
    return str(content)


def _has_image(content: Any) -> bool:
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("image_url", "image", "input_image"):
                return True
    return False


def _bound(text: str, head: int, tail: int) -> str:
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n" + text[-tail:]


# --------------------------------------------------------------------------- tokenisation
# Tokens are raw lower-cased word runs (Indic combining marks kept inside words); every
# hand-rule / shape feature starts with "#", so the two can never collide.

_CJK_CLS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3"
_TOK = re.compile(r"[\w\u0900-\u0dff]+")  # fast path (ASCII text)
# non-ASCII text: CJK runs are split from Latin/other letters ("gitで" -> "git", "で"), Indic words kept whole
_TOK_INTL = re.compile(r"[%s]+|[\u0900-\u0dff]+|[^\W%s]+" % (_CJK_CLS, _CJK_CLS))
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]")
CJK_ZONE = 100  # CJK character bigrams come from this many chars at each end of the turn


def _tokens(text: str, bigrams: int = 3) -> tuple[set[str], set[str]]:
    """(case-sensitive tokens, lower-cased tokens + CJK bigrams). ``bigrams`` says where
    CJK bigrams are taken: 0 nowhere, 1 the first CJK_ZONE chars, 2 the last, 3 both ends."""
    if text.isascii():
        cs = set(_TOK.findall(text))
        return cs, set(map(str.lower, cs))
    cs = set(_TOK_INTL.findall(text))
    low = set(map(str.lower, cs))
    if bigrams and _CJK.search(text) is not None:
        if len(text) <= 2 * CJK_ZONE:
            z = text
        elif bigrams == 1:
            z = text[:CJK_ZONE]
        elif bigrams == 2:
            z = text[-CJK_ZONE:]
        else:
            z = text[:CJK_ZONE] + "\n" + text[-CJK_ZONE:]
        for run in _TOK_INTL.findall(z):
            if len(run) > 1 and not run.isascii():
                low.update([run[i : i + 2] for i in range(len(run) - 1)])
    return cs, low


# --------------------------------------------------------------------------- hand rules

# Whole-word lexicons (matched by set intersection with the tokens: cheap).
_WORDS: dict[str, str] = {
    "summ": (
        "summarize summarise summarized summarised summarizing summarising summary summaries tldr gist recap recaps "
        "recapping condense condensed synopsis takeaways takeaway nutshell digest highlights cliffnotes "
        "résume résumer résumez résumé resume resumen resumir resúmelo resumelo resúmeme resumeme resuma resumo resumos "
        "synthèse synthétise sintetiza síntesis sintetizar zusammenfassung zusammenfassen zusammen kurzfassung "
        "riassumi riassunto riassumere sintesi sintetizza samenvatting samenvatten samen "
        "кратко краткое краткий резюме резюмируй перескажи сократи суммируй обобщи итоги выжимка изложи "
        "podsumuj streszczenie özetle özet sammanfatta sammanfattning"
    ),
    "proof": (
        "prove proof proofs proving demonstrate démontre démontrer démontrez demuestra demostrar demuestre beweise "
        "beweis beweisen zeige dimostra dimostrare dimostrazione prova provar demonstre докажи доказать "
        "доказательство induction induktion récurrence inducción"
    ),
    "tradeoff": (
        "tradeoff tradeoffs pros cons weigh compare comparison versus vs recommend recommendation risks "
        "risk strategy rollback option options alternatives decide choose ventajas desventajas avantages "
        "inconvénients nachteile vorteile abwägen abwägung vantaggi svantaggi vantagens desvantagens плюсы минусы "
        "риски компромисс"
    ),
    "steps": (
        "probability expected solve equation equations integral derivative minimize maximize minimise maximise "
        "optimal optimum percent ratio average rate interest compounded reasoning steps "
        "вероятность уравнение probabilidad ecuación probabilité équation wahrscheinlichkeit gleichung"
    ),
    "codeword": (
        "code function functions script query queries regex regexp bug compile compiler refactor endpoint api class "
        "method syntax debug stacktrace exception implement python javascript typescript java golang rust sql bash "
        "shell powershell docker dockerfile kubernetes kubectl k8s terraform yaml json git nginx css html react vue "
        "node pandas numpy django flask spring kotlin swift php ruby cpp unittest pytest jest lambda webhook "
        "cron migration schema index variable loop array dict string int null undefined deployment autoscaler "
        "dag airflow workflow workflows github gitlab actions pipeline cte recursive commit commits squash rebase merge "
        "branch formula spreadsheet vlookup xlookup excel sheets macro vba cli readme config configuration "
        "container pod pods helm ansible playbook manifest crd ingress repo npm pip package library framework "
        "frontend backend database db postgres mysql sqlite mongodb redis kafka http https cors jwt oauth "
        "напиши конфигурацию программу escribe escreva scrivi écris schreib schreibe "
        "función fonction funktion funzione função функция функцию скрипт запрос код código codice"
    ),
    "greet": (
        "hi hello hey heyy heyyy yo howdy thanks thank thx ty bye goodbye cheers morning evening "
        "bonjour salut merci hola gracias hallo danke ciao grazie buongiorno olá ola obrigado obrigada "
        "привет спасибо здравствуйте hoi dank"
    ),
    "rewrite": (
        "translate translation rewrite rephrase reword paraphrase polite politely friendlier friendly proofread email "
        "draft haiku poem slogan tweet linkedin caption birthday letter note synonym spell spelling "
        "traduis traduire traduce traducir traduz traduzir übersetze übersetzen переведи перевод reformule "
        "umformulieren riformula"
    ),
    "explain": "explain explanation what why how meaning define definition",
    "analyze": (
        "analyze analyse analysis analyzing reason reasoning think mechanisms mechanism cause causes root likely "
        "hypothesis evidence implications consequences evaluate assess justify logically plan prioritize "
        "analiza analizar analise analisar analisa analysiere analysieren analizza analizzare analysez explique "
        "explica explain warum pourquoi porque perché почему проанализируй анализ причины объясни"
    ),
    "fix": "fix fixes fixing fails fail failing failed broken crash crashes error errors wrong issue doesn works",
    "happened": "happened decided decide decisions decision outcome briefly plain",
}
_WORD_GROUP: dict[str, str] = {}
for _g, _ws in _WORDS.items():
    for _w in _ws.split():
        _WORD_GROUP.setdefault(_w, "#" + _g)

# Phrases, checked (substring of the lower-cased zone) only when their key word is a token.
_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {}
for _g, _key, _phrases in (
    ("#summ", "tl", ("tl;dr", "tl dr", "tl; dr")),
    ("#summ", "boil", ("boil",)),
    ("#summ", "sum", ("sum up", "sum it up", "sum this up")),
    ("#summ", "key", ("key points", "key point")),
    ("#summ", "main", ("main points", "main themes", "main ideas")),
    ("#summ", "short", ("short version",)),
    ("#summ", "catch", ("catch me up",)),
    ("#summ", "lines", ("few lines", "2 lines", "3 lines", "two lines", "three lines")),
    ("#summ", "sentences", ("few sentences", "two sentences", "three sentences", "2 sentences", "3 sentences")),
    ("#summ", "sentence", ("one sentence", "1 sentence")),
    ("#summ", "paragraph", ("one paragraph", "short paragraph")),
    ("#summ", "bullets", ("3 bullets", "three bullets", "few bullets", "5 bullets")),
    ("#proof", "show", ("show that",)),
    ("#proof", "montrer", ("montrer que",)),
    ("#tradeoff", "trade", ("trade-off", "trade off")),
    ("#tradeoff", "better", ("which is better", "which one is better", "what's better", "is it better")),
    ("#tradeoff", "should", ("should we", "should i ")),
    ("#tradeoff", "walk", ("walk me through",)),
    ("#steps", "step", ("step by step", "step-by-step")),
    ("#steps", "work", ("show your work", "work it out", "work out")),
    ("#steps", "ways", ("how many ways",)),
    ("#steps", "long", ("how long",)),
    ("#steps", "time", ("at what time",)),
    ("#steps", "much", ("how much will", "how much would", "how much more")),
    ("#steps", "many", ("how many",)),
    ("#steps", "paso", ("paso a paso",)),
    ("#steps", "passo", ("passo a passo",)),
    ("#steps", "pas", ("pas à pas",)),
    ("#happened", "did", ("what did we", "what did they")),
    ("#happened", "action", ("action items",)),
    ("#analyze", "happen", ("what would happen",)),
    ("#analyze", "why", ("why might", "why would", "why does", "why do ", "why is")),
):
    _PHRASES[_key] = _PHRASES.get(_key, ()) + tuple((ph, _g) for ph in _phrases)

# Words of scripts without spaces are matched through the CJK character bigrams (see _tokens).
_WORDS_INTL: dict[str, str] = {
    "summ": "要約 まとめ 要点 概要 总结 總結 概括 摘要 归纳 요약 정리 간추 सारांश संक्षेप सार لخص ملخص تلخيص اختصر "
    "خلاصة resúmelo resúmeme résumez résumer zusammenfassen riassumere кратко сжато",
    "proof": "证明 証明 증명 सिद्ध साबित أثبت برهن докажите демонстрируй démontrez démontrer demuestre demostrar",
    "tradeoff": "优缺 缺点 利弊 权衡 長所 短所 メリ リッ 장단 단점 फायदे नुकसान إيجابيات سلبيات prós contras "
    "nachteile минусы",
    "steps": "途中 步骤 단계 概率 確率 확률 संभावना احتمال étape schritt шагам вероятность 多少 いく 몇 कितना कितने كم 计算",
    "codeword": "代码 代碼 函数 脚本 コー ード 関数 スク 크립 코드 함수 फ़ंक्शन फंक्शन कोड دالة كود برنامج skript "
    "正则 表达 정규 쿼리 查询 クエ 报错 エラ 에러 오류 错误",
    "greet": "こんにちは おは はよ あり がと 你好 您好 谢谢 早上 안녕 감사 고마 नमस्ते धन्यवाद مرحبا السلام شكرا доброе",
    "rewrite": "翻訳 翻译 번역 अनुवाद ترجم 書き 怎么 메일 ईमेल",
    "analyze": "分析 原因 理由 なぜ 为什 为何 왜 논리 원인 분석 विश्लेषण क्यों कारण تحليل لماذا أسباب 考え 思路 验证 推理 근거",
}
for _g, _ws in _WORDS_INTL.items():
    for _w in _ws.split():
        _WORD_GROUP.setdefault(_w.lower(), "#" + _g)

# Structural markers: case-sensitive keywords (matched against the original-case tokens by
# set intersection) and punctuation / layout needles (substring tests on the window).
_STRUCT_WORDS: dict[str, str] = {
    "Traceback": "#stack", "Exception": "#stack", "Error": "#stack", "NullPointerException": "#stack",
    "TypeError": "#stack", "ValueError": "#stack", "KeyError": "#stack", "AttributeError": "#stack",
    "ImportError": "#stack", "ModuleNotFoundError": "#stack", "RuntimeError": "#stack", "panic": "#stack",
    "Uncaught": "#stack", "SQLSTATE": "#stack", "ERR": "#stack", "FAILED": "#stack", "errno": "#stack",
    "Errno": "#stack", "segfault": "#stack", "fatal": "#stack", "undefined": "#stack",
    "SELECT": "#sql", "FROM": "#sql", "WHERE": "#sql", "JOIN": "#sql", "INSERT": "#sql", "UPDATE": "#sql",
    "DELETE": "#sql", "GROUP": "#sql", "ORDER": "#sql", "HAVING": "#sql", "CREATE": "#sql", "TABLE": "#sql",
    "ALTER": "#sql", "INDEX": "#sql", "LIMIT": "#sql",
    "apiVersion": "#config", "metadata": "#config", "spec": "#config", "replicas": "#config",
    "terraform": "#config", "RUN": "#config", "COPY": "#config", "WORKDIR": "#config", "ENTRYPOINT": "#config",
    "CMD": "#config", "EXPOSE": "#config",
    "sudo": "#shell", "kubectl": "#shell", "docker": "#shell", "git": "#shell", "npm": "#shell", "pnpm": "#shell",
    "pip": "#shell", "curl": "#shell", "chmod": "#shell", "apt": "#shell", "brew": "#shell", "systemctl": "#shell",
    "grep": "#shell", "awk": "#shell", "sed": "#shell", "xargs": "#shell", "jq": "#shell", "ssh": "#shell",
    "helm": "#shell", "crontab": "#shell",
    "def": "#syntax", "const": "#syntax", "var": "#syntax", "import": "#syntax", "return": "#syntax",
    "null": "#syntax", "None": "#syntax", "True": "#syntax", "False": "#syntax", "false": "#syntax",
    "true": "#syntax", "self": "#syntax", "fn": "#syntax", "func": "#syntax", "println": "#syntax",
    "printf": "#syntax", "console": "#syntax", "async": "#syntax", "await": "#syntax", "elif": "#syntax",
    "INFO": "#logline", "WARN": "#logline", "WARNING": "#logline", "ERROR": "#logline", "DEBUG": "#logline",
    "UTC": "#logline",
    "Subject": "#email", "From": "#email", "Cc": "#email", "Betreff": "#email", "Objet": "#email", "Asunto": "#email",
    "Ticket": "#ticket", "ticket": "#ticket", "Case": "#ticket", "Priority": "#ticket", "Status": "#ticket",
    "Customer": "#ticket", "Agent": "#ticket", "Opened": "#ticket",
}
_STRUCT_SUBS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("#fence", ("```", "~~~")),
    ("#config", ('resource "', 'provider "', 'variable "', "runs-on:", "image:", "services:", "hosts:", "kind:",
                 "server {", "location /")),
    ("#stack", ("\tat ", "    at ", 'File "', "error[E")),
    ("#diff", ("\n+++ ", "\n@@ ", "diff --git", "\n+ ", "\n- \t")),
    ("#shell", ("\n$ ", "PS C:", ":\\>", "~$ ", "| ")),
    ("#syntax", ("=>", "();", "){", ") {", "==", "!=", "&&", "+=", "::", "</", "->", "[]", "{}", "={", "= {", "):")),
    ("#math", ("\\frac", "\\sqrt", "^", "\\(")),
    ("#money", ("$",)),
    ("#pct", ("%",)),
    ("#quote", ('"""', "\n> ", "<<<", ">>>")),
    ("#url", ("://",)),
    ("#speaker", (":\n", "]: ", "] ")),
)

_CODE_GROUPS = frozenset(("#fence", "#stack", "#diff", "#shell", "#sql", "#config", "#syntax"))

_SPEAKER_LINE = re.compile(r"^\[?[\w .()-]{1,24}\]?:\s", re.MULTILINE)
_BULLET_LINE = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s", re.MULTILINE)


def _bucket(n: int, edges: Iterable[int]) -> int:
    b = 0
    for e in edges:
        if n >= e:
            b += 1
        else:
            break
    return b


_LEN_EDGES = (12, 25, 45, 80, 140, 250, 450, 800, 1400, 2500, 4500)
_LINE_EDGES = (2, 3, 5, 9, 17, 33)
_NUM_EDGES = (1, 2, 3, 5, 8)
_SYMS = "{}();=<>[]_\\|/*+"


def _lex_groups(toks: set[str], zone_low: str) -> set[str]:
    groups = {_WORD_GROUP[t] for t in _WORD_GROUP.keys() & toks}
    for key in _PHRASES.keys() & toks:
        for phrase, name in _PHRASES[key]:
            if name not in groups and phrase in zone_low:
                groups.add(name)
    return groups


def _lex(toks: set[str], zone_low: str, prefix: str, out: set[str]) -> None:
    out.update([prefix + g for g in _lex_groups(toks, zone_low)])


_STRUCT_SUBS_INTL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("#math", ("√", "≤", "≥", "π", "∫", "∑", "≠", "²", "³", "×", "÷")),
    ("#money", ("€", "£", "¥", "₹", "元", "円", "₽")),
)


def _struct(text: str, toks_cs: set[str], prefix: str, out: set[str]) -> None:
    groups = {_STRUCT_WORDS[t] for t in _STRUCT_WORDS.keys() & toks_cs}
    for name, subs in _STRUCT_SUBS:
        if name not in groups and any(map(text.__contains__, subs)):
            groups.add(name)
    if not text.isascii():
        for name, subs in _STRUCT_SUBS_INTL:
            if name not in groups and any(map(text.__contains__, subs)):
                groups.add(name)
    if prefix:
        out.update([prefix + g for g in groups])
    else:
        out.update(groups)


def extract_features(messages: list[dict]) -> tuple[set[str], set[str]]:
    """Return (strong, weak) feature sets. ``strong`` = tokens of the last user turn plus
    rule / shape features (value 1); ``weak`` = tokens of the rest of the conversation
    (value ``alpha``; not repeated when already strong)."""
    strong: set[str] = set()
    weak: set[str] = set()
    msgs = [m for m in messages if isinstance(m, dict)] if messages else []
    if not msgs:
        strong.add("#empty")
        return strong, weak
    last_user = -1
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].get("role") == "user":
            last_user = i
            break
    content = msgs[last_user].get("content") if last_user >= 0 else None
    last_text = _content_text(content)
    if isinstance(content, list):
        strong.add("#parts")
        if _has_image(content):
            strong.add("#image")

    # ---- last user turn
    n = len(last_text)
    text = _bound(last_text, LAST_HEAD, LAST_TAIL)
    if n > 2 * ZONE:
        # tokenise head / middle / tail separately (same total cost as once) so the lexicon
        # can also say where the instruction sits: "#h..." at the start, "#t..." at the end
        head, tail = text[:ZONE], text[-ZONE:]
        hcs, htoks = _tokens(head, 1)
        mcs, mtoks = _tokens(text[ZONE:-ZONE], 0)
        tcs, ttoks = _tokens(tail, 2)
        toks = htoks | mtoks | ttoks
        toks_cs = hcs | mcs | tcs
        hl, tl = head.lower(), tail.lower()
        hg = _lex_groups(htoks, hl)
        tg = _lex_groups(ttoks, tl)
        strong.update(hg)
        strong.update(tg)
        strong.update([_WORD_GROUP[t] for t in _WORD_GROUP.keys() & mtoks])
        strong.update(["#h" + g for g in hg])
        strong.update(["#t" + g for g in tg])
        zone = hl
    else:
        toks_cs, toks = _tokens(text)
        zone = text.lower()
        strong.update(_lex_groups(toks, zone))
    strong.update(toks)
    # punctuation / layout markers: a smaller window is enough (the keywords above came from all tokens)
    swin = text if len(text) <= STRUCT_HEAD + STRUCT_TAIL else text[:STRUCT_HEAD] + "\n" + text[-STRUCT_TAIL:]
    _struct(swin, toks_cs, "", strong)
    ncode = len(_CODE_GROUPS & strong)
    if ncode:
        strong.add("#code%d" % min(ncode, 3))  # how many kinds of code markers fired
    strong.add("#len%d" % _bucket(n, _LEN_EDGES))
    lines = last_text.count("\n") + 1
    strong.add("#lines%d" % _bucket(lines, _LINE_EDGES))
    if lines >= 3:
        sp = len(_SPEAKER_LINE.findall(swin, 0, 500))
        if sp >= 2:
            strong.add("#speakers%d" % _bucket(sp, (4, 8)))
        bl = len(_BULLET_LINE.findall(swin, 0, 500))
        if bl >= 2:
            strong.add("#bullets%d" % _bucket(bl, (4, 8)))
    strong.add("#nums%d" % _bucket(sum(map(str.isdigit, toks)), _NUM_EDGES))
    if n:
        if last_text[-40:].rstrip().endswith("?"):
            strong.add("#q")
        sym = sum(map(swin.count, _SYMS))
        strong.add("#sym%d" % _bucket(int(1000 * sym / len(swin)), (5, 15, 30, 60, 100)))
        if n <= 60 and lines == 1:
            first = zone.split(None, 1)
            if first and _WORD_GROUP.get(first[0].strip(",.!?:;")) == "#greet":
                strong.add("#greet_first")
    else:
        strong.add("#notext")

    # ---- conversation shape and context
    roles = [m.get("role") for m in msgs]
    if "system" in roles:
        strong.add("#system")
    if "tool" in roles or any(m.get("tool_calls") for m in msgs):
        strong.add("#tools")
    if roles[-1] == "tool":
        strong.add("#ends_tool")
    elif roles[-1] == "assistant":
        strong.add("#ends_assistant")
    turns = sum(1 for r in roles if r in ("user", "assistant"))
    strong.add("#turns%d" % _bucket(turns, (2, 3, 5)))
    ctx_idx = [i for i in range(len(msgs)) if i != last_user][-CTX_MAX_MSGS:]
    for i in ctx_idx:
        m = msgs[i]
        ctext = _content_text(m.get("content"))
        if not ctext:
            continue
        role = m.get("role")
        ctext = _bound(ctext, CTX_HEAD, CTX_TAIL)
        ccs, ctoks = _tokens(ctext)
        weak.update(ctoks)
        structured = len(ctext) >= 40  # short messages ("Sure, paste it.") carry no structure
        if i > last_user:  # tool output after the last user turn: the material to work on
            if structured:
                _struct(ctext, ccs, "#after", strong)
            _lex(ctoks, ctext.lower(), "#after", strong)
        elif role == "system":
            _lex(ctoks, ctext.lower(), "#sys", strong)
        elif role == "user":
            _lex(ctoks, ctext.lower(), "#prev", strong)
            if structured:
                _struct(ctext, ccs, "#prev", strong)
        elif structured:
            _struct(ctext, ccs, "#asst", strong)
    if n < 120 and turns > 1:
        # short follow-up ("and how do I test that?"): the earlier turns carry the topic
        strong.update(["#fu" + f for f in strong if f.startswith(("#prev#", "#asst#", "#after#"))])
        strong.add("#followup")
    weak.difference_update(strong)
    return strong, weak


# --------------------------------------------------------------------------- hand-rule baseline

_RULE_W: dict[str, tuple[float, float, float, float]] = {
    # simple_chat, code_generation, summarization, complex_reasoning
    "#summ": (0, 0, 3.0, 0),
    "#hsumm": (0, 0, 1.0, 0),
    "#tsumm": (0, 0, 1.0, 0),
    "#proof": (0, 0, 0, 3.0),
    "#tradeoff": (0, 0, 0, 1.5),
    "#steps": (0, 0, 0, 1.5),
    "#math": (0, 0, 0, 1.2),
    "#money": (0, 0, 0, 0.5),
    "#pct": (0, 0, 0, 0.3),
    "#codeword": (0, 1.5, 0, 0),
    "#fence": (0, 2.0, 0, 0),
    "#stack": (0, 2.5, 0, 0),
    "#diff": (0, 2.5, 0, 0),
    "#shell": (0, 1.5, 0, 0),
    "#sql": (0, 2.0, 0, 0),
    "#config": (0, 2.0, 0, 0),
    "#syntax": (0, 1.2, 0, 0),
    "#fix": (0, 0.7, 0, 0),
    "#greet": (1.5, 0, 0, 0),
    "#greet_first": (1.5, 0, 0, 0),
    "#rewrite": (1.5, 0, 0, 0),
    "#explain": (0.3, 0, 0, 0),
    "#logline": (0, 0.5, 0.8, 0),
    "#speakers0": (0, 0, 1.0, 0),
    "#speakers1": (0, 0, 1.5, 0),
    "#speakers2": (0, 0, 2.0, 0),
    "#email": (0, 0, 1.0, 0),
    "#ticket": (0, 0, 0.8, 0),
    "#happened": (0, 0, 1.2, 0),
    "#len0": (1.5, 0, 0, 0),
    "#len1": (1.2, 0, 0, 0),
    "#len2": (1.0, 0, 0, 0),
    "#len3": (0.6, 0, 0, 0.2),
    "#len6": (0, 0, 0.3, 0.3),
    "#len7": (0, 0, 1.0, 0),
    "#len8": (0, 0, 1.5, 0),
    "#len9": (0, 0, 2.0, 0),
    "#len10": (0, 0, 2.5, 0),
    "#len11": (0, 0, 2.5, 0),
    "#nums3": (0, 0, 0, 0.7),
    "#nums4": (0, 0, 0, 1.0),
    "#nums5": (0, 0, 0, 1.2),
}


def rule_scores(strong: set[str]) -> list[float]:
    """Hand-rule baseline scores (the fallback if no weights file, and the comparison baseline)."""
    s = [0.5, 0.0, 0.0, 0.0]
    for f in _RULE_W.keys() & strong:
        w = _RULE_W[f]
        s[0] += w[0]
        s[1] += w[1]
        s[2] += w[2]
        s[3] += w[3]
    return s


# --------------------------------------------------------------------------- model


class _Model:
    """Linear scorer. Weights are packed as two complex numbers per feature, so one C-level
    ``sum(map(...))`` over the matched features accumulates two classes at once."""

    __slots__ = ("alpha", "bias", "w01", "w23", "low_conf", "runner_min")

    def __init__(self, data: dict[str, Any]) -> None:
        if tuple(data["tasks"]) != TASKS:
            raise ValueError("classifier weights were trained for other labels")
        self.alpha = float(data["alpha"])
        self.bias = [float(b) for b in data["bias"]]
        self.w01: dict[str, complex] = {}
        self.w23: dict[str, complex] = {}
        for name, w in data["weights"].items():
            self.w01[name] = complex(w[0], w[1])
            self.w23[name] = complex(w[2], w[3])
        self.low_conf = float(data.get("low_confidence", LOW_CONFIDENCE))
        self.runner_min = float(data.get("runner_up_min", RUNNER_UP_MIN))

    def scores(self, strong: set[str], weak: set[str]) -> list[float]:
        w01, w23 = self.w01, self.w23
        hit = w01.keys() & strong
        a = sum(map(w01.__getitem__, hit), 0j)
        b = sum(map(w23.__getitem__, hit), 0j)
        if weak:
            hitw = w01.keys() & weak
            if hitw:
                al = self.alpha
                a += al * sum(map(w01.__getitem__, hitw), 0j)
                b += al * sum(map(w23.__getitem__, hitw), 0j)
        bias = self.bias
        return [a.real + bias[0], a.imag + bias[1], b.real + bias[2], b.imag + bias[3]]


def _softmax(s: list[float]) -> list[float]:
    m = max(s)
    e = [math.exp(x - m) for x in s]
    t = sum(e)
    return [x / t for x in e]


def load_model(path: Path | str = WEIGHTS_PATH) -> _Model | None:
    try:
        data = orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    return _Model(data)


_MODEL: _Model | None = load_model()


def decide(probs: list[float], low_conf: float = LOW_CONFIDENCE, runner_min: float = RUNNER_UP_MIN) -> Classification:
    """Apply the low-confidence policy to class probabilities (ordered as TASKS)."""
    best = max(range(4), key=probs.__getitem__)
    if probs[best] < low_conf:
        tier = TIER[TASKS[best]]
        alt = -1
        for i in range(4):
            if TIER[TASKS[i]] > tier and probs[i] >= runner_min and (alt < 0 or probs[i] > probs[alt]):
                alt = i
        if alt >= 0:
            best = alt
    return Classification(TASKS[best], round(probs[best], 4))


def classify(messages: list[dict]) -> Classification:
    """Classify an OpenAI-style chat request. Never raises on odd message shapes."""
    try:
        strong, weak = extract_features(messages)
    except Exception:  # malformed input: route to the safe side rather than fail the request
        return Classification("complex_reasoning", 0.0)
    if "#empty" in strong or ("#notext" in strong and not weak and "#image" not in strong):
        return Classification("simple_chat", 0.0)  # nothing to read at all
    model = _MODEL
    if model is None:
        return decide(_softmax(rule_scores(strong)))
    return decide(_softmax(model.scores(strong, weak)), model.low_conf, model.runner_min)
