"""The offline idea analyser: what the idea says, read into a brief, and kept by every phase.

These ideas are not the evaluation set's: they check the same kinds of reading (persona from the
deliverable, audience only when stated, budgets with their currency, fixed-form rules, an input
slot) on different words.
"""

from __future__ import annotations

import json
import re

import pytest

from prompt_alchemy.schemas.brief import AnalyzeRequest, ConstraintKind
from prompt_alchemy.schemas.common import Persona, Phase, TargetFamily
from prompt_alchemy.schemas.providers import ChatMessage, CompletionRequest, GenerationHints
from prompt_alchemy.workers.providers import OfflinePromptEngineer
from prompt_alchemy.workers.providers.offline import analyse
from prompt_alchemy.workers.providers.offline.briefing import analyze_idea
from prompt_alchemy.workers.providers.offline.judge import judge_reply
from prompt_alchemy.workers.providers.offline.phases import example_shape
from prompt_alchemy.workers.providers.offline.requirements import to_requirement

engineer = OfflinePromptEngineer()


def prompt_for(
    idea: str, phase: Phase = Phase.COAGULATIO, persona: Persona = Persona.GENERIC, *, fixed: bool = False
) -> str:
    hints = GenerationHints(phase=phase, persona=persona, persona_fixed=fixed, idea=idea)
    request = CompletionRequest(messages=[ChatMessage(role="user", content=idea)], temperature=0.0, hints=hints)
    return engineer.respond(request)


@pytest.mark.parametrize(
    ("idea", "persona"),
    [
        ("a short poem about the java sea at dawn", Persona.WRITING),
        ("tell a story for my nephew about a ruby that wants to be a pebble", Persona.WRITING),
        ("go function that retries an HTTP call with exponential backoff", Persona.CODE),
        ("javascript regex for validating hex colour codes", Persona.CODE),
        ("summarise these customer interview notes and list the top pain points", Persona.ANALYSIS),
        ("weekend itinerary for Lisbon with a toddler", Persona.GENERIC),
        ("thank-you email to the volunteers who ran the charity bake sale", Persona.WRITING),
        # the README's own example: the deliverable named first is code; the email is its data
        ("a function that validates email addresses, for junior developers", Persona.CODE),
        ("an email to my landlord about the broken heater", Persona.WRITING),
    ],
)
def test_the_persona_comes_from_what_the_idea_is_about(idea: str, persona: Persona) -> None:
    assert analyse(idea).persona is persona


@pytest.mark.parametrize(
    ("idea", "audience"),
    [
        ("resume summary for a junior product designer position at an agency", None),
        ("book a dinner for 8 people in Rome next Friday", None),
        ("python script that emails the weekly report to all managers", None),
        ("explain compound interest to a 12-year-old", "a 12-year-old"),
        ("one-page brief on our Q2 churn for the board", "the board"),
        ("write a welcome note to our new interns", "the user's new interns"),
    ],
)
def test_an_audience_is_named_only_when_the_idea_states_one(idea: str, audience: str | None) -> None:
    assert analyse(idea).audience == audience


def test_a_budget_keeps_its_currency_and_a_headcount_is_not_an_audience() -> None:
    brief = analyze_idea(AnalyzeRequest(input="organise a wedding dinner for 40 guests on a 3k GBP budget"))
    budgets = [item.text for item in brief.constraints if item.kind is ConstraintKind.BUDGET]
    assert budgets
    assert all("GBP" in text for text in budgets)
    assert brief.audience is None
    numbers = [item.text for item in brief.constraints if item.kind is ConstraintKind.NUMBER]
    assert any("40 guests" in text for text in numbers)


def test_a_fixed_form_states_its_rules_and_none_foreign_to_it() -> None:
    prompt = prompt_for("limerick about a cat who learned to open the fridge")
    assert re.search(r"AABBA", prompt)
    assert not re.search(r"typed parameters|unit tests|takeaway|professional tone", prompt, re.I)
    haiku = prompt_for("haiku about the python curled on a warm rock")
    assert "5, 7 and 5 syllables" in haiku
    assert not re.search(r"\bpython (?:code|function|engineer)|PEP ?8|docstring", haiku, re.I)


