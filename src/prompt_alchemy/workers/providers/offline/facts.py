"""The explicit facts of an idea: its details clause by clause, typed constraints, audience, input.

A good prompt carries every fact the idea states (a budget with its currency, a headcount, a
word limit, named fields, "without X") into its own structure. ``details`` splits the idea into
clauses and words each as a detail in the third person; ``typed_constraints`` recognises the
kinds a constraint can have; ``stated_audience`` names a reader only when the idea states one
(the head of the noun phrase must be a person, not "a senior data engineer role"); ``input_slot``
finds the material the prompt will receive and names a ``{{placeholder}}`` for it.
"""

from __future__ import annotations

import re

from prompt_alchemy.workers.providers.offline.wording import NUMBER_WORDS, dedupe, indefinite

__all__ = ["details", "input_slot", "is_threshold", "stated_audience", "typed_constraints"]

_I = re.IGNORECASE

# ---------------------------------------------------------------- details

_DASHES = "-\u2013\u2014"  # hyphen, en dash, em dash
_CLAUSE = re.compile(rf"\s*(?:[.;!?](?=\s|$)|,(?!\d{{3}})|\s[{_DASHES}]\s|:(?=\s)|\s\+\s|\(|\))\s*")
_LEADING = re.compile(r"^(?:and|but|also|plus|then|so|oh and|please|pls|hey|hi|ok|okay)\b[,\s]*", _I)
_PERSON_SWAPS: tuple[tuple[str, str], ...] = (
    (r"\bI'?m\b", "the user is"),
    (r"\bI am\b", "the user is"),
    (r"\bI'?ve\b", "the user has"),
    (r"\bI have\b", "the user has"),
    (r"\bI own\b", "the user owns"),
    (r"\bI want\b", "the user wants"),
    (r"\bI need\b", "the user needs"),
    (r"\bI\b", "the user"),
    (r"\bmy\b", "the user's"),
    (r"\bme\b", "the user"),
    (r"\bmine\b", "the user's"),
    (r"\bmyself\b", "the user"),
)


def _third_person(text: str) -> str:
    for pattern, replacement in _PERSON_SWAPS:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE if pattern != r"\bI\b" else 0)
    return text


_TOPIC = re.compile(r"^(.{3,60}?)\s+(?:about|on how|on the topic of|explaining|describing)\s+(.{3,})$", _I)


_QUALIFIER = re.compile(
    r"^(.{3,90}?)\s+((?:for|with|in|from|by|using|that|which|where|to|on|at|without|into)\s+.{3,})$", _I
)
_WORD = r"[\w.+#/'-]{1,40}"  # bounded, and an item starts only at a word start: linear on any input
_ITEM = rf"{_WORD}(?: {_WORD})?"
# A run of "item, item, ..." taken whole (possessive: no backtracking), ending in "item and/or word"
# (group 1 set) or in a plain item; each run is read once, so this stays linear on any input.
_ENUMERATION = re.compile(rf"(?<![\w.+#/'-])(?:{_ITEM}, )++(?:{_ITEM},? (?:and|or) ({_WORD})|{_ITEM})", _I)
_KEPT_COMMA = "\u2063"  # an invisible separator standing for a comma inside an enumeration


def _enumerations_kept(idea: str) -> str:
    """ "compare AWS, GCP and Azure": the commas of a list of items joined by and/or do not end a clause."""
    return _ENUMERATION.sub(
        lambda match: match.group(0).replace(",", _KEPT_COMMA) if match.group(1) else match.group(0), idea
    )


def _pieces(idea: str) -> list[str]:
    """The clauses of ``idea``; "X about Y" gives "X" and "Topic: Y"; a one-clause idea is split at its qualifier."""
    pieces: list[str] = []
    for raw in _CLAUSE.split(_enumerations_kept(idea)):
        raw = raw.replace(_KEPT_COMMA, ",")
        topic = _TOPIC.match(raw.strip())
        if topic:
            pieces += [topic.group(1), f"topic: {topic.group(2)}"]
        else:
            pieces.append(raw)
    kept = [piece for piece in pieces if piece.strip()]
    if len(kept) == 1 and (qualified := _QUALIFIER.match(kept[0].strip())):
        return [qualified.group(1), qualified.group(2)]  # "a SQL query" / "for monthly sales"
    return pieces


