"""The classifier's hand-rule vocabulary: multilingual word lexicons, phrases and the structural
markers (keywords and punctuation / layout needles) that become ``#`` features.

Pure data, split out of :mod:`gateway.routing.classify` so the feature code in
:mod:`gateway.routing.features` stays readable. Changing anything here changes the features, so
the weights in ``gateway/routing/data/classifier_weights.json`` must be retrained (``scripts/train_classifier.py``).
"""

from __future__ import annotations

# Whole-word lexicons (matched by set intersection with the tokens: cheap).
_WORDS: dict[str, str] = {
    "summ": (
        "summarize summarise summarized summarised summarizing summarising summary summaries tldr gist recap recaps "
        "shorten shrink abridge abridged overview outline "
        "recapping condense condensed synopsis takeaways takeaway nutshell digest highlights cliffnotes upshot rundown "
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
        "inconvénients nachteile vorteile abwägen abwägung abwägungen risiken vantaggi svantaggi vantagens desvantagens плюсы минусы "
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
        "branch formula spreadsheet column columns cell cells vlookup xlookup excel sheets macro vba cli readme config configuration "
        "container pod pods helm ansible playbook manifest crd ingress repo npm pip package library framework "
        "frontend backend database db postgres mysql sqlite mongodb redis kafka http https cors jwt oauth "
        "конфигурацию программу "
        "función fonction funktion funzione função функция функцию скрипт запрос код código codice"
    ),
    "greet": (
        "hi hello hey heyy heyyy yo howdy bye goodbye cheers morning evening "
        "bonjour salut hola hallo ciao buongiorno olá ola "
        "привет здравствуйте hoi dank"
    ),
    "rewrite": (
        "translate translation rewrite rephrase reword paraphrase polite politely friendlier friendly proofread email "
        "draft haiku poem slogan tweet linkedin caption birthday letter note synonym spell spelling "
        "limerick sonnet rhyme rhymes lyrics joke jokes toast speech tagline newsletter invitation congratulations apology "
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
    # premises and conclusions: logic puzzles and "does this follow?" (a word shared with another
    # group stays in the first one, e.g. "logically" in analyze)
    "logic": (
        "premise premises conclusion conclusions conclude follows entail entails entailed entailment deduce "
        "deduced deduction infer inferred inference syllogism contradiction contradicts valid validity invalid "
        "necessarily fallacy riddle puzzle"
    ),
    # words that point at pasted material ("what is this article about?"): a document to condense
    "docref": (
        "article passage paragraph excerpt document doc transcript thread essay report story chapter "
        "following above below attached pasted text writeup post memo minutes notes"
    ),
    "fix": "fix fixes fixing fails fail failing failed broken crash crashes error errors wrong issue doesn works",
    "happened": "happened decided decide decisions decision outcome briefly plain",
    # "write" in other languages: a birthday message as often as a script, so not a code word
    "write": "напиши напишите escribe escribir escreva escrever scrivi scrivere écris écrire schreib schreibe schreiben",
    # gratitude and sign-offs: a short follow-up made only of these closes a conversation (see #ack)
    "thanks": (
        "thanks thank thx ty lifesaver awesome amazing appreciate appreciated merci gracias danke grazie obrigado obrigada спасибо"
    ),
    # arguments and estimates asked for in words
    "argue": (
        "rigorous rigorously argument arguments estimate estimates estimation assumptions assumption reconcile "
        "critique critically flaw flaws hypotheses razona razonar razonamiento argumenta гипотезы гипотезу гипотез оцени "
        "begründe begründung raisonne justifie"
    ),
    # language names: "translate into English", "answer in Portuguese"
    "lang": (
        "english inglés ingles anglais englisch inglese inglês английский spanish español espagnol spanisch "
        "french français francés französisch german deutsch alemán allemand tedesco italian italiano japanese "
        "japonés japonais chinese chino chinois korean russian русский portuguese português portugués hindi arabic"
    ),
    # quantities in words ("half", "twice", "three times"): a word problem with few digits can still have many steps
    "numword": (
        "half halves twice thrice double triple quadruple dozen dozens third thirds quarter quarters fifth "
        "two three four five six seven eight nine ten eleven twelve fifteen twenty hundred thousand"
    ),
    # "the main points" in other languages
    "main": "principais principales principaux principali wichtigsten wichtigste главное главные",
    # softer asks to condense ("bullet points", "make it shorter", "ELI5", "the essentials"): over a
    # pasted document (#h/#t, long turns only) a summary, on their own often chat ("5 bullet points
    # on why I should learn Spanish"), so a group of their own rather than #summ
    "condense": "bullet bullets bulleted bulletpoints shorter essentials eli5 eli10 abridged briefer",
}
# Gazetteers: long lists of names a request may use without any word training has seen ("scrape it
# without selenium", "a Matlab livescript", "an ode to my cat"). Each list counts as the group it
# names, so a name never seen in training carries that group's weight (one feature for hundreds of
# names); a word already in a group above keeps its group. Written from general knowledge of the
# domains; ambiguous words ("swift", "spark", "rails", "novel", "plot", "character") are left out
# or only taken in phrases.
_GAZETTEERS: tuple[tuple[str, str], ...] = (
    # programming languages, notations and data formats
    ("codeword", "python3 py javascript js typescript csharp cplusplus cpp11 cpp17 golang rustlang perl scala haskell "
                 "erlang elixir clojure lisp racket ocaml fsharp fortran cobol pascal delphi matlab octave lua dart "
                 "groovy prolog solidity verilog vhdl asm webassembly wasm zig coffeescript livescript actionscript "
                 "vbscript applescript autohotkey latex markdown xml toml protobuf graphql nosql plsql tsql "
                 "mathematica simulink labview stata spss jsonl parquet avro"),
    # libraries, frameworks, tools and platforms
    ("codeword", "selenium scrapy beautifulsoup bs4 urllib puppeteer playwright cypress matplotlib seaborn plotly "
                 "bokeh sklearn scikit scipy sympy tensorflow keras pytorch torch jax xgboost lightgbm catboost "
                 "huggingface langchain opencv fastapi nestjs nextjs nuxt angularjs svelte jquery tailwind redux "
                 "webpack eslint hibernate laravel symfony dotnet aspnet blazor wpf winforms unity3d godot pygame "
                 "tkinter pyqt gtk flutter xamarin swiftui uikit gradle maven cmake makefile conda virtualenv venv "
                 "pipenv rustc gcc clang llvm jvm junit mocha postman swagger openapi grpc restful websocket "
                 "websockets socketio ajax lodash polars dask pyspark hadoop rabbitmq celery cassandra dynamodb neo4j "
                 "bigquery supabase firebase heroku vercel netlify aws gcp ec2 s3 cloudformation pulumi jenkins "
                 "circleci vagrant virtualbox wsl ubuntu debian centos linux unix macos homebrew vim neovim emacs "
                 "vscode intellij pycharm xcode jupyter colab ipython arduino esp32 stm32 fpga microcontroller "
                 "firmware opengl vulkan directx shader shaders cuda wordpress tomcat vsftpd openssh iptables systemd "
                 "bashrc dotfiles mypy"),
    # protocols and computing concepts
    ("codeword", "tcp udp dhcp ssl ftp sftp smtp imap mime multipart rpc ipv4 ipv6 subnet localhost utf8 unicode ascii "
                 "base64 sha256 md5 bcrypt saml ldap csrf xss sdk ide gui stdin stdout stderr programming programmer "
                 "programmers coding coder codebase algorithm algorithms recursion iterator iterators transpiler "
                 "parser parsing lexer tokenizer bytecode runtime pointer pointers struct structs enum enums typedef "
                 "inheritance polymorphism encapsulation oop subclass superclass constructor destructor getter setter "
                 "closures callback callbacks multithreading multithreaded concurrency mutex deadlock semaphore "
                 "hashmap hashtable hashset linkedlist arraylist bst bfs dfs dijkstra memoization quicksort mergesort "
                 "heapsort bitwise serialization serialize deserialize debugging debugger breakpoint stackoverflow "
                 "refactoring linter linting fullstack devops microservice microservices scraping scraper scrape "
                 "webscraping crawler middleware dataframe dataframes orm crud"),
    # creative writing: forms, genres, craft; role-play
    ("rewrite", "poems poetry poetic poet verse verses stanza stanzas ode ballad elegy epigram acrostic couplet "
                "couplets rhyming song songs jingle rap chorus lullaby stories storytelling storyline novella fiction "
                "fictional fanfiction fanfic fable fables fairytale folktale screenplay screenwriting sitcom skit "
                "monologue soliloquy protagonist antagonist villain villains heroine narrate narration worldbuilding "
                "backstory prologue epilogue cliffhanger vivid imagery metaphor metaphors simile similes alliteration "
                "personification prose whimsical humorous witty playful sarcastic satirical satire parody pun puns "
                "headline headlines motto catchphrase advert advertisement copywriting eulogy obituary vows postcard "
                "creative imaginative brainstorm nickname nicknames roleplay persona impersonate pretend"),
)
_WORD_GROUP: dict[str, str] = {}
for _g, _ws in (*_WORDS.items(), *_GAZETTEERS):
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
    ("#summ", "short", ("short version", "in short")),
    ("#summ", "bottom", ("bottom line",)),
    ("#summ", "catch", ("catch me up",)),
    ("#summ", "lines", ("few lines", "2 lines", "3 lines", "two lines", "three lines", "couple of lines")),
    ("#summ", "sentences", ("few sentences", "two sentences", "three sentences", "2 sentences", "3 sentences",
                            "couple of sentences")),
    # "what is this article about?": a question about pasted material asks for its gist
    ("#summ", "about", ("this about", "it about", "article about", "email about", "thread about", "text about",
                        "story about", "passage about", "document about", "paper about", "post about")),
    ("#summ", "sentence", ("one sentence", "1 sentence")),
    ("#summ", "paragraph", ("one paragraph", "short paragraph")),
    ("#summ", "bullets", ("3 bullets", "three bullets", "few bullets", "5 bullets")),
    ("#proof", "show", ("show that",)),
    ("#proof", "montrer", ("montrer que",)),
    ("#tradeoff", "trade", ("trade-off", "trade off")),
    ("#tradeoff", "better", ("which is better", "which one is better", "what's better", "is it better")),
    ("#tradeoff", "should", ("should we", "should i ")),
    ("#tradeoff", "walk", ("walk me through",)),
    ("#argue", "apart", ("pick this apart", "pick it apart", "pick apart")),
    ("#argue", "holes", ("poke holes",)),
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
    # "don't summarize it, tell me which option is best" / "no code please": the negated class
    ("#nosumm", "summarize", ("don't summarize", "do not summarize", "not summarize", "not to summarize")),
    ("#nosumm", "summary", ("t want a summary", "not a summary", "no summary", "t need a summary")),
    ("#nocode", "code", ("no code", "t want code", "without code", "not code", "t need code")),
    ("#summ", "know", ("need to know",)),
    ("#summ", "stand", ("where things stand",)),
    ("#summ", "liner", ("one-liner", "one liner")),
    ("#thanks", "all", ("that's all", "thats all")),
    ("#thanks", "saved", ("you saved",)),
    ("#rewrite", "subject", ("subject line",)),
    ("#thanks", "good", ("have a good", "have a great")),
    ("#analyze", "if", ("what if ", "and if ", "changes if")),
    ("#condense", "notes", ("cliff notes", "cliffs notes", "cliffnotes")),
    ("#condense", "important", ("most important", "important points", "important bits", "important parts",
                                "what's important", "the important")),
    ("#condense", "facts", ("key facts", "main facts")),
    ("#condense", "version", ("quick version", "brief version", "30-second version", "30 second version",
                              "condensed version", "shorter version")),
    ("#condense", "five", ("like i'm five", "like im five", "like i am five")),
    ("#condense", "5", ("like i'm 5", "like im 5")),
    ("#condense", "english", ("in plain english",)),
    ("#condense", "level", ("high level", "high-level")),
    ("#condense", "words", ("few words", "in brief")),
    ("#condense", "events", ("main events", "key events")),
    ("#condense", "trata", ("de qué trata", "de que trata")),
    ("#condense", "palabras", ("pocas palabras",)),
    ("#condense", "worum", ("worum geht",)),
    ("#condense", "parle", ("de quoi parle",)),
    ("#condense", "parla", ("di cosa parla",)),
    ("#condense", "essentiel", ("l'essentiel",)),
    # role-play set-ups and fiction ("act as a tour guide", "embrace the role of ..."), with the creative gazetteer
    ("#rewrite", "act", ("act as", "act like")),
    ("#rewrite", "role", ("the role of", "a role of", "role-play", "role play", "in the role")),
    ("#rewrite", "yourself", ("picture yourself", "imagine yourself", "put yourself in")),
    ("#rewrite", "character", ("in character", "main character", "fictional character", "character named",
                               "character who", "character sketch", "character arc")),
    ("#rewrite", "speak", ("speak like", "speak as if")),
    ("#rewrite", "talk", ("talk like",)),
    ("#rewrite", "story", ("short story", "bedtime story", "a story about")),
    # "big O": computing complexity
    ("#codeword", "big", ("big o ", "big-o", "big o?")),
):
    _PHRASES[_key] = _PHRASES.get(_key, ()) + tuple((ph, _g) for ph in _phrases)