def test_material_the_prompt_receives_gets_a_placeholder() -> None:
    brief = analyze_idea(AnalyzeRequest(input="summarise this board meeting transcript into action items"))
    assert brief.input is not None
    assert re.fullmatch(r"\{\{\w+\}\}", brief.input.placeholder)
    assert brief.input.placeholder in prompt_for("summarise this board meeting transcript into action items")


def test_no_fragment_is_taken_for_the_input() -> None:
    prompt = prompt_for("turn a list of support tickets into a weekly summary for the support lead")
    assert not re.search(r"Input: an? \w+\.", prompt)


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("family", list(TargetFamily))
@pytest.mark.parametrize("persona", list(Persona))
def test_every_phase_persona_and_family_keeps_every_element_of_the_brief(
    phase: Phase, family: TargetFamily, persona: Persona
) -> None:
    idea = "sonnet for my sister's graduation from nursing school, mention her night shifts, in Spanish"
    hints = GenerationHints(phase=phase, target_family=family, idea=idea, persona=persona, persona_fixed=True)
    prompt = engineer.respond(
        CompletionRequest(messages=[ChatMessage(role="user", content=idea)], temperature=0.0, hints=hints)
    )
    stripped = prompt.replace(idea, " ")
    for fact in (r"14 lines", r"iambic pentameter", r"night shifts", r"\bSpanish\b", r"nursing school"):
        assert re.search(fact, stripped), (phase, family, persona, fact)


def test_a_persona_the_engine_fixed_is_kept_even_when_generic() -> None:
    idea = "python function that merges two sorted lists"
    assert "engineer" in prompt_for(idea).splitlines()[0]
    assert "engineer" not in prompt_for(idea, persona=Persona.GENERIC, fixed=True).splitlines()[0]


def test_the_brief_names_its_persona_and_why() -> None:
    brief = analyze_idea(AnalyzeRequest(input="haiku about rust on an old gate"))
    assert brief.persona is Persona.WRITING
    assert brief.persona_reason
    assert brief.form is not None
    assert brief.form.name == "haiku"
    asked = analyze_idea(AnalyzeRequest(input="haiku about rust on an old gate", persona=Persona.CODE))
    assert asked.persona is Persona.CODE


def test_the_offline_judge_sinks_a_prompt_that_misreads_the_idea() -> None:
    idea = "write me a poem about the sea"
    read = prompt_for(idea)
    misread = (
        "You are a senior software engineer.\n\n## Task\nWrite a poem about the sea.\n\n## Requirements\n"
        "1. Never invent facts, figures, names, quotes or sources.\n2. End with a clear takeaway.\n"
        "3. Define typed parameters and the return type.\n4. Include unit tests.\n\n## Output format\n"
        "Return a markdown report with an executive summary. Keep it under 400 words.\n"
    )
    message = f'<candidate index="0">{read}</candidate><candidate index="1">{misread}</candidate>'
    verdict = json.loads(judge_reply(message, idea, Persona.GENERIC))
    scores = {item["index"]: item for item in verdict["scores"]}
    assert verdict["best_index"] == 0
    assert scores[1]["score"] < 0.5
    assert "foreign to the deliverable" in scores[1]["reason"]
    assert scores[0]["score"] > 0.8


@pytest.mark.parametrize(
    "idea",
    ["sql for the top 10 customers, postgres", "a toast for my brother's wedding", "regex for all valid emails"],
)
def test_what_a_query_selects_or_an_occasion_is_not_an_audience(idea: str) -> None:
    assert analyse(idea).audience is None


# -- general reading rules found on new ideas (each test names the rule, on words of its own) ----------