def details(idea: str, limit: int = 14) -> list[str]:
    """Every clause of the idea that carries something, in the third person, in order."""
    found: list[str] = []
    for raw in _pieces(idea):
        clause = _LEADING.sub("", raw.strip(f" \t\n,;:{_DASHES}\"'")).strip()
        if len(re.findall(r"[A-Za-z0-9€$£#@]", clause)) < 2:
            continue
        clause = _third_person(clause)
        found.append(clause[:1].upper() + clause[1:])
    return dedupe(found)[:limit]


# ---------------------------------------------------------------- typed constraints

_CURRENCY_WORDS = {
    "euro": "EUR",
    "euros": "EUR",
    "eur": "EUR",
    "€": "EUR",
    "dollar": "USD",
    "dollars": "USD",
    "usd": "USD",
    "$": "USD",
    "pound": "GBP",
    "pounds": "GBP",
    "gbp": "GBP",
    "£": "GBP",
    "yen": "JPY",
    "jpy": "JPY",
    "¥": "JPY",
    "chf": "CHF",
    "francs": "CHF",
}
_AMOUNT = r"\d(?:[\d,.']*\d)?\s?(?:[kKmM]\b|thousand\b|million\b)?"
_MONEY_BEFORE = re.compile(rf"([$€£¥])\s?({_AMOUNT})", _I)
_MONEY_AFTER = re.compile(rf"\b({_AMOUNT})\s?(euros?|eur|dollars?|usd|pounds?|gbp|yen|jpy|chf|francs|€|\$|£)", _I)
_THRESHOLD = re.compile(
    r"\b(?:(?:drops?|dropping|falls?|falling|goes|going|rises?|rising|climbs?|climbing|gets?|getting)\s+"
    r"(?:below|under|above|over|past)|exceeds?|exceeding|crosses|crossing)\s+$",
    _I,
)
_MONEY_CONTEXT = re.compile(r"\b(?:budget|cost|spend|price|salary|offer|pay|rent|fee)\b", _I)
_LANGUAGE_NAMES = (
    "English|Spanish|French|German|Italian|Portuguese|Dutch|Japanese|Chinese|Mandarin|Cantonese|Korean|"
    "Arabic|Russian|Polish|Swedish|Norwegian|Danish|Finnish|Turkish|Greek|Hebrew|Hindi|Vietnamese|Thai|"
    "Indonesian|Czech|Ukrainian|Romanian|Hungarian|Catalan|Brazilian Portuguese"
)
_IN_LANGUAGE = re.compile(rf"\b(?:in|into|to)\s+((?:{_LANGUAGE_NAMES})(?:\s+and\s+(?:{_LANGUAGE_NAMES}))?)\b")
_FIELDS = re.compile(
    r"\b(?:fields?|columns?|keys|tables?|properties|attributes)\b\s*(?::|\(|with|named|called)?\s*"
    r"((?:[A-Za-z_][\w ]{0,30}(?:\([^)]*\))?\s*,\s*)+(?:and\s+)?[A-Za-z_][\w]{0,30}(?:\s*\([^)]*\))?)",
    _I,
)
_SCHEMA_TABLE = re.compile(r"\b([a-z_]\w*)\(([a-z_][\w, ]+)\)", _I)
_EXCLUSION = re.compile(
    # not in a relative clause: "my loop that never ends" describes a symptom, it forbids nothing
    r"(?<!\bthat )(?<!\bwhich )(?<!\bwho )(?<!\bit )"
    r"\b(?:without(?: using| admitting| any)?|no|don'?t|do not|never|avoid)\s+(?!more\b|less\b|one\b|longer\b)"
    r"((?:(?!\s(?:and|but|so|then)\s)[^,.;()]){2,60})",
    _I,
)
_SIZE = r"\d+(?:\.\d+)?\s?(?:[kmgt]i?b|bytes|kilobytes|megabytes|gigabytes)"
_SIZE_LIMIT = re.compile(
    r"\b(?:max(?:imum)?(?: of| size)?|up to|at most|limit(?:ed)? to|no (?:more|bigger|larger) than|under)"
    rf"\s*({_SIZE})\b"
    rf"|\b({_SIZE})\s+(?:max(?:imum)?|limit|or less|at most)\b",
    _I,
)
_DEADLINE = re.compile(
    r"\b(?:by|before|until|on|due|closes on|ends on)\s+("
    r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+)?(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December)\s+\d{1,2}(?:st|nd|rd|th)?|"
    r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)|"
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d{1,2}(?:st|nd|rd|th)?|"
    r"\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:January|February|March|April|May|June|July|August|September|October|"
    r"November|December)|\d{4}-\d{2}-\d{2})",
    _I,
)
_COUNTED = re.compile(
    r"\b(\d[\d,.]*%?|(?:two|three|four|five|six|seven|eight|nine|ten|twelve|twenty))[- ]"
    r"((?:[a-z]+[- ]){0,2}?(?:people|persons?|attendees|guests|days?|weeks?|months?|year[- ]olds?|years?|hours?|"
    r"minutes?|min|times|participants?|speakers?|players?|teams?|"
    r"sizes?|questions?|captions?|emojis?|items?|slides?|pages?|words?|characters?|chars?|lines?|bullets?|"
    r"points?|examples?|ideas?|options?|steps?|rounds?|sessions?|nights?|kids?|children|attendees|students?|"
    r"graders?|year[- ]olds?|complaints?|results?|customers?|rows?|seconds?|visitors?|tips?|reasons?))\b",
    _I,
)