# A negated request is not that request: "don't summarize it, tell me which option is best" has no
# #summ, "explain it, no code please" no #codeword.
_NEGATES: dict[str, str] = {"#nosumm": "#summ", "#nocode": "#codeword"}

# Words of scripts without spaces are matched through the CJK character bigrams (see _tokens).
_WORDS_INTL: dict[str, str] = {
    "summ": "要約 まとめ まと 一言 要旨 梗概 大意 概述 핵심 要点 概要 总结 總結 概括 摘要 归纳 요약 정리 간추 सारांश संक्षेप सार لخص ملخص تلخيص اختصر "
    "خلاصة resúmelo resúmeme résumez résumer zusammenfassen riassumere кратко сжато",
    "proof": "证明 証明 증명 सिद्ध साबित أثبت برهن докажите демонстрируй démontrez démontrer demuestre demostrar",
    "tradeoff": "优缺 缺点 利弊 权衡 長所 短所 メリ リッ 장단 단점 फायदे नुकसान إيجابيات سلبيات prós contras "
    "nachteile минусы",
    "steps": "途中 步骤 단계 概率 確率 확률 संभावना احتمال étape schritt шагам вероятность 多少 いく 몇 कितना कितने كم 计算",
    "codeword": "代码 代碼 函数 脚本 コー ード 関数 スク 크립 코드 함수 फ़ंक्शन फंक्शन कोड دالة كود برنامج skript "
    "正则 表达 정규 쿼리 查询 クエ 报错 エラ 에러 오류 错误",
    "lang": "英語 英语 英文 영어 中文 日本 日語 日语 한국 영문",
    "docref": "文章 这段 这篇 記事 記録 记录 会议 会議 邮件 口コ 评论 レビ 기사 회의 리뷰 이메",
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
    ("#stack", ("\tat ", "    at ", 'File "', "error[E", "Error:", "Exception:")),
    ("#diff", ("\n+++ ", "\n@@ ", "diff --git", "\n+ ", "\n- \t")),
    ("#shell", ("\n$ ", "PS C:", ":\\>", "~$ ", "| ")),
    ("#syntax", ("=>", "();", "){", ") {", "==", "!=", "&&", "+=", "::", "</", "->", "[]", "{}", "={", "= {", "):")),
    ("#regex", ("\\d+", "\\d{", "\\w+", "\\s+", "\\s*", "[^", "[a-z", "[0-9", "[A-Z", ".*")),
    ("#math", ("\\frac", "\\sqrt", "^", "\\(")),
    ("#money", ("$",)),
    ("#pct", ("%",)),
    ("#quote", ('"""', "\n> ", "<<<", ">>>")),
    ("#url", ("://",)),
    ("#speaker", (":\n", "]: ", "] ")),
    # reference marks of text copied from an encyclopedia ("... endemic to China.[4] It is"): prose, not
    # code (one needle: each needle of the "[" gate is scanned whenever a "[" is in the window)
    ("#cite", (".[",)),
)

