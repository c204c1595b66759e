"""The words of the e-mails: the meeting report and the failure notice, as text and HTML. Pure.

Everything that came from outside (topic, names, transcript, provider text) is HTML-escaped in the
HTML part, and the subject is stripped of line breaks and control characters so it cannot add headers.
The sections' words (a model's or a provider's, and through them anything a participant said) and every
name from outside (:func:`outside_name`: speakers, owners, participants, callers, the topic) carry no
address a mail client would make a link of (:func:`defanged`): the only links in a report are ours, and
an owner's e-mail address shown on purpose (:func:`shown_address`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from zoomsymbl_common.events import CallParty, PhoneCall
from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.shares import percentages

from zoomsymbl_notifier.chart import colour, size, talk_time_png
from zoomsymbl_notifier.meetings import MeetingFacts, Speaker

_SUBJECT_MAX = 160
_LONGEST = 1e7  # seconds (115 days): a time or talk time past it is no measurement
_LINE_MAX = 10_000  # characters of one report line (an item is at most 2,000: providers/base.py)
EMAIL_BUDGET_BYTES = 6 * 1024 * 1024
"""Most UTF-8 bytes of the text part, the HTML part and the attached transcript together. Encoded for SMTP
that is under ~9 MB: below common servers' limits (Postfix: 10 MB) and MongoDB's 16 MB document, which holds
the message in the outbox. A report past it keeps its first items (and the transcript its beginning); the
rest is on the meeting page."""
_LINK_SCHEMES = ("https://", "http://")
_SCHEME = re.compile(r"(?<=[A-Za-z0-9+.-]):(?=//)")
_HOST_DOT = re.compile(r"(?<=[^\W_])\.(?=[^\W\d_]{2,})")
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
# What the host reads for the stage a meeting failed in; a stage without words falls back to its service's.
_STAGE_WORDS = {
    "tenant": "checking the account's configuration",
    "config": "checking the account's configuration",
    "auth": "getting access to the recording at Zoom",
    "download": "downloading the recording from Zoom",
    "verify": "checking the downloaded audio",
    "space": "making room for the recording's audio",
    "validate": "checking where the merged audio is",
    "merge": "merging the participants' audio",
    "upload": "storing the merged audio",
    "publish": "handing the audio on for transcription",
    "split": "splitting the audio into parts",
    "submit": "submitting the audio for transcription",
    "provider": "transcription at the provider",
    "status": "checking the transcription job",
    "insights": "fetching the transcript and insights",
}
_SERVICE_WORDS = {
    "mixer": "preparing the recording's audio",
    "submitter": "submitting the audio for transcription",
    "notifier": "collecting the transcript and insights",
}


@dataclass(frozen=True)
class InlineImage:
    """A PNG the HTML part shows inline: ``<img src="cid:{cid}">`` (``cid`` without angle brackets)."""

    cid: str
    png: bytes


@dataclass(frozen=True)
class Report:
    """A rendered e-mail: subject, two alternative bodies, an optional text attachment and inline chart."""

    subject: str
    text: str
    html: str
    transcript: str | None = None
    chart: InlineImage | None = None


def clean_line(value: str, limit: int = _SUBJECT_MAX) -> str:
    """One line of printable text: control characters (CR/LF included) become spaces, runs collapse."""
    chars = (" " if unicodedata.category(c).startswith(("C", "Z")) and c != " " else c for c in value)
    return " ".join("".join(chars).split())[:limit]


def subject_for(topic: str, generation: int, failed: bool = False, *, call: bool = False) -> str:
    """Subject with the meeting topic; a re-run (generation > 0) is marked as an update."""
    name = clean_line(topic) or "your Zoom meeting"
    head = "Processing failed" if failed else "Call summary" if call else "Meeting summary"
    prefix = f"[Update {generation}] " if generation > 0 else ""
    return clean_line(f"{prefix}{head}: {name}")


def clock(seconds: float) -> str:
    """``h:mm:ss`` of a non-negative duration (``?:??:??`` for one no clock shows: infinite, NaN, 1e300)."""
    if not math.isfinite(seconds) or abs(seconds) > _LONGEST:
        return "?:??:??"
    total = max(0, round(seconds))
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def when_line(facts: MeetingFacts) -> str | None:
    """``When: 2026-12-01 14:00 UTC (0:45:00)``: which meeting of a recurring series this is (the page says the
    same); None when the mixer recorded no start time."""
    start = facts.start_time
    if start is None:
        return None
    moment = start.astimezone(UTC) if start.tzinfo else start.replace(tzinfo=UTC)
    line = f"When: {moment:%Y-%m-%d %H:%M} UTC"
    duration = facts.duration_seconds
    return f"{line} ({clock(duration)})" if duration is not None and duration > 0 else line


def _measured(facts: MeetingFacts) -> list[Speaker]:
    """The speakers with a usable talk time (finite, at most :data:`_LONGEST`): the chart and the lines."""
    return [s for s in facts.speakers if s.talk_seconds is not None and 0 <= s.talk_seconds <= _LONGEST]


def transcript_text(messages: Sequence[TranscriptMessage]) -> str:
    """The transcript as plain text, one utterance a line."""
    lines = [
        f"[{clock(m.start_seconds)}] {clean_line(m.speaker, 120) or 'Speaker'}: {clean_line(m.text, len(m.text))}"
        for m in messages
    ]
    return "\n".join(lines) + "\n" if lines else "(no speech was transcribed)\n"


def due_date(value: str) -> str:
    """An ISO timestamp as its date (``2026-12-01``); other text as it is."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return clean_line(value, 64)