def test_a_database_a_script_works_on_is_not_an_sql_dialect_form() -> None:
    script = analyze_idea(AnalyzeRequest(input="a python script that exports my MySQL tables to parquet files"))
    assert script.form is None  # the script is not a query: no "Use MySQL 8 syntax only"
    query = analyze_idea(AnalyzeRequest(input="a MySQL query listing orders without invoices"))
    assert query.form is not None
    assert query.form.name == "MySQL query"


def test_a_compound_is_not_the_topic_its_last_word_looks_like() -> None:
    # "SQL injection" is an attack (not the SQL language); a "merge request" is no HTTP request
    brief = analyse("audit this merge request for command injection and SQL injection risks", Persona.CODE)
    assert brief.language is None
    assert not any("non-2xx" in case or "NULLs" in case for case in brief.edge_cases)


def test_commas_inside_an_and_or_enumeration_do_not_split_a_clause() -> None:
    brief = analyze_idea(AnalyzeRequest(input="rank Paris, Lisbon or Prague for a 3-day winter trip"))
    assert any("Paris, Lisbon or Prague" in detail for detail in brief.details)
    assert not any(detail.strip() in {"Rank Paris", "Lisbon or Prague"} for detail in brief.details)


@pytest.mark.parametrize(
    ("idea", "audience"),
    [
        ("explain how compound interest works to a 16 year old who just opened a savings account", "16 year old who"),
        ("explain what a mortgage offer's early repayment charge means to a first-time buyer", "first-time buyer"),
    ],
)
def test_explaining_to_a_reader_names_that_reader_with_what_the_idea_says_of_them(idea: str, audience: str) -> None:
    brief = analyze_idea(AnalyzeRequest(input=idea))
    assert brief.audience is not None
    assert audience in brief.audience
    # the topic and the reader become two details, so a prompt carries both in its own structure
    assert len(brief.details) >= 2


def test_a_noun_pointed_at_right_after_a_working_verb_is_the_input() -> None:
    brief = analyze_idea(AnalyzeRequest(input="check this terraform plan for resources that would be destroyed"))
    assert brief.input is not None
    assert brief.input.placeholder == "{{terraform_plan}}"
    assert "{{terraform_plan}}" in prompt_for("check this terraform plan for resources that would be destroyed")


def test_turn_x_into_y_is_a_transformation_whose_result_follows_into() -> None:
    brief = analyze_idea(AnalyzeRequest(input="turn these meeting notes into a list of action items with owners"))
    assert brief.task.startswith("Turn these meeting notes into")
    assert brief.deliverable == "a list of action items"


def test_a_word_followed_by_of_opens_a_noun_phrase_not_an_imperative() -> None:
    brief = analyze_idea(AnalyzeRequest(input="list of 12 icebreaker questions for a remote team"))
    assert brief.task.startswith("Create a list of 12 icebreaker questions")


@pytest.mark.parametrize(
    ("idea", "persona"),
    [
        # a framework or runtime next to a code noun reads like a language
        ("a vue component that lists open invoices with a filter box", Persona.CODE),
        ("a django view that exports the orders of one customer", Persona.CODE),
        # the noun first, the language after it; the email is what the job sends
        ("a cron job in node.js that emails each subscriber a weekly digest", Persona.CODE),
        ("a web scraper in go that collects the prices of a product page", Persona.CODE),
        # a post on a social network is a piece of writing
        ("a LinkedIn post thanking the volunteers of our meetup", Persona.WRITING),
    ],
)
def test_a_framework_a_runtime_or_a_social_network_names_the_persona(idea: str, persona: Persona) -> None:
    assert analyse(idea).persona is persona


def test_a_count_of_times_is_not_a_date_topic() -> None:
    brief = analyse("python script that compresses new images in a folder, retry each one 3 times")
    assert not any("leap years" in case for case in brief.edge_cases)
    assert any("unreadable files" in case for case in brief.edge_cases)  # a folder holds files


