"""Fixed forms a deliverable may follow, and the rules each one imposes.

A haiku is three lines of 5, 7 and 5 syllables; a limerick rhymes AABBA; a tweet fits in 280
characters. When an idea names such a form, the prompt states its rules so the model does not
have to guess them, and nothing foreign to the form (takeaways, code conventions) is added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CREATIVE_FORMS", "FixedForm", "fixed_form"]

_I = re.IGNORECASE


@dataclass(frozen=True, slots=True)
class FixedForm:
    name: str
    rules: tuple[str, ...]
    creative: bool = False  # a poem or story: no business-writing conventions


_SONNET_PETRARCHAN = FixedForm(
    "Petrarchan sonnet",
    (
        "14 lines of iambic pentameter.",
        "An octave rhyming ABBAABBA, then a sestet (CDECDE or CDCDCD) that turns the argument.",
    ),
    creative=True,
)
_SONNET = FixedForm(
    "Shakespearean sonnet",
    (
        "14 lines of iambic pentameter (ten syllables, five unstressed-stressed beats per line).",
        "Three quatrains and a closing couplet, rhyming ABAB CDCD EFEF GG.",
        "Turn or resolve the theme in the final couplet.",
    ),
    creative=True,
)
_FORMS: tuple[tuple[re.Pattern[str], FixedForm], ...] = (
    (
        re.compile(r"\bhaikus?\b", _I),
        FixedForm(
            "haiku",
            (
                "Three lines of 5, 7 and 5 syllables (17 in all).",
                "One concrete, sensory image; present tense; no title and no rhyme needed.",
            ),
            creative=True,
        ),
    ),
    (
        re.compile(r"\blimericks?\b", _I),
        FixedForm(
            "limerick",
            (
                "Five lines rhyming AABBA.",
                "Anapestic rhythm: lines 1, 2 and 5 have three beats, lines 3 and 4 have two.",
                "End on a comic twist in the last line.",
            ),
            creative=True,
        ),
    ),
    (re.compile(r"\bpetrarchan sonnets?\b|\bitalian sonnets?\b", _I), _SONNET_PETRARCHAN),
    (re.compile(r"\bsonnets?\b", _I), _SONNET),
    (
        re.compile(r"\bacrostics?\b", _I),
        FixedForm(
            "acrostic",
            ("The first letters of the lines spell out the given word or name, in order.",),
            creative=True,
        ),
    ),
    (
        re.compile(r"\bvillanelles?\b", _I),
        FixedForm(
            "villanelle",
            ("19 lines: five tercets and a quatrain, rhyming ABA ... ABAA, with two refrains.",),
            creative=True,
        ),
    ),
    (
        re.compile(r"\bbedtime stor(?:y|ies)\b|\bfairy ?tales?\b|\bfables?\b", _I),
        FixedForm(
            "children's story",
            (
                "Simple words and short sentences a young child can follow when read aloud.",
                "A gentle arc: a small problem, a kind resolution, a calm, reassuring ending.",
            ),
            creative=True,
        ),
    ),
    (
        re.compile(
            r"\b(?:short )?stor(?:y|ies)\b|\bpoems?\b|\bpoetry\b|\bsongs?\b|\blyrics\b|\bverses?\b|\bscenes?\b|"
            r"\bmonologues?\b|\bscreenplays?\b|\bdialogues? between\b",
            _I,
        ),
        FixedForm("creative piece", ("Show through concrete images and actions rather than telling.",), creative=True),
    ),
    (
        re.compile(r"\btweets?\b|\bx post\b", _I),
        FixedForm("tweet", ("At most 280 characters, hashtags included.",)),
    ),
    (
        re.compile(r"\bcover letter\b", _I),
        FixedForm(
            "cover letter",
            (
                "Address the hiring manager or recruiter; under one page (250-400 words).",
                "Tie the applicant's concrete experience to what the role needs; close with a call to interview.",
            ),
        ),
    ),
    (
        re.compile(r"\brelease notes\b|\bchangelog\b", _I),
        FixedForm(
            "release notes",
            ("One line per change, in plain words a user understands; breaking changes first and flagged.",),
        ),
    ),
    (
        re.compile(r"\b(?:instagram|social media|linkedin|facebook|tiktok) (?:captions?|posts?)\b", _I),
        FixedForm("social media caption", ("Short, scannable lines; the hook in the first line.",)),
    ),
    (
        re.compile(r"\bpostgres(?:ql)?\b", _I),
        FixedForm("PostgreSQL query", ("Use PostgreSQL syntax and functions only.",)),
    ),
    (re.compile(r"\bmysql\b", _I), FixedForm("MySQL query", ("Use MySQL 8 syntax and functions only.",))),
    (re.compile(r"\bsqlite\b", _I), FixedForm("SQLite query", ("Use SQLite syntax and functions only.",))),
    (
        re.compile(r"\bbigquery sql\b|\bbigquery query\b", _I),
        FixedForm("BigQuery query", ("Use GoogleSQL (BigQuery) syntax only.",)),
    ),
    (
        re.compile(r"\b(?:google )?sheets? formula\b|\bexcel formula\b|\bspreadsheet formula\b", _I),
        FixedForm(
            "spreadsheet formula",
            ("One formula that works as pasted, with the cell references named; say exactly where to paste it.",),
        ),
    ),
    (
        # a pattern that finds matches inside text must not be anchored to its ends
        re.compile(
            r"\b(?:regex|regular expression)\b.{0,40}\b(?:extract|find|finds|finding|pull|pulls|search|scan|"
            r"highlight|count)\b|\b(?:extract|find|pull|search|scan)\b.{0,40}\b(?:regex|regular expression)\b",
            _I,
        ),
        FixedForm(
            "regular expression",
            (
                "Name the regex flavour; do not anchor the pattern, it finds every match inside a longer text; "
                "list strings it must find and must skip.",
            ),
        ),
    ),
    (
        re.compile(r"\bregex\b|\bregular expression\b", _I),
        FixedForm(
            "regular expression",
            ("Name the regex flavour; anchor the pattern; list strings it must accept and reject.",),
        ),
    ),
)

CREATIVE_FORMS = frozenset(form.name for _, form in _FORMS if form.creative)


_QUERYING = re.compile(r"\bsql\b|\bquer(?:y|ies)\b|\bselect\b|\bjoins?\b|\bviews?\b", _I)


def fixed_form(text: str) -> FixedForm | None:
    """The first fixed form ``text`` names, the most specific first.

    A database's SQL dialect is a form only when the idea asks for a query: "a bash script that
    backs up my Postgres database" names the database a script works on, not a query to write."""
    for pattern, form in _FORMS:
        if pattern.search(text):
            if form.name.endswith(" query") and not _QUERYING.search(text):
                continue
            return form
    return None