_CODE_GROUPS = frozenset(("#fence", "#stack", "#diff", "#shell", "#sql", "#config", "#syntax", "#regex"))

_STRUCT_SUBS_INTL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("#math", ("√", "≤", "≥", "π", "∫", "∑", "≠", "²", "³", "×", "÷")),
    ("#money", ("€", "£", "¥", "₹", "元", "円", "₽")),
)

# --------------------------------------------------------------------------- derived lookup tables
# Built once at import from the data above; they let classify_features find the same matches with
# fewer passes over the text (see its module docstring).

# Gate of a needle: its rarest ASCII punctuation character (document frequency in the training
# data, rarest first). A needle can only occur if its gate character occurs, so one pass that
# collects the gate characters present decides which needles are worth a substring scan.
_RARITY = "\t~@&|*<#^!>`[]\\+%/;=\"_${}()'-:\n?,."


def _gate(needle: str) -> str:
    ranked = [c for c in _RARITY if c in needle]
    return ranked[0] if ranked else ""


_GATED: dict[int, tuple[tuple[str, str], ...]] = {}  # gate byte -> ((needle, group), ...)
_UNGATED_LIST: list[tuple[str, str]] = []  # needles with no punctuation: always scanned
for _name, _subs in _STRUCT_SUBS:
    for _s in _subs:
        _k = _gate(_s)
        if _k:
            _GATED[ord(_k)] = _GATED.get(ord(_k), ()) + ((_s, _name),)
        else:
            _UNGATED_LIST.append((_s, _name))