def test_uploads_bring_network_cases_and_a_rate_limiter_its_own() -> None:
    uploads = analyse("python function that uploads finished reports to S3")
    assert any("timeouts" in case for case in uploads.edge_cases)
    limiter = analyse("rust middleware that rate limits requests per API key")
    assert any("window boundary" in case for case in limiter.edge_cases)
    # the requests are what it counts, not calls it makes: no HTTP client cases
    assert not any("non-2xx" in case for case in limiter.edge_cases)


def test_a_scheduled_job_names_the_cases_of_a_schedule() -> None:
    brief = analyse("a bash script that cleans the tmp folder every night")
    assert any("daylight-saving" in case for case in brief.edge_cases)


def test_the_answer_of_a_code_task_is_code_even_when_it_shows_a_table() -> None:
    brief = analyse("a svelte component that shows a sortable table of orders")
    assert brief.primary_format is not None
    assert brief.primary_format.key == "code"
    assert "Markdown table" not in prompt_for("a svelte component that shows a sortable table of orders")


def test_a_social_network_post_is_not_also_an_article() -> None:
    prompt = prompt_for("a LinkedIn post about our new parental leave policy, warm, no emojis")
    assert "sub-headed sections" not in prompt
    assert "no headings" in prompt


def test_every_stated_tone_is_kept_with_its_article() -> None:
    assert analyse("a toast for my best friend's 40th birthday, cheeky but heartfelt").tones[-1] == "heartfelt"
    assert "Use an upbeat tone" in prompt_for("an upbeat announcement of our summer opening hours")


def test_the_role_interview_questions_are_for_is_not_the_audience() -> None:
    brief = analyze_idea(AnalyzeRequest(input="interview questions for a junior backend developer, on databases"))
    assert brief.audience is None


def test_a_figure_is_read_whole_and_a_length_is_not_repeated_as_a_figure() -> None:
    prompt = prompt_for("describe photosynthesis for my 8 year old, in under 120 words")
    assert "Keep the figure: 8 year old." in prompt
    assert "Length: under 120 words." in prompt
    assert "Keep the figure: 120 words" not in prompt
    assert "Keep the figure: 4 times." in prompt_for("a SQL query listing users who logged in more than 4 times")


def test_weighing_options_with_no_data_given_does_not_ask_to_stay_within_data() -> None:
    prompt = prompt_for("compare Kafka and RabbitMQ for a team of 4 building an order pipeline")
    assert "Use only the data provided" not in prompt
    assert "trade-offs" in prompt
    assert "recommendation" in prompt
    # figures that are data keep the data rules
    assert "Use only the data provided" in prompt_for("open rate 21.4% vs 18.9% on 3,200 sends: which subject won?")


@pytest.mark.parametrize(
    ("idea", "language"),
    [
        ("a docker compose file for a rails app with mysql", "YAML"),
        ("write a dockerfile for my flask service", "Dockerfile"),
        ("terraform for an S3 bucket with versioning on", "Terraform"),
    ],
)
def test_configuration_named_first_is_written_as_configuration(idea: str, language: str) -> None:
    brief = analyse(idea)
    assert brief.language == language
    prompt = prompt_for(idea)
    assert "DevOps engineer" in prompt
    assert "typed parameters" not in prompt
    assert "unit tests" not in prompt


def test_a_language_named_before_configuration_keeps_the_program() -> None:
    assert analyse("a python script that scales a kubernetes deployment at night").language == "Python"


def test_a_number_that_identifies_something_is_validated_not_computed() -> None:
    brief = analyse("a regex for UK mobile phone numbers with or without +44")
    assert any("separators" in case for case in brief.edge_cases)
    assert not any("rounding" in case for case in brief.edge_cases)


def test_a_count_with_max_after_it_is_an_upper_bound() -> None:
    assert "Give at most 3 hashtags." in prompt_for("a tweet about our bakery's new sourdough, 3 hashtags max")


def test_no_x_allowed_reads_as_a_prohibition() -> None:
    assert to_requirement("no overdue renewals allowed") == "Allow no overdue renewals."
    assert to_requirement("no emojis") == "Use no emojis."
    assert "Use no negative" not in prompt_for("a kotlin class for a wallet, no negative balances allowed")