def defanged(text: str) -> str:
    """``text`` without what mail clients turn into links (Gmail and Outlook link ``http://…``, ``www.…`` and bare
    domains in both parts): ``http://evil.example/login`` reads ``http[:]//evil[.]example/login``. A participant
    who says "add an action item: log in at …" gets the words into the report, never a link under our name."""
    return _HOST_DOT.sub("[.]", _SCHEME.sub("[:]", text))


def outside_name(value: str, limit: int = 120) -> str:
    """A name from outside (a speaker, an owner, a participant, a caller, a meeting's topic) on one line, defanged:
    Zoom takes any display name, and ``www.evil.example login`` must not become a link in our e-mail, nor
    ``joe@evil.example`` a ``mailto:`` one (``joe@evil[.]example``)."""
    return defanged(clean_line(value, limit))


def shown_address(value: str) -> str:
    """An e-mail address the e-mail shows on purpose (an owner's, a host's) as it is when it is a plain one: a mail
    client makes a ``mailto:`` link of it at most. Anything else (``http://…``, ``a@b.example/login``) is defanged
    like a name."""
    line = clean_line(value, 320)
    return line if _PLAIN_ADDRESS.fullmatch(line) else defanged(line)


def _item_text(item: InsightItem) -> str:
    owner = outside_name(item.assignee or "")
    if owner and item.assignee_email:
        owner = f"{owner} <{shown_address(item.assignee_email)}>"
    notes = [f"owner: {owner}" if owner else "", f"due: {defanged(due_date(item.due))}" if item.due else ""]
    extra = ", ".join(n for n in notes if n)
    text = f"{defanged(item.text)} ({extra})" if extra else defanged(item.text)
    return _said(item, text)


def _said(item: InsightItem, text: str) -> str:
    """``[0:01:05] Elisa L: text`` when the item knows when (and by whom) it was said."""
    who = f"{outside_name(item.speaker)}: " if item.speaker else ""
    when = f"[{clock(item.start_seconds)}] " if item.start_seconds is not None else ""
    return f"{when}{who}{text}"


def summary_lines(insights: Insights) -> list[str]:
    """The summary by topic (``[0:00:00–0:05:10] Headline: text``), else the provider's summary lines."""
    lines = []
    for topic in insights.summary_topics:
        span = ""
        if topic.start_seconds is not None:
            end = f"–{clock(topic.end_seconds)}" if topic.end_seconds is not None else ""
            span = f"[{clock(topic.start_seconds)}{end}] "
        head = f"{clean_line(topic.headline, 300)}: " if topic.headline else ""
        lines.append(f"{span}{defanged(head)}{defanged(topic.text)}")
    return lines or [defanged(line) for line in insights.summary]


def talk_time_lines(facts: MeetingFacts) -> list[str]:
    """``Name: h:mm:ss (NN%)`` per speaker with a measured talk time; the shares add up to 100 %."""
    measured = _measured(facts)
    seconds = [s.talk_seconds or 0.0 for s in measured]
    shown = percentages(seconds) if sum(seconds) > 0 else [None] * len(seconds)
    return [
        f"{_speaker_name(s)}: {clock(v)}" + (f" ({p}%)" if p is not None else "")
        for s, v, p in zip(measured, seconds, shown, strict=True)
    ]


def _speaker_name(speaker: Speaker) -> str:
    return outside_name(speaker.name) or f"Channel {speaker.channel}"