_UNGATED: tuple[tuple[str, str], ...] = tuple(_UNGATED_LIST)
# bytes.translate tables (a plain 256-byte lookup; str.translate rebuilds its cache from a dict on
# every call, several times slower on short strings). Texts are first encoded to ASCII bytes.
_NOT_GATE_BYTES = bytes(i for i in range(256) if i not in _GATED)  # delete: keeps gate chars only
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
# ASCII word characters kept, every other byte becomes a space, so .split() yields exactly the
# runs of [A-Za-z0-9_] (what the word regex finds in ASCII text)
_WORD_BYTES = bytes(i if chr(i) in _WORD_CHARS else 32 for i in range(256))
_SYMS = "{}();=<>[]_\\|/*+"  # symbol-density characters
_NOT_SYM_BYTES = bytes(i for i in range(256) if chr(i) not in _SYMS)  # delete: keeps symbols only
# Structure keywords are case-sensitive ("SELECT", not "select"), but plain text is tokenised in
# lower case only: a keyword can be a token only if its lower-cased form is one, and only then is
# the keyword itself looked for, as " keyword " in the space-separated, case-kept word runs.
_STRUCT_BY_LOWER: dict[str, tuple[tuple[str, str], ...]] = {}
for _w, _g in _STRUCT_WORDS.items():
    _STRUCT_BY_LOWER[_w.lower()] = _STRUCT_BY_LOWER.get(_w.lower(), ()) + ((f" {_w} ", _g),)