def test_who_an_event_or_a_gift_is_for_is_not_the_audience_and_an_amount_ends_with_a_digit() -> None:
    brief = analyze_idea(
        AnalyzeRequest(input="plan a retirement dinner for my boss, 25 guests, budget $1,500, at home")
    )
    assert brief.audience is None
    assert any("$1,500 (USD)" in constraint.text for constraint in brief.constraints)
    assert analyse("a thank-you note to my coach after the season").audience == "the user's coach"
    assert "Stay within a budget of €600." in prompt_for("a weekend in Rome for two, under €600, with a cooking class")


def test_a_system_prompt_for_an_assistant_is_that_assistant_s_role() -> None:
    brief = analyse("a system prompt for a booking assistant for a dental clinic, friendly, never give medical advice")
    assert brief.mode == "role"
    assert brief.role == "a booking assistant for a dental clinic"
    prompt = prompt_for(
        "a system prompt for a booking assistant for a dental clinic, friendly, never give medical advice"
    )
    assert prompt.startswith("You are a booking assistant for a dental clinic.")
    assert "Keep a friendly tone in every reply." in prompt


def test_a_shell_one_liner_is_code() -> None:
    assert analyse("a bash one-liner that deletes empty folders under the current directory").persona is Persona.CODE


def test_a_migration_names_its_own_cases_and_an_email_column_is_not_an_address() -> None:
    brief = analyse("a sql migration that adds a non-null email column to the customers table")
    assert any("roll it back" in case for case in brief.edge_cases)
    assert not any("addresses" in case for case in brief.edge_cases)


def test_no_x_given_or_included_reads_as_a_prohibition() -> None:
    assert to_requirement("no reasons given") == "Give no reasons."
    assert to_requirement("no prices included") == "Include no prices."


def test_gratitude_is_a_tone_and_a_message_to_someone_close_is_personal() -> None:
    assert "Use a grateful tone throughout." in prompt_for("a farewell email to my team, grateful, 150 words")
    assert "warm, personal tone" in prompt_for("a message to my brother congratulating him on his new job")


def test_a_review_for_sql_injection_asks_for_no_sql() -> None:
    prompt = prompt_for("review this php login handler for SQL injection and XSS")
    assert "```sql" not in prompt


def test_a_figure_is_kept_as_written() -> None:
    assert "Keep the figure: 6-week." in prompt_for("a 6-week plan to learn basic Spanish")


def test_i_am_in_a_bio_is_who_it_is_about_not_who_reads_it() -> None:
    brief = analyze_idea(AnalyzeRequest(input="a short bio for my portfolio site, I'm a wedding photographer in Leeds"))
    assert brief.audience is None
    assert "recruiters, peers and potential clients" in prompt_for(
        "a short bio for my portfolio site, I'm a wedding photographer in Leeds"
    )


def test_a_shopping_list_is_a_list() -> None:
    brief = analyse("a shopping list for a vegan barbecue for 10 people")
    assert brief.primary_format is not None
    assert brief.primary_format.key == "list"


def test_rating_a_piece_of_writing_is_a_review_of_it_not_a_new_one() -> None:
    idea = "grade this personal essay out of 10 and tell me how to improve it"
    brief = analyse(idea)
    assert brief.mode == "review"
    assert brief.input_slot is not None
    prompt = prompt_for(idea)
    assert "Start with the score on its own line." in prompt
    assert "quoting the passage" in prompt
    assert "Outline the structure" not in prompt


def test_finding_the_bug_is_debugging() -> None:
    assert analyse("spot the bug in this go function that merges two sorted slices").mode == "debug"
    prompt = prompt_for("what's wrong with my python loop that never ends")
    assert "root cause" in prompt.lower()
    assert "exclusion" not in prompt  # "that never ends" describes the symptom


def test_converting_units_or_servings_changes_the_figures_and_nothing_else() -> None:
    prompt = prompt_for("convert this cookie recipe to grams and double the servings")
    assert "Change only what the request asks" in prompt
    assert "Keep every fact and the author's meaning" not in prompt