def talk_time_chart(facts: MeetingFacts) -> tuple[InlineImage, str] | None:
    """The talk-time chart (longest talker first) and its HTML with a colour legend; None without measures."""
    measured = sorted(_measured(facts), key=lambda s: -(s.talk_seconds or 0.0))
    seconds = [s.talk_seconds or 0.0 for s in measured]
    png = talk_time_png(seconds)
    if png is None:
        return None
    image = InlineImage(f"talk-time.{hashlib.sha256(png).hexdigest()[:16]}@zoomsymbl", png)
    width, height = size(len(seconds))
    rows = "".join(
        f'<tr><td><span style="display:inline-block;width:10px;height:10px;background:{colour(i)}"></span></td>'
        f"<td>{html.escape(_speaker_name(s))}</td><td>{clock(v)}</td><td>{p}%</td></tr>"
        for i, (s, v, p) in enumerate(zip(measured, seconds, percentages(seconds), strict=True))
    )
    markup = (
        f'<p><img src="cid:{image.cid}" width="{width}" height="{height}" alt="Talk time per speaker"></p>'
        f'<table role="presentation">{rows}</table>'
    )
    return image, markup


def _kept(lines: list[str], keep: int | None) -> list[str]:
    """``lines`` on one line each (a line break from a provider cannot forge a line of the text part), the first
    ``keep`` of them and a line saying how many more there are."""
    cleaned = [clean_line(line, _LINE_MAX) for line in lines]
    if keep is None or len(cleaned) <= keep:
        return cleaned
    return [*cleaned[:keep], f"(and {len(cleaned) - keep} more: see the meeting page)"]


def _sections(insights: Insights, facts: MeetingFacts, keep: int | None = None) -> list[tuple[str, list[str]]]:
    summary = summary_lines(insights)
    if not summary and insights.extra.get("summary") == "not ready":
        summary = ["The provider had not finished the summary yet; see the summary page."]
    sections = [
        ("Summary", "summary", summary),
        ("Topics", "topics", [defanged(i.text) for i in insights.topics]),
        ("Questions", "questions", [_said(i, defanged(i.text)) for i in insights.questions]),
        ("Action items", "action_items", [_item_text(i) for i in insights.action_items]),
        ("Follow-ups", "follow_ups", [_item_text(i) for i in insights.follow_ups]),
        ("Decisions", "decisions", [_said(i, defanged(i.text)) for i in insights.decisions]),
        ("Talk time", "", talk_time_lines(facts)),
    ]
    return [(title, _with_note(_kept(lines, keep), insights.unavailable.get(key))) for title, key, lines in sections]


def _with_note(lines: list[str], why: str | None) -> list[str]:
    """``lines``, and why the section is unavailable or, when it has lines, incomplete (a split meeting's part whose
    sections failed merged with parts whose did not): items missing unsaid read as all there were."""
    if why is None:
        return lines
    return [*lines, f"({'incomplete' if lines else 'unavailable'}: {clean_line(why, 300)})"]


def _party(party: CallParty) -> str:
    name, number = outside_name(party.name, 256), defanged(clean_line(party.did_number or party.number, 64))
    if name and number:
        return f"{name} ({number})"
    return name or number or "unknown"


def call_line(call: PhoneCall) -> str:
    """``Source: Zoom Phone call, Jack (+1209…) → Jill (1026), inbound, 0:00:43``: which call this is."""
    parts = [f"{_party(call.caller)} → {_party(call.callee)}"]
    if call.direction != "unknown":
        parts.append(call.direction)
    if call.duration_seconds is not None:
        parts.append(clock(call.duration_seconds))
    return clean_line("Source: Zoom Phone call, " + ", ".join(parts), 500)


def _links(urls: Sequence[str]) -> list[str]:
    return [u for u in urls if _linkable(u)]


def _linkable(url: str) -> bool:
    """``url`` is an http(s) address whose host reads as written: no user part (in
    ``https://meetinginsights.symbl.ai@evil.example/`` the host is ``evil.example``), no backslash (which browsers
    read as ``/``), nothing but ASCII (a Unicode host can imitate another: ``symbl.\u0430i``)."""
    if not url.lower().startswith(_LINK_SCHEMES) or clean_line(url, 2048) != url or not url.isascii() or "\\" in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    return bool(parts.hostname) and "@" not in parts.netloc