def is_threshold(text: str, position: int) -> bool:
    """Whether the amount at ``position`` is one a value moves past ("when the price drops below $50"),
    not a budget to stay within."""
    return _THRESHOLD.search(text, 0, position) is not None


def _money(text: str) -> list[tuple[str, bool]]:
    """(amount with its currency, whether it is a threshold: "when the price drops below $50")."""
    found: list[tuple[str, bool]] = []
    for match in _MONEY_BEFORE.finditer(text):
        amount = f"{match.group(1)}{match.group(2).strip()} ({_CURRENCY_WORDS[match.group(1)]})"
        found.append((amount, is_threshold(text, match.start())))
    for match in _MONEY_AFTER.finditer(text):
        code = _CURRENCY_WORDS.get(match.group(2).lower(), match.group(2).upper())
        found.append((f"{match.group(1).strip()} {code}", is_threshold(text, match.start())))
    return found


def typed_constraints(idea: str) -> list[tuple[str, str]]:
    """(kind, requirement sentence) for every constraint of a recognised kind."""
    found: list[tuple[str, str]] = []
    money = _money(idea)
    if money:
        budget = bool(_MONEY_CONTEXT.search(idea))
        for amount, threshold in money:
            what = "Threshold" if threshold else "Budget" if budget else "Amount"
            found.append(("budget", f"{what}: {amount}; keep this currency, do not convert it."))
    language = _IN_LANGUAGE.search(idea)
    if language:
        found.append(("language", f"Language of the result: {language.group(1)}."))
    for match in _SCHEMA_TABLE.finditer(idea):
        found.append(("field", f"Table {match.group(1)} with columns: {match.group(2).strip()}."))
    for match in _FIELDS.finditer(idea):
        found.append(("field", f"Use exactly these names: {match.group(1).strip()}."))
    for match in _DEADLINE.finditer(idea):
        found.append(("deadline", f"Date that matters: {match.group(1)}."))
    for match in _SIZE_LIMIT.finditer(idea):
        size = (match.group(1) or match.group(2)).replace(" ", "")
        found.append(("number", f"Size limit: {size}; reject anything larger with a clear error."))
    for match in _COUNTED.finditer(idea):
        found.append(("number", f"Keep the figure: {match.group(0)}."))  # as written: "a 4-week plan"
    for match in _EXCLUSION.finditer(idea):
        body = match.group(0).strip()
        found.append(("exclusion", f"Respect the exclusion: {body}."))
    seen: set[str] = set()
    unique: list[tuple[str, str]] = []
    for kind, text in found:
        if text.lower() not in seen:
            seen.add(text.lower())
            unique.append((kind, text))
    return unique