@pytest.mark.parametrize(
    "idea",
    ["a 60-second video script for our new standing desk", "a cold-call script for selling solar panels to farmers"],
)
def test_a_script_for_a_voice_is_writing_not_code(idea: str) -> None:
    assert analyse(idea).persona is Persona.WRITING


def test_making_a_survey_or_a_quiz_is_practical_help_not_analysis() -> None:
    assert analyse("design an employee engagement survey with 12 questions").persona is Persona.GENERIC
    prompt = prompt_for("make 15 multiple choice questions on the French revolution")
    assert "Give exactly 15 multiple choice questions." in prompt
    assert "A-D for multiple choice" in prompt


def test_a_scene_or_a_monologue_is_a_creative_piece() -> None:
    brief = analyse("a scene where a detective questions a nervous witness, mostly dialogue")
    assert brief.form is not None
    assert brief.form.creative


def test_an_age_range_or_teaching_names_the_audience() -> None:
    assert analyse("a bedtime story about a sleepy owl for ages 3-5").audience == "children aged 3-5"
    assert analyse("a lesson on photosynthesis, teaching it to 7th graders in 40 minutes").audience == "7th graders"


def test_designing_a_database_schema_is_schema_work_not_a_query() -> None:
    prompt = prompt_for("design a database schema for a veterinary clinic's appointments")
    assert "primary key" in prompt
    assert "bound parameters" not in prompt
    shape = example_shape(analyse("design a database schema for a veterinary clinic's appointments"))
    assert shape is not None
    assert shape.startswith("CREATE TABLE")


def test_a_regex_that_extracts_is_not_anchored_and_its_input_has_a_clean_name() -> None:
    idea = "a regex to extract all URLs from a block of text"
    prompt = prompt_for(idea)
    assert "do not anchor the pattern" in prompt
    assert "{{block_text}}" in prompt


def test_turning_x_into_y_reads_the_input_before_into_and_the_format_after_it() -> None:
    idea = "turn these bullet points into one short paragraph for our investor update report"
    brief = analyse(idea)
    assert brief.input_slot is not None
    assert brief.input_slot[1] == "bullet_points"
    assert brief.primary_format is not None
    assert brief.primary_format.key == "prose"


def test_an_endpoint_that_accepts_uploads_gets_server_cases_and_its_size_limit() -> None:
    idea = "a next.js api endpoint that accepts an image upload, max 5MB"
    brief = analyse(idea)
    assert any("oversized requests" in case for case in brief.edge_cases)
    assert not any("non-2xx" in case for case in brief.edge_cases)
    assert brief.deliverable is not None
    assert brief.deliverable.startswith("a next.js")  # a dot inside a word does not end the phrase
    assert "Size limit: 5MB" in prompt_for(idea)


def test_sentiment_words_are_tones() -> None:
    assert "sentimental" in analyse("a speech for my grandparents' 50th anniversary, sentimental").tones


def test_an_amount_a_script_watches_for_is_a_threshold_not_a_budget() -> None:
    idea = "a python script that texts me when the bitcoin price drops below $20,000"
    prompt = prompt_for(idea)
    assert "Threshold: $20,000 (USD)" in prompt
    assert "budget" not in prompt.lower()
    assert any("threshold" in case for case in analyse(idea).edge_cases)


def test_a_product_spec_has_the_sections_of_a_spec() -> None:
    assert "non-goals" in prompt_for("write a PRD for a shared grocery list feature")


def test_stanzas_are_a_length_and_rhyming_is_a_rule() -> None:
    prompt = prompt_for("a rhyming poem about my grandmother's garden, 3 stanzas")
    assert "Length: exactly 3 stanzas." in prompt
    assert "Rhyme throughout" in prompt


def test_the_size_of_the_given_material_is_not_the_answer_s_length() -> None:
    brief = analyse("summarise this 12-page lease agreement, flag anything unusual")
    assert brief.length is None


