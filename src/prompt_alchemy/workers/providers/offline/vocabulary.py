"""Word lists the offline prompt engineer reads ideas with: verbs, audiences, inputs, formats, tones.

Kept apart from the analysis code so the heuristics stay readable and the lists easy to extend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


__all__ = [
    "CODE_FORMAT",
    "CODE_LANGUAGES",
    "CONFIG_FILES",
    "CONFIG_LANGUAGES",
    "EDGE_CASES",
    "FORMATS",
    "INPUT_NOUNS",
    "INPUT_VERBS",
    "LIST_FORMAT",
    "PEOPLE_NOUNS",
    "SKELETONS",
    "STOPWORDS",
    "TASK_VERBS",
    "TONES",
    "FormatSpec",
]

TASK_VERBS = _word_set(
    """
    write create build generate make draft compose produce design develop implement code program
    summarize summarise explain describe outline translate rewrite paraphrase edit proofread polish
    review critique analyze analyse compare contrast evaluate assess audit classify categorize
    categorise extract parse convert transform format clean normalize normalise validate check verify
    test debug fix refactor optimize optimise improve plan schedule organize organise list brainstorm
    suggest recommend propose find identify detect calculate compute estimate forecast predict answer
    teach tutor coach help guide prepare research investigate document map model simulate sort filter
    rank score grade label tag scrape fetch search query visualize visualise chart tell name pitch reply
    respond say return act pretend imagine roleplay convince persuade negotiate interview quiz play
    define give show turn rate
    """
)

INPUT_VERBS = (
    "summarize|summarise|translate|analyze|analyse|classify|categorize|categorise|review|proofread|edit|"
    "refactor|rewrite|paraphrase|parse|parses|parsing|convert|converts|clean|cleans|validate|"
    "validates|grade|critique|tag|label|sort|sorts|filter|filters|process|processes|transform|transforms|"
    "normalize|normalise|audit|score|rank|compare|reads|read|takes|accepts|receives|ingests|consumes|rate"
)

PEOPLE_NOUNS = (
    r"people|users?|customers?|clients?|developers?|devs|engineers?|programmers?|beginners?|novices?|"
    r"newcomers?|experts?|professionals?|students?|kids|children|child|teens?|teenagers?|managers?|"
    r"executives?|execs|leaders?|leadership|stakeholders?|teams?|teammates|investors?|readers?|audiences?|"
    r"doctors?|clinicians?|nurses?|patients?|lawyers?|teachers?|educators?|parents?|researchers?|"
    r"scientists?|analysts?|marketers?|designers?|recruiters?|employees?|staff|colleagues?|coworkers?|"
    r"members?|subscribers?|followers?|fans?|buyers?|shoppers?|visitors?|seniors?|adults?|laypeople|"
    r"public|board|boss|ceos?|ctos?|cfos?|founders?|admins?|administrators?|operators?|agents?|"
    r"candidates?|applicants?|donors?|volunteers?|citizens?|travell?ers?|tourists?|gamers?|players?|"
    r"writers?|authors?|editors?|journalists?|partners?|vendors?|suppliers?|everyone|anyone|non-experts?|"
    r"hires|owners?|learners?|residents?|tenants?|landlords?|athletes?|musicians?|artists?|(?:\d+[- ]year[- ]olds?)"
)

INPUT_NOUNS = (
    r"files?|text|texts|articles?|documents?|docs|pdfs?|datasets?|data|csvs?|csv files?|spreadsheets?|"
    r"logs?|log files?|transcripts?|emails?|messages?|code|codebase|repository|repo|urls?|links?|"
    r"web ?pages?|api responses?|json|records?|rows|entries|reviews|tickets|notes|reports?|surveys?|"
    r"survey results|feedback|comments|posts|tweets|images?|screenshots?|strings?|dates?|numbers?|"
    r"lists?|inputs?|queries|questions|resumes?|cvs?|contracts?|invoices?|receipts?|statements?|papers?|"
    r"essays?|chapters?|books?|recipes?|results|metrics|orders?|transactions?|events?|requirements?|"
    r"specs?|specifications?|user stories|descriptions?|tables?|columns?|timestamps?|addresses|names|"
    r"sentences?|paragraphs?|drafts?|manuscripts?|source|sources|excerpts?|content"
)

STOPWORDS = _word_set(
    """
    a an the and or but if then else of to in on at by for with from into onto about as is are was were
    be been being it its this that these those there here i me my we our you your he she they them their
    his her what which who whom whose when where why how all any each every some no not only own same so
    than too very can could should would will shall may might must do does did done doing have has had
    having just also please want need needs like make makes made get gets got use uses using used write
    create help me us one two three etc eg ie via per without within under over more most less least
    such able way thing things something anything everything really good great nice new using very well
    into keep avoid include including don't dont word words short long give
    """
)

TONES = (
    "formal|informal|casual|friendly|warm|professional|persuasive|humorous|funny|witty|playful|serious|"
    "concise|empathetic|enthusiastic|neutral|academic|conversational|confident|inspiring|motivational|"
    "authoritative|respectful|polite|diplomatic|direct|blunt|upbeat|calm|technical|simple|plain|engaging|"
    "heartfelt|sincere|light-?hearted|whimsical|sarcastic|cheerful|heartwarming|reassuring|nostalgic|gentle|"
    "grateful|thankful|appreciative|apologetic|remorseful|sentimental|touching|moving|emotional|skeptical|"
    "sceptical|balanced|objective|critical|personal|romantic|firm|humble|modest|gracious|inspirational|kind|"
    "compassionate|supportive|encouraging"
)

CODE_LANGUAGES: tuple[tuple[str, str], ...] = (
    (r"\bpython\b|\bfastapi\b|\bdjango\b|\bflask\b|\bpandas\b|\bnumpy\b|\bpytest\b|\bpydantic\b", "Python"),
    (r"\btypescript\b|\bts\b", "TypeScript"),
    (r"\bjavascript\b|\bnode(?:\.js|js)?\b|\bjs\b|\breact\b|\bvue\b|\bexpress\.?js\b|\bnext\.js\b", "JavaScript"),
    (
        r"\bgolang\b|\bin go\b|\bgo (?:(?:http|grpc|rest) )?(?:function|program|code|service|module|middleware|handler|"
        r"server|client|cli|package|struct|library|script|tool|worker|api)\b",
        "Go",
    ),
    (r"\brust\b", "Rust"),
    (r"\bjava\b|\bspring boot\b", "Java"),
    (r"\bc#|\bcsharp\b|\.net\b", "C#"),
    (r"\bc\+\+|\bcpp\b", "C++"),
    (r"\bruby\b|\brails\b", "Ruby"),
    (r"\bphp\b|\blaravel\b", "PHP"),
    (r"\bswift\b", "Swift"),
    (r"\bkotlin\b", "Kotlin"),
    (r"\bscala\b", "Scala"),
    (r"\bhaskell\b", "Haskell"),
    (r"\belixir\b", "Elixir"),
    (r"\bbash\b|\bshell script\b|\bzsh\b", "Bash"),
    (r"\bpowershell\b", "PowerShell"),
    (r"\bsql\b|\bpostgres(?:ql)?\b|\bmysql\b|\bsqlite\b|\b(?:database|db|relational|table) schemas?\b", "SQL"),
    (r"\blua\b", "Lua"),
    (r"\bdart\b|\bflutter\b", "Dart"),
    (r"\bjulia\b", "Julia"),
    (r"\bperl\b", "Perl"),
    (r"\bhtml\b|\bcss\b", "HTML/CSS"),
)

# Configuration a tool reads, named as the deliverable ("a docker compose file for a django app"): its
# format is the language, and it is written as configuration, not as a program with an interface.
CONFIG_FILES: tuple[tuple[str, str], ...] = (
    (r"\bdockerfiles?\b", "Dockerfile"),
    (r"\bterraform\b", "Terraform"),
    (
        r"\bdocker[- ]?compose\b|\bcompose (?:file|ya?ml)\b|\bkubernetes\b|\bk8s\b|\bhelm (?:chart|values)\b|"
        r"\bgithub actions?\b|\b(?:github|gitlab|ci) (?:workflow|pipeline)s?\b|\bgitlab[- ]ci\b|\bansible\b|"
        r"\bya?ml\b",
        "YAML",
    ),
)
CONFIG_LANGUAGES = frozenset(name for _, name in CONFIG_FILES)

# Topic words -> the edge cases a careful engineer would name for them. They are matched against the
# idea with counts ("retry 3 times") and the requests code receives ("rate limits requests") taken
# out, and numbers that identify something ("phone numbers") read as identifiers: see
# ``analysis._edge_cases``. A brief keeps the first four that match.
EDGE_CASES: tuple[tuple[str, str], ...] = (
    (
        r"\bintervals?\b|\btime ?slots?\b|\btime ranges?\b|\bdate ranges?\b",
        "touching and nested intervals, unsorted input and an empty list",
    ),
    (
        r"\brolling\b|\bmoving averages?\b|\bwindow(?:ed)? (?:averages?|sums?|functions?)\b",
        "days with no rows, the first days before the window fills, and ties in the ordering",
    ),
    (
        r"\bdates?\b|\btimes?\b(?! ?(?:intervals?|slots?|ranges?))|\bdatetimes?\b|\btimestamps?\b|\biso ?8601\b|"
        r"\btime ?zones?\b",
        "time zones and UTC offsets, leap years, impossible dates such as 2023-02-30",
    ),
    (
        # "daily signups" is a granularity; "runs daily" and "a daily backup" are a schedule
        r"\bcron\w*\b|\bschedul\w*\b|\bnightly\b|\breminders?\b|"
        r"\b(?:runs?|executes?|triggers?|fires?)\s+(?:\w+\s+)?(?:daily|hourly|weekly)\b|"
        r"\b(?:daily|hourly|weekly)\s+(?:jobs?|tasks?|runs?|backups?|exports?|imports?|syncs?)\b|"
        r"\bevery (?:night|day|morning|evening|hour|minute|week|month)\b",
        "daylight-saving changes, runs missed while the machine was off, and two runs overlapping",
    ),
    (
        r"\brate[- ]?limit\w*\b|\bthrottl\w*\b",
        "bursts at a window boundary, many clients at once, and memory for clients that never come back",
    ),
    (
        r"\bidentifiers?\b|\bpost ?codes?\b|\bpostal codes?\b|\bzip codes?\b|\bibans?\b|\bisbns?\b",
        "spaces, dashes and other separators, too few or too many characters, and letters where digits belong",
    ),
    (
        r"\bdisk (?:usage|space)\b|\bmonitor\w*\b|\balerts?\b|\bthresholds?\b|"
        r"\b(?:goes|go|drops?|rises?|falls?|gets?) (?:above|below|over|under)\b",
        "a value exactly at the threshold, the same alert repeating on every run, and the alert itself failing",
    ),
    (r"\bpars(?:e|es|er|ing)\b", "malformed, partial or unexpected input"),
    (r"\bstrings?\b|\btext\b|\bwords?\b", "empty strings, surrounding whitespace and non-ASCII (Unicode) text"),
    (r"\blists?\b|\barrays?\b|\bcollections?\b|\bsequences?\b", "empty collections, a single element and duplicates"),
    (
        r"\bnumbers?\b|\bintegers?\b|\bfloats?\b|\bprices?\b|\bamounts?\b|\bmoney\b|\bcurrenc(?:y|ies)\b|"
        r"\bcosts?\b|\bweights?\b|\bbalances?\b|\bdeposits?\b|\bwithdraw\w*\b|\bpayments?\b|\btransactions?\b|"
        r"\btemperatures?\b|\bcelsius\b|\bfahrenheit\b",
        "zero, negative and very large values, and rounding",
    ),
    (
        r"\bfiles?\b|\bcsv\b|\blogs?\b|\bpaths?\b|\bfolders?\b|\bdirector(?:y|ies)\b|\bpdfs?\b|\bbackups?\b|"
        r"\bbacks? up\b",
        "missing or unreadable files, unexpected encodings and very large files",
    ),
    (
        r"\bendpoints?\b|\bwebhooks?\b|\broutes?\b|\btraffic\b",
        "malformed or oversized requests, missing fields, and the same request arriving twice",
    ),
    (
        r"\bapis?\b(?! keys?| endpoints?| routes?)|\bhttp\b(?! (?:endpoints?|routes?|handlers?|servers?))|"
        r"\brequests?\b|\bfetch(?:es|ing)?\b|\burls?\b|\bs3\b|"
        r"\buploads?\b|\buploading\b|\bdownloads?\b|\bdownloading\b|\bscrap(?:e|er|es|ing)\b|\bwebsites?\b|"
        r"\bweb ?pages?\b|\btelegram\b|\bslack\b|\bdiscord\b|\bsms\b|\btwilio\b",
        "timeouts, non-2xx responses and retries",
    ),
    (
        r"\bmigrations?\b|\balter table\b|"
        r"\b(?:add|adds|drop|drops|rename|renames)\b[\w ]{0,30}\b(?:columns?|indexe?s?)\b",
        "existing rows, long locks on large tables, and a way to roll it back",
    ),
    (r"\bemails?\b(?! (?:columns?|fields?)\b)", "invalid or unusual addresses"),
    (r"\bsort(?:s|ing)?\b|\brank(?:s|ing)?\b", "ties and stable ordering"),
    (r"\basync\b|\bconcurren\w*\b|\bthreads?\b|\bparallel\b", "race conditions, cancellation and shared state"),
    (
        r"\bsql\b|\bdatabases?\b|\bquer(?:y|ies)\b|\b(?:db|database|sql) tables?\b",
        "NULLs, empty results and injection-safe parameters",
    ),
    (
        r"\bpasswords?\b|\bauth\w*\b|\btokens?\b|\bsecrets?\b|\bsecurity\b|\bapi keys?\b",
        "secrets never logged, constant-time comparison and input validation",
    ),
    (r"\bjson\b|\byaml\b|\bxml\b", "invalid documents, missing keys and unexpected types"),
    (r"\bcache\b|\bcaching\b", "stale entries, eviction and concurrent updates"),
    (r"\brecurs\w*\b|\btrees?\b|\bgraphs?\b", "deep nesting, cycles and empty structures"),
    (r"\bpaginat\w*\b", "an empty result, a last page that is not full and a page past the end"),
)


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """An output format the idea asks for, and the contract lines that pin it down."""

    key: str
    label: str
    contract: tuple[str, ...]
    skeleton: str | None = None


def _spec(key: str, label: str, *contract: str, skeleton: str | None = None) -> FormatSpec:
    return FormatSpec(key, label, contract, skeleton)


# Most specific first: the first match is the primary output format.
FORMATS: tuple[tuple[re.Pattern[str], FormatSpec], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), spec)
    for pattern, spec in (
        (
            r"\bjson\b",
            _spec(
                "json",
                "JSON",
                "Return valid JSON only: no prose before or after it and no code fences.",
                "Use double-quoted keys and no trailing commas; keep key names stable.",
                skeleton='{\n  "key": "value"\n}',
            ),
        ),
        (r"\bya?ml\b", _spec("yaml", "YAML", "Return valid YAML only, with no prose around it.")),
        (r"\bxml\b", _spec("xml", "XML", "Return one well-formed XML document with a single root element.")),
        (r"\bcsv\b", _spec("csv", "CSV", "Return CSV with a header row; quote fields that contain commas.")),
        (
            r"\bmarkdown tables?\b|\btables?\b|\btabular\b",
            _spec(
                "table",
                "Markdown table",
                "Present the result as a Markdown table with a header row, one row per item.",
                skeleton="| Item | Detail |\n|---|---|\n| ... | ... |",
            ),
        ),
        (
            r"\bsql\b",
            _spec("sql", "SQL", "Return the SQL in one fenced ```sql block, then one sentence per non-obvious clause."),
        ),
        (
            r"\bregex(?:es)?\b|\bregular expressions?\b",
            _spec(
                "regex",
                "regular expression",
                "Give the regular expression in a fenced block, name the regex flavour, "
                "and list strings it must match and must not match.",
            ),
        ),
        (
            r"\bunit tests?\b|\btest cases?\b|\btest suite\b",
            _spec(
                "tests",
                "tests",
                "Return the tests in one fenced code block, one test per behaviour, with descriptive names.",
            ),
        ),
        (
            r"\b(?:code|function|class|script|program|method|snippet|implementation|cli|endpoint|component|"
            r"module|handler|hook|cron job|job|worker|service|library|package|bot|migration|decorator|parser|"
            r"middleware|plugin|webhook)\b",
            _spec(
                "code",
                "code",
                "Return the code in one fenced code block tagged with its language.",
                "After the code, explain key decisions in at most three sentences.",
            ),
        ),
        (
            r"\bproduct requirements? documents?\b|\bprds?\b|\b(?:technical |software )?design docs?\b|"
            r"\b(?:product |technical |feature )specs?\b|\bspecifications?\b",
            _spec(
                "spec",
                "specification",
                "Structure it as a specification: problem and goals, non-goals, users and their needs, "
                "requirements (must / should / could), success metrics, risks and open questions, each under "
                "its own heading.",
            ),
        ),
        (
            r"\bpress releases?\b|\bnews releases?\b",
            _spec(
                "press_release",
                "press release",
                "Write it as a press release: a headline, a dateline and a lead paragraph that answers who, what, "
                "when and why, a quote, the details, an 'About' paragraph and a media contact.",
            ),
        ),
        (
            r"\bheadlines?\b|\btaglines?\b|\bslogans?\b|\bsubject lines?\b|\bcaptions?\b|\btitles? for\b",
            _spec(
                "short_copy",
                "short copy",
                "Give the best option first, then up to four alternatives, one per line, each under 12 words.",
            ),
        ),
        (
            r"\b(?:an?|the|follow-up|cold|reply|short|polite|formal) e-?mail\b|\be-?mails? (?:to|for|reply|template)\b",
            _spec(
                "email",
                "email",
                'Start with a subject line ("Subject: ..."), then the greeting, a short body and a sign-off.',
                skeleton="Subject: ...\n\nHi ...,\n\n...\n\nBest,\n...",
            ),
        ),
        (
            r"\bcover letters?\b|\bletters?\b",
            _spec("letter", "letter", "Write it as a letter: greeting, body paragraphs, closing and signature line."),
        ),
        (
            r"\bnumbered list\b|\bstep[- ]by[- ]step\b|\bsteps\b|\binstructions\b|\btroubleshooting\b",
            _spec("numbered", "numbered list", "Use a numbered list, one action per step, in the order they are done."),
        ),
        (
            r"\bchecklists?\b",
            _spec("checklist", "checklist", 'Use a checklist: one verifiable item per line, starting with "- [ ]".'),
        ),
        (
            r"\bquiz(?:zes)?\b|\bmultiple[- ]choice\b|\btrivia questions\b",
            _spec(
                "quiz",
                "quiz",
                "Number the questions; give each one's options on their own lines (A-D for multiple choice), "
                "then the correct answer, or put all the answers in a key at the end.",
            ),
        ),
        (
            r"\bbullet(?:ed)?(?: points?| list)?\b|\bbullets\b|\btalking points\b",
            _spec(
                "bullets", "bulleted list", "Use a bulleted list, one idea per bullet, each bullet one or two lines."
            ),
        ),
        (
            r"\ba list of\b|\blist (?:the|all|some)\b|\bideas\b|\bsuggestions\b|\baction items\b|"
            r"\b(?:grocery|shopping|packing|reading|to-?do|guest|bucket|wish) lists?\b",
            _spec(
                "list", "numbered list", "Return a numbered list, one item per line, each with a one-line rationale."
            ),
        ),
        (
            r"\btweets?\b|\bx posts?\b",
            _spec("tweet", "tweet", "Keep each post within 280 characters, hashtags included."),
        ),
        (
            r"\bslides?\b|\bpresentations?\b|\bdecks?\b",
            _spec("slides", "slides", "Give one section per slide: a title, three to five bullets and a speaker note."),
        ),
        (
            r"\bdiagrams?\b|\bmermaid\b|\bflowcharts?\b",
            _spec("diagram", "diagram", "Return the diagram as Mermaid in one fenced ```mermaid block."),
        ),
        (
            r"\bfaqs?\b",
            _spec(
                "faq",
                "FAQ",
                "Write question-and-answer pairs: the question in bold, the answer in two to four sentences.",
            ),
        ),
        (
            r"\boutlines?\b",
            _spec("outline", "outline", "Return a hierarchical outline: numbered headings with short sub-points."),
        ),
        (
            r"\b(?:a|one|two|three|four|five|\d+|short|single|professional|cohesive|flowing) paragraphs?\b",
            _spec("prose", "prose", "Write it as flowing prose in full paragraphs: no headings, no bullets."),
        ),
        (
            r"\breports?\b",
            _spec(
                "report",
                "report",
                "Structure it as a report: a summary first, then findings, "
                "then recommendations, each under its own heading.",
            ),
        ),
        (
            r"\bsummar(?:y|ies|ize|ise|izes|ises)\b|\btl;?dr\b",
            _spec(
                "summary",
                "summary",
                "Lead with the single most important point, then the supporting points in order of importance.",
            ),
        ),
        (
            r"\bplans?\b|\broadmaps?\b|\bschedules?\b|\bitinerar(?:y|ies)\b|\bagenda\b|\bcalendars?\b",
            _spec(
                "plan",
                "plan",
                "Organise it by day, phase or period, each with concrete actions (and times, costs or "
                "owners where they matter).",
            ),
        ),
        (
            r"\bpoems?\b|\bhaikus?\b|\bsonnets?\b|\blimericks?\b|\blyrics\b",
            _spec("poem", "poem", "Return only the poem, with its title on the first line."),
        ),
        (
            r"\bstor(?:y|ies)\b|\bfables?\b|\bfiction\b",
            _spec("story", "story", "Return only the story: a clear beginning, middle and end."),
        ),
        (
            r"\b(?:linkedin|facebook|instagram|reddit|mastodon|bluesky|threads|social(?: media)?) posts?\b",
            _spec(
                "social_post",
                "social media post",
                "Write it as one post: the hook in the first line, short paragraphs of one or two lines, "
                "no headings, and a closing line that invites a response.",
            ),
        ),
        (
            r"\bessays?\b|\barticles?\b|\bblog(?: posts?)?\b|\bposts?\b|\bnewsletters?\b",
            _spec(
                "article",
                "article",
                "Give it a title, a short opening that states the point, sub-headed sections and a brief conclusion.",
            ),
        ),
        (
            r"\bmarkdown\b",
            _spec("markdown", "Markdown", "Format the answer as Markdown with headings and lists where they help."),
        ),
    )
)

LIST_FORMAT = next(spec for _, spec in FORMATS if spec.key == "list")
CODE_FORMAT = next(spec for _, spec in FORMATS if spec.key == "code")

# The shape of a good answer, for formats whose own spec has no skeleton.
SKELETONS: dict[str, str] = {
    "list": "1. <item>: <one-line rationale>\n2. <item>: <one-line rationale>\n3. ...",
    "numbered": "1. <first action>\n2. <next action>\n3. ...",
    "bullets": "- <point>\n- <point>\n- ...",
    "checklist": "- [ ] <verifiable item>\n- [ ] <verifiable item>",
    "summary": "<the single most important point, in one sentence>\n- <supporting point>\n- <supporting point>",
    "article": "# <Title>\n\n<Opening that states the point>\n\n## <Section>\n<...>\n\n## Conclusion\n<...>",
    "report": "## Summary\n<...>\n\n## Findings\n1. <finding>: <evidence>\n\n## Recommendations\n1. <...>",
    "plan": "## <Phase or period>\n- <action> (owner, deadline)\n\n## <Next phase>\n- ...",
    "faq": "**<Question>?**\n<Answer in two to four sentences.>",
    "outline": "1. <Heading>\n   1.1 <Sub-point>\n2. <Heading>",
    "slides": "Slide 1: <Title>\n- <bullet>\n- <bullet>\nSpeaker note: <...>",
    "letter": "Dear <name>,\n\n<body>\n\nSincerely,\n<signature>",
}