# ---------------------------------------------------------------- audience

_PEOPLE_HEADS = (
    r"people|persons?|users?|customers?|clients?|developers?|devs?|engineers?|programmers?|beginners?|novices?|"
    r"experts?|professionals?|students?|kids|children|child|teens?|teenagers?|managers?|executives?|execs|"
    r"leaders?|leadership|stakeholders?|team|teams|investors?|readers?|audiences?|doctors?|clinicians?|nurses?|"
    r"patients?|lawyers?|teachers?|educators?|parents?|researchers?|scientists?|analysts?|marketers?|"
    r"designers?|recruiters?|employees?|staff|colleagues?|coworkers?|co-workers?|members?|subscribers?|"
    r"followers?|fans?|buyers?|shoppers?|visitors?|board|boss|ceos?|ctos?|cfos?|founders?|director|directors|"
    r"admins?|administrators?|operators?|candidates?|applicants?|donors?|volunteers?|citizens?|travell?ers?|"
    r"tourists?|gamers?|players?|writers?|authors?|editors?|journalists?|partners?|owners?|learners?|"
    r"residents?|tenants?|landlords?|landlady|athletes?|musicians?|artists?|graders?|olds?|someone|anyone|"
    r"everyone|mom|mum|dad|mother|father|grandmother|grandfather|grandma|grandpa|niece|nephew|wife|husband|"
    r"partner|friend|friends|family|photographers?|non-lawyers?|laypeople|public|newcomers?|hires|"
    r"homeowners?|retirees?|seniors|moms|mums|dads|mothers|fathers|audience|interns?|trainees?|apprentices?|"
    r"guests?|attendees|neighbou?rs?|classmates?|alumni|community|sister|brother|son|daughter|grandparents?|"
    r"mentors?|mentees?|coach|coaches|teammates?|supervisors?|professors?|tutors?|aunt|uncle|cousins?|"
    r"boyfriend|girlfriend|fianc[ée]e?|spouse|sponsors?|hosts?"
)
_NP_WORD = r"[\w'&/-]+"
# "explain X to a first-time renter": after "explain ... to a/the", a word naming a doer is a reader
_AGENT_NOUN = r"[a-z][a-z-]*(?:er|or|ist|ian|ant|ent)s?"
_FOR_NP = re.compile(
    rf"\b(?:for|aimed at|targeted at|intended for|written for|geared towards?|suitable for)\s+"
    rf"((?:{_NP_WORD}\s+){{0,5}}?{_NP_WORD})(?=\s*(?:[,.;:!?()]|$|\s+(?:who|that|which|where|to|so|on|in|at|"
    rf"with|about|and|but|because|opening|from|by|before|after|during|ahead)\b))",
    _I,
)
_HONOUREE = re.compile(
    r"\b(?:party|parties|celebration|dinner|lunch|brunch|picnic|trip|holiday|vacation|gifts?|presents?|surprise|"
    r"ceremony|event|shower|reunion|cake|menu|playlist|eulogy|obituary|tribute|memorial|funeral)\s+(?:ideas?\s+)?$",
    _I,
)
_ABOUT_THE_USER = re.compile(
    r"\b(?:bio|biography|profile|about me|about section|resume|résumé|cv|cover letter|personal statement|"
    r"introduce myself|self-introduction|headline)\b",
    _I,
)
_AGE_RANGE = re.compile(r"\b(?:for|aged?)\s+(?:ages?\s+)?(\d{1,2})\s*(?:-|to)\s*(\d{1,2})\b(?!\s*(?:%|am|pm))", _I)
# "a pitch aimed at small law firms": a business reads it too, when the idea says it is aimed at one
_AIMED_AT = re.compile(
    r"\b(?:aimed at|targeted at|targeting|geared towards?|marketed to|pitched to|selling to)\s+"
    r"((?:an?\s+|the\s+|our\s+)?(?:[\w'&-]+\s+){0,3}?[\w'&-]*?(?:firms?|companies|company|businesses|business|agencies|agency|"
    r"startups?|organi[sz]ations?|schools?|hospitals?|clinics?|restaurants?|shops?|stores?|retailers?|brands?|"
    r"practices?|studios?|nonprofits?|charities|charity|teams?))\b",
    _I,
)
_CANDIDATE = re.compile(r"\binterview(?:ing)?\s+(?:\w+\s+){0,2}?questions?\s+$", _I)
_RECIPIENT = re.compile(
    r"\b(?:e-?mail|letter|message|note|memo|reply|response|text|speech|toast|pitch|card|apology|apologies|"
    r"invitation|notice|reminder)\s+to\s+"
    rf"((?:an?\s+|the\s+)?(?:{_NP_WORD}\s+){{0,4}}?(?:{_PEOPLE_HEADS}))\b((?:\s+(?:in|at|of|from)\s+(?-i:[A-Z][\w-]*)(?:\s+(?-i:[A-Z][\w-]*))?)?)",
    _I,
)
_EXPLAIN_TO = re.compile(
    rf"\b(?:explain|explaining|teach|teaching|describe|describing|pitch|present|introduce)\b.{{0,90}}?\bto\s+"
    rf"((?:(?:an?|the|my|our)\s+(?:{_NP_WORD}\s+){{0,3}}?(?:{_AGENT_NOUN}|\d+[- ]year[- ]olds?)"
    rf"|(?:an?\s+|the\s+)?(?:{_NP_WORD}\s+){{0,3}}?(?:{_PEOPLE_HEADS}|\d+[- ]year[- ]olds?))(?![\w-])"
    r"(?:\s+who\s+[^,.;!?]{3,50}?(?=\s+(?:in|under|within|using)\s|[,.;!?]|$))?)",
    _I,
)
_LIKE_IM = re.compile(r"\b(?:like|as if)\s+(?:i'?m|i am)\s+(an?\s+[\w\s-]{2,40}?)(?=[,.;!?]|$)", _I)
_LIKE_AGE = re.compile(
    r"\b(?:like|as if)\s+(?:i'?m|i am)\s+(\d{1,2}|three|four|five|six|seven|eight|nine|ten)(?:\s+years?\s+old)?\b", _I
)
_I_AM = re.compile(
    r"\b(?:i'?m|i am)\s+(an?\s+(?:[\w-]+\s+){0,3}?[\w-]+?)(?=[,.;!?]|\s+(?:so|and|but|who|with)\b|$)", _I
)
_OUR_READERS = re.compile(
    r"\b(?:our|my|the)\s+(readers|followers|audience|users|customers|subscribers|students|listeners|viewers)\s+"
    r"(?:are|is)\s+([^.;!?]{3,60})",
    _I,
)
_SOMEONE_WHO = re.compile(r"\bfor\s+((?:someone|anyone|people|a person|readers)\s+who\s+[^,.;!?]{3,50})", _I)
_NOT_AUDIENCE_START = re.compile(r"^(?:\w+ing\b|the user's \w+ing\b|a total\b|\d)", _I)
_NUMBER_HEAD = re.compile(r"^(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty)\s+", _I)