def test_a_rate_is_not_a_count_of_items_to_give() -> None:
    prompt = prompt_for("a monthly content calendar for a yoga studio, 4 posts per week")
    assert "Give exactly 4 posts" not in prompt
    assert "Organise it by day, phase or period" in prompt


def test_asking_for_feedback_on_writing_is_a_review() -> None:
    brief = analyse("give me honest feedback on my short story's opening, I'll paste it below")
    assert brief.mode == "review"
    assert brief.formats == ()


def test_a_pitch_aimed_at_businesses_names_them_and_a_team_before_a_match_is_an_audience() -> None:
    assert analyse("an email campaign aimed at independent bookshops").audience == "independent bookshops"
    brief = analyse("a pep talk for my soccer team before the cup final")
    assert brief.audience == "the user's soccer team"
    assert brief.persona is Persona.WRITING


def test_a_date_keeps_its_month_and_day() -> None:
    assert "Date that matters: Friday March 14." in prompt_for("an out-of-office reply, I'm away until Friday March 14")


def test_a_rule_a_password_must_meet_is_not_the_answer_s_length_nor_a_number_to_round() -> None:
    brief = analyse("a go function that checks a password has at least 10 characters and one digit")
    assert brief.length is None
    assert not any("rounding" in case for case in brief.edge_cases)


def test_tone_words_inside_compounds_are_not_tones_and_paired_words_are() -> None:
    assert analyse("a description of our kid-friendly cafe").tones == ()
    assert analyse("a eulogy for my uncle, warm and personal").tones == ("warm", "personal")
    assert "skeptical" in analyse("an op-ed on four-day weeks, skeptical").tones


def test_explaining_a_concept_to_someone_is_not_code() -> None:
    assert analyse("explain what a REST API is to my dad").persona is Persona.GENERIC
    assert analyse("explain what my python script does line by line").persona is Persona.CODE


def test_a_study_guide_is_practical_help_and_a_dialogue_between_people_is_creative() -> None:
    assert analyse("a study guide for the CPA exam, audit section").persona is Persona.GENERIC
    brief = analyse("a dialogue between Ada Lovelace and a teenager about AI")
    assert brief.form is not None
    assert brief.form.creative


def test_nothing_named_as_given_is_no_input() -> None:
    brief = analyse("compare Rust and Zig for writing a game engine")
    assert brief.inputs == ()
    assert "Use only the data provided" not in prompt_for("compare Rust and Zig for writing a game engine")
    summary = analyse("summarise the causes of the 2008 financial crisis in 6 bullet points")
    assert summary.mode != "transform"
    assert "add no new information" not in prompt_for("summarise the causes of the 2008 financial crisis")


def test_a_complaint_is_firm_and_a_press_release_has_its_parts() -> None:
    assert "firm, polite tone" in prompt_for("a complaint email to my internet provider, I want a refund")
    assert "media contact" in prompt_for("a press release about our new store opening in Leeds")


def test_short_copy_with_a_count_and_a_length_keeps_them_and_adds_none_of_its_own() -> None:
    prompt = prompt_for("6 slogans for a cycling club, under 5 words each")
    assert "up to four alternatives" not in prompt
    assert "under 12 words" not in prompt
    assert "Give exactly 6 slogans." in prompt


def test_a_hook_that_fetches_gets_network_cases() -> None:
    assert any("timeouts" in case for case in analyse("a vue composable that fetches the weather").edge_cases)


def test_a_lower_case_go_before_a_code_noun_is_the_language() -> None:
    brief = analyse("a go http handler that serves static files with caching headers")
    assert brief.persona is Persona.CODE
    assert brief.language == "Go"


def test_making_a_template_or_a_tracker_is_practical_help() -> None:
    assert analyse("create an expense spreadsheet template for a small bakery").persona is Persona.GENERIC


def test_minutes_measure_only_what_is_spoken() -> None:
    assert analyse("a stretching routine for desk workers, 10 minutes a day").length is None
    assert analyse("a wedding toast for my best friend, 3 minutes").length == "about 3 minutes"