# Every lower-cased token the hand rules react to: its lexicon group, or "" for a word that only
# keys phrases or structure keywords. One intersection with the tokens finds all of them.
_LEX_GROUP: dict[str, str] = {**dict.fromkeys(_STRUCT_BY_LOWER, ""), **dict.fromkeys(_PHRASES, ""), **_WORD_GROUP}
_LEX_KEYS = frozenset(_LEX_GROUP)
_NOT_DIGIT_BYTES = bytes(i for i in range(256) if not 48 <= i <= 57)  # delete: keeps ASCII digits only

# Buckets: feature i of a family fires when i edges are <= the value (bisect_right), and the
# names are built once here rather than formatted per request.
_LEN_EDGES = (12, 25, 45, 80, 140, 250, 450, 800, 1400, 2500, 4500)
_LINE_EDGES = (2, 3, 5, 9, 17, 33)
_NUM_EDGES = (1, 2, 3, 5, 8)
_SYM_EDGES = (5, 15, 30, 60, 100)
_COUNT_EDGES = (4, 8)  # speaker / bullet lines
_TURN_EDGES = (2, 3, 5)


def _names(prefix: str, edges: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(len(edges) + 1))


_LEN_FEATS, _LINES_FEATS, _NUM_FEATS = _names("#len", _LEN_EDGES), _names("#lines", _LINE_EDGES), _names("#nums", _NUM_EDGES)
_SYM_FEATS, _TURN_FEATS = _names("#sym", _SYM_EDGES), _names("#turns", _TURN_EDGES)
_SPEAKER_FEATS, _BULLET_FEATS = _names("#speakers", _COUNT_EDGES), _names("#bullets", _COUNT_EDGES)
_CODE_FEATS = _names("#code", (1, 2, 3))
_EMPTY_TURN = ("#len0", "#lines0", "#nums0", "#notext")