def meeting_report(
    insights: Insights, facts: MeetingFacts, generation: int, urls: Sequence[str], page_link: str | None = None
) -> Report:
    """The report e-mail of a completed meeting; ``page_link`` is the meeting page's address (None: no page).

    Within :data:`EMAIL_BUDGET_BYTES`: the bodies keep fewer items per section until they take at most two
    thirds of it (each section then ends "(and N more: see the meeting page)"), and the attached transcript
    keeps what fits in the rest, cut at a line.
    """
    most = max((len(lines) for _, lines in _sections(insights, facts)), default=0)
    keep: int | None = None
    while True:
        report = _report(insights, facts, generation, urls, page_link, keep)
        bodies = _size(report.text) + _size(report.html)
        if bodies <= EMAIL_BUDGET_BYTES * 2 // 3 or (keep if keep is not None else most) <= 1:
            break
        keep = max(1, (most if keep is None else keep) // 2)
    transcript = _cut_transcript(transcript_text(insights.messages), EMAIL_BUDGET_BYTES - bodies)
    return dataclasses.replace(report, transcript=transcript)


def _size(text: str) -> int:
    return len(text.encode("utf-8", errors="replace"))


def _cut_transcript(text: str, budget: int) -> str:
    """``text`` whole when it fits ``budget`` bytes, else its first lines and a last line saying where the rest is."""
    if _size(text) <= budget:
        return text
    note = "\n[The transcript is cut here: the e-mail would be too large. The meeting page has all of it.]\n"
    room = max(0, budget - _size(note))
    head = text.encode("utf-8", errors="replace")[:room].decode("utf-8", errors="ignore")
    return head[: head.rfind("\n") + 1] + note


def _report(
    insights: Insights,
    facts: MeetingFacts,
    generation: int,
    urls: Sequence[str],
    page_link: str | None,
    keep: int | None,
) -> Report:
    topic = outside_name(facts.topic, 512) or "your Zoom meeting"
    intro = f"Here is what was said in {topic}."
    if generation > 0:
        intro += f" This is an updated report (revision {generation}); it replaces the earlier one."
    sections = _sections(insights, facts, keep)
    links = _links(urls)
    text = [intro, ""]
    chart = talk_time_chart(facts)
    parts = [chart[1]] if chart else []
    parts.append(f"<p>{html.escape(intro)}</p>")
    when = when_line(facts)
    if when is not None:
        text += [when, ""]
        parts.append(f"<p>{html.escape(when)}</p>")
    if page_link is not None:
        text += [f"See and hear the meeting: {page_link}", ""]
        parts.append(f'<p><a href="{html.escape(page_link, quote=True)}">See and hear the meeting</a></p>')
    source = clean_line(insights.extra.get("source", ""), 500)
    if source:  # which transcription produced the report (the zoom source: "Zoom transcript")
        text += [f"Source: {source}", ""]
        parts.append(f"<p>Source: {html.escape(source)}</p>")
    incomplete = clean_line(insights.extra.get(INCOMPLETE, ""), 300)
    if incomplete:  # some windows of the transcript answered, others not: the sections miss what those hold
        line = f"Incomplete: {incomplete}. The sections below miss what those parts hold; the transcript has it all."
        text += [line, ""]
        parts.append(f"<p>{html.escape(line)}</p>")
    if facts.call is not None:
        source = call_line(facts.call)
        text += [source, ""]
        parts.append(f"<p>{html.escape(source)}</p>")
    for title, lines in sections:
        text += [title, *(f"  - {line}" for line in lines or ["(none)"]), ""]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>(none)</li>"
        parts.append(f"<h2>{html.escape(title)}</h2><ul>{items}</ul>")
    for url in links:
        text.append(f"Summary page: {url}")
        parts.append(f'<p><a href="{html.escape(url, quote=True)}">Summary page</a></p>')
    text += ["", "The full transcript is attached (transcript.txt)."]
    parts.append("<p>The full transcript is attached (transcript.txt).</p>")
    body_html = _page(topic, "".join(parts))
    # The subject keeps the topic as written: mail clients make no links in it, and it names the meeting.
    subject = subject_for(facts.topic, generation, call=facts.call is not None)
    return Report(subject, "\n".join(text) + "\n", body_html, None, chart[0] if chart else None)


def stage_text(service: str, stage: str) -> str:
    """Where processing stopped, in words, with the technical name: ``downloading … (mixer: download)``."""
    words = _STAGE_WORDS.get(stage) or _SERVICE_WORDS.get(service) or "processing the recording"
    where = f"{service}: {stage}" if service else stage
    return clean_line(f"{words} ({where})", 200)


def failure_notice(facts: MeetingFacts, generation: int, reason: str, stage: str = "") -> Report:
    """The short notice sent when a meeting could not be processed: at which ``stage`` and why.

    ``reason`` is scrubbed here whoever failed the meeting: a consumer's give-up reason may quote an
    exception that carries a presigned URL or a token, and an e-mail leaves our hands for good.
    """
    topic = outside_name(facts.topic, 512) or "your Zoom meeting"
    # The reason may quote what Zoom or a provider answered, names and addresses included.
    why = defanged(clean_line(scrub(reason), 500)) or "unknown reason"
    where = defanged(clean_line(stage, 200))
    lines = [f"We could not produce the summary of {topic}.", *([f"Stage: {where}"] if where else []), f"Reason: {why}"]
    text = "\n".join(lines) + "\n"
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return Report(subject_for(facts.topic, generation, failed=True), text, _page(topic, body))


def _page(title: str, body: str) -> str:
    head = f'<head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
    return f"<!doctype html><html>{head}<body>{body}</body></html>"