def test_a_site_a_scraper_fetches_from_is_not_text_given_in_the_prompt() -> None:
    assert analyse("a python scraper that collects recipes from a cooking website nightly").input_slot is None


def test_a_review_has_no_code_shaped_answer() -> None:
    assert example_shape(analyse("review this rust function for unsafe code")) is None


def test_summarising_what_is_known_is_not_weighing_options() -> None:
    prompt = prompt_for("summarize the story of the Odyssey in 5 sentences")
    assert "summarises accurately" in prompt
    assert "trade-offs" not in prompt


def test_participants_are_a_figure_and_humility_a_tone() -> None:
    assert "Keep the figure: 12 participants." in prompt_for("an agenda for a design sprint kickoff, 12 participants")
    assert "humble" in analyse("a thank-you speech for a lifetime award, humble").tones


def test_intervals_and_rolling_windows_have_their_own_cases_and_a_daily_figure_is_no_schedule() -> None:
    intervals = analyse("a kotlin function that merges overlapping time ranges in a calendar")
    assert any("nested intervals" in case for case in intervals.edge_cases)
    assert not any("leap years" in case for case in intervals.edge_cases)
    rolling = analyse("a sql query for the 28-day rolling sum of daily orders")
    assert any("window fills" in case for case in rolling.edge_cases)
    assert not any("daylight-saving" in case for case in rolling.edge_cases)
    assert any("daylight-saving" in case for case in analyse("a python job that runs daily at 6am").edge_cases)


def test_pros_and_cons_are_weighed_not_coded() -> None:
    assert analyse("explain the pros and cons of serverless for a two-person startup").persona is Persona.ANALYSIS


def test_a_tone_standing_as_its_own_clause_is_kept() -> None:
    assert "kind" in analyse("a message declining a wedding invitation, kind").tones


def test_designing_an_api_gets_the_cases_of_a_server() -> None:
    brief = analyse("design a REST API for booking meeting rooms")
    assert any("oversized requests" in case for case in brief.edge_cases)
    assert not any("non-2xx" in case for case in brief.edge_cases)


def test_a_troubleshooting_guide_is_steps() -> None:
    brief = analyse("a troubleshooting guide for a printer that will not connect")
    assert brief.primary_format is not None
    assert brief.primary_format.key == "numbered"


def test_an_idea_is_read_once_per_generation_and_its_brief_cannot_be_changed_by_a_reader() -> None:
    """A generation reads the same idea for its analysis and for each of its nine candidates."""
    idea = "a python function that slugifies blog titles, ascii only"
    first = analyse(idea)
    assert analyse(idea) is first
    extended = first.with_requirements(["Keep slugs under 60 characters."])
    assert extended is not first
    assert "Keep slugs under 60 characters." not in analyse(idea).constraints
    assert analyse(idea, Persona.WRITING) is not first  # another persona is another reading


def test_like_i_am_an_age_names_a_child_reader_and_who_a_eulogy_is_for_is_not_its_reader() -> None:
    assert analyse("explain how vaccines work like I'm 8").audience == "an 8-year-old"
    assert analyse("explain black holes like I'm five").audience == "a 5-year-old"
    brief = analyse("a eulogy for my aunt who loved gardening, 4 minutes")
    assert brief.audience is None
    assert "warm, respectful tone" in prompt_for("a eulogy for my aunt who loved gardening, 4 minutes")


def test_thanks_are_warm_and_an_apology_names_who_receives_it() -> None:
    assert "warm, grateful tone" in prompt_for("a thank-you note for the colleague who covered my shifts")
    assert analyse("an apology to a client whose invoice was wrong").audience == "a client"


def test_summarising_into_action_items_is_a_list_and_one_person_is_a_headcount() -> None:
    brief = analyse("summarise this call transcript into action items with deadlines")
    assert brief.primary_format is not None
    assert brief.primary_format.key == "list"
    assert analyse("a week of lunches for one person, cheap").audience is None