_USERS = re.compile(
    rf"\b((?:our|my|the)\s+(?:[\w-]+\s+){{0,2}}?(?:{_PEOPLE_HEADS}))\s+(?:can|will|must|should|need to|have to)\s+"
    r"(?:run|use|read|follow|understand|paste|open)\b",
    _I,
)


_THEIR_WORK = (
    r"planning|meeting|review|report|newsletter|sheet|standup|retro|onboarding|deck|presentation|dashboard|"
    r"records|docs|wiki|training|class|course|lesson|handbook|slack|channel|inbox"
)
_SELECTION = re.compile(
    r"\b(?:top|bottom|best|worst|most|least|newest|oldest|latest|first|last|each|every|all|\d+)\b", _I
)


def _possessive_person(phrase: str) -> str | None:
    """ "the product team's sprint planning" -> "the product team" (for their own work, not "my brother's wedding")."""
    match = re.match(
        rf"^((?:{_NP_WORD}\s+){{0,3}}?(?:{_PEOPLE_HEADS}))'s\s+(?:[\w-]+\s+){{0,2}}?(?:{_THEIR_WORK})\b", phrase, _I
    )
    return match.group(1) if match else None


def _people_head(phrase: str) -> bool:
    last = phrase.split()[-1] if phrase.split() else ""
    return bool(re.fullmatch(rf"(?:{_PEOPLE_HEADS})", last, _I)) or bool(
        re.fullmatch(r"\d+[- ]year[- ]olds?|\d+(?:st|nd|rd|th)[- ]graders?", phrase.split(" ", 1)[-1], _I)
    )


def _mine(phrase: str) -> str:
    return re.sub(r"^(?:my|our)\s+", "the user's ", phrase.strip(), flags=_I)


def stated_audience(idea: str) -> str | None:
    """The reader the idea names, or None: a noun phrase counts only when its head is a person."""
    readers = _OUR_READERS.search(idea)
    if readers:
        return f"{readers.group(1)}: {readers.group(2).strip()}"
    someone = _SOMEONE_WHO.search(idea)
    if someone:
        return _mine(someone.group(1))
    for match in _FOR_NP.finditer(idea):
        phrase = match.group(1).strip()
        if _CANDIDATE.search(idea, 0, match.start()):
            continue  # "interview questions for a senior engineer": the candidate answers them, the user asks
        if _HONOUREE.search(idea, 0, match.start()):
            continue  # "a surprise party for my dad": he is who it is for; the one who plans it reads the answer
        owner = _possessive_person(phrase)
        if owner:
            return _mine(owner)
        if _NOT_AUDIENCE_START.match(phrase) and not re.match(r"^\d+[- ]year[- ]olds?|^\d+(?:st|nd|rd|th)", phrase):
            continue
        ages = re.search(r"year[- ]olds?$|graders?$", phrase, _I)
        if _NUMBER_HEAD.match(phrase) and not ages:
            continue  # "for 12 people" is a headcount, not a reader
        if _SELECTION.search(phrase) and not ages:
            continue  # "for the top 10 customers" is what a query selects, not who reads
        if _people_head(phrase):
            return _mine(phrase)
    ages = _AGE_RANGE.search(idea)
    if ages:
        oldest = int(ages.group(2))
        who = "children" if oldest <= 12 else "teenagers" if oldest <= 19 else "people"
        return f"{who} aged {ages.group(1)}-{ages.group(2)}"
    aimed = _AIMED_AT.search(idea)
    if aimed:
        return _mine(aimed.group(1))
    users = _USERS.search(idea)
    if users:
        return _mine(users.group(1))
    recipient = _RECIPIENT.search(idea)
    if recipient:
        return _mine(recipient.group(1) + (recipient.group(2) or ""))
    explained = _EXPLAIN_TO.search(idea)
    if explained:
        return _mine(explained.group(1))
    # "a bio for my profile, I'm a product manager": the user is who it is about, not who reads it
    age = _LIKE_AGE.search(idea)  # "explain blockchain like I'm five"
    if age:
        return indefinite(f"{NUMBER_WORDS.get(age.group(1).lower(), age.group(1))}-year-old")
    like = _LIKE_IM.search(idea) or (None if _ABOUT_THE_USER.search(idea) else _I_AM.search(idea))
    if like:
        return f"the user, {like.group(1).strip()}"
    return None


# ---------------------------------------------------------------- input

_MATERIAL = (
    r"postmortem|post-mortem|contract|abstract|study|paper|article|document|report|transcript|email|emails|"
    r"text|notes|release notes|reviews|comments|survey|csv|spreadsheet|sheet|data|dataset|logs?|code|"
    r"function|handler|script|query|resume|résumé|cv|invoice text|invoice|receipt|statement|balance sheet|"
    r"income statement|essay|draft|chapter|book|story|list of (?:(?!into\b|for\b|to\b|as\b)[\w-]+\s?){1,3}|"
    r"prs|pull requests|minutes|"
    r"agenda|feedback|tickets|messages|file|files|table|results|diff|pr|page|website|recipe|policy|terms"
)
_INPUT = re.compile(
    r"\b(?:this|these|the attached|attached|the following|my|our|from(?: the)?(?: attached)?|given|a)\s+"
    rf"((?:[\w-]+\s+){{0,3}}?(?:{_MATERIAL}))\b",
    _I,
)
_WORKING_ON = (
    r"summari[sz]e|analy[sz]e|review|fix|translate|locali[sz]e|extract|go through|turn|convert|rewrite|"
    r"edit|proofread|explain|parse|classify|compare|read|from|check|improve|refactor|debug|rate|grade|score|"
    r"critique|give feedback on|(?:find|spot) the bugs? in"
)
_INPUT_VERBS = re.compile(rf"\b(?:{_WORKING_ON})\b", _I)


_POINTED = re.compile(
    rf"\b(?:{_WORKING_ON})\s+(?:this|these|the attached|the following)\s+"
    r"((?:[\w-]+\s+){0,2}?[\w-]+?)(?=\s+(?:for|into|to|and|in|on|with|as|so|from|by)\b|[,.;:!?]|$)",
    _I,
)


_FETCHED = re.compile(
    r"\b(?:scrap\w*|fetch\w*|download\w*|crawl\w*|pull\w*|polls?|polling|monitors?|watch(?:es|ing)?)\b[^.;]{0,50}$", _I
)
_DESTINATION = re.compile(r"\b(?:for|into|to|onto|in|on)\s+$", _I)
_NAME_FILLERS = frozenset({"of", "the", "a", "an", "and", "or", "to", "for", "in", "on", "with"})


def input_slot(idea: str) -> tuple[str, str] | None:
    """(description, placeholder name) of the material the prompt will receive, if the idea has one.

    Known kinds of material are found after a determiner; any other noun phrase pointed at with
    "this"/"these"/"the attached" right after a verb that works on material ("review this pull
    request") is the input too."""
    if not _INPUT_VERBS.search(idea):
        return None
    slot = _named_material(idea)
    if slot is not None:
        return slot
    pointed = _POINTED.search(idea)
    if pointed is None:
        return None
    words = [word for word in re.findall(r"[a-z]+", pointed.group(1).lower()) if word not in _NAME_FILLERS]
    name = "_".join(words[-2:]) or "input"
    return f"the provided {pointed.group(1).strip()}", name


def _named_material(idea: str) -> tuple[str, str] | None:
    for match in _INPUT.finditer(idea):
        phrase = match.group(1).strip()
        start = match.group(0).split()[0].lower()
        if start == "a" and not phrase.lower().startswith("list of"):
            continue
        if start == "from" and _FETCHED.search(idea, 0, match.start()):
            continue  # "scrapes job listings from a website": a source the code fetches, not text given
        if start in {"my", "our"} and _DESTINATION.search(idea, 0, match.start()):
            continue  # "a paragraph for our annual report": where the result goes, not what is given
        words = [word for word in re.findall(r"[a-z]+", phrase.lower()) if word not in _NAME_FILLERS]
        head = words[-1] if words else "input"
        if phrase.lower().startswith("list of"):
            head = words[-1]
        name = re.sub(r"[^a-z0-9]+", "_", " ".join(words[-2:]) if len(words) >= 2 else head).strip("_")
        determiner = re.match(r"\b(this|these|the attached|attached|the following|my|our)\b", match.group(0), _I)
        description = f"the provided {phrase}" if determiner else phrase
        return description, name or "input"
    return None
