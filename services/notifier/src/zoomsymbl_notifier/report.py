"""The e-mails of a meeting: the report and the failure notice, as text and HTML. Pure.

Everything that came from outside (topic, names, transcript, provider text) is HTML-escaped in the
HTML part, and the subject is stripped of line breaks and control characters so it cannot add headers.
The sections' words (a model's or a provider's, and through them anything a participant said) and every
name from outside (:func:`outside_name`: speakers, owners, participants, callers, the topic) carry no
address a mail client would make a link of (:func:`defanged`): the only links in a report are ours, and
an owner's e-mail address shown on purpose (:func:`shown_address`). The report's lines are
:mod:`zoomsymbl_notifier.sections`'; the rules for outside text :mod:`zoomsymbl_notifier.outside`'s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import urlsplit

from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.base import Insights
from zoomsymbl_common.records import missing_line
from zoomsymbl_common.shares import percentages
from zoomsymbl_common.stages import stage_text as stage_text

from zoomsymbl_notifier.chart import colour, size, talk_time_png
from zoomsymbl_notifier.meetings import MeetingFacts
from zoomsymbl_notifier.outside import clean_line as clean_line
from zoomsymbl_notifier.outside import defanged as defanged
from zoomsymbl_notifier.outside import outside_name as outside_name
from zoomsymbl_notifier.outside import shown_address as shown_address
from zoomsymbl_notifier.sections import call_line as call_line
from zoomsymbl_notifier.sections import clock, measured, reason_line, sections, speaker_name
from zoomsymbl_notifier.sections import talk_time_lines as talk_time_lines
from zoomsymbl_notifier.sections import transcript_text as transcript_text

EMAIL_BUDGET_BYTES = 6 * 1024 * 1024
"""Most UTF-8 bytes of the text part, the HTML part and the attached transcript together. Encoded for SMTP
that is under ~9 MB: below common servers' limits (Postfix: 10 MB) and MongoDB's 16 MB document, which holds
the message in the outbox. A report past it keeps its first items (and the transcript its beginning); the
rest is on the meeting page."""
_LINK_SCHEMES = ("https://", "http://")


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


def subject_for(topic: str, generation: int, failed: bool = False, *, call: bool = False) -> str:
    """Subject with the meeting topic; a re-run (generation > 0) is marked as an update."""
    name = clean_line(topic) or "your Zoom meeting"
    head = "Processing failed" if failed else "Call summary" if call else "Meeting summary"
    prefix = f"[Update {generation}] " if generation > 0 else ""
    return clean_line(f"{prefix}{head}: {name}")


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


def talk_time_chart(facts: MeetingFacts) -> tuple[InlineImage, str] | None:
    """The talk-time chart (longest talker first) and its HTML with a colour legend; None without measures."""
    speakers = sorted(measured(facts), key=lambda s: -(s.talk_seconds or 0.0))
    seconds = [s.talk_seconds or 0.0 for s in speakers]
    png = talk_time_png(seconds)
    if png is None:
        return None
    image = InlineImage(f"talk-time.{hashlib.sha256(png).hexdigest()[:16]}@zoomsymbl", png)
    width, height = size(len(seconds))
    rows = "".join(
        f'<tr><td><span style="display:inline-block;width:10px;height:10px;background:{colour(i)}"></span></td>'
        f"<td>{html.escape(speaker_name(s))}</td><td>{clock(v)}</td><td>{p}%</td></tr>"
        for i, (s, v, p) in enumerate(zip(speakers, seconds, percentages(seconds), strict=True))
    )
    markup = (
        f'<p><img src="cid:{image.cid}" width="{width}" height="{height}" alt="Talk time per speaker"></p>'
        f'<table role="presentation">{rows}</table>'
    )
    return image, markup


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
    most = max((len(lines) for _, lines in sections(insights, facts)), default=0)
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
    found = sections(insights, facts, keep)
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
    # The source line and the incomplete one may quote what a provider or the engine's server answered: defanged (and
    # the incomplete one scrubbed: reason_line).
    source = defanged(clean_line(insights.extra.get("source", ""), 500))
    if source:  # which transcription produced the report (the zoom source: "Zoom transcript")
        text += [f"Source: {source}", ""]
        parts.append(f"<p>Source: {html.escape(source)}</p>")
    if facts.missing is not None:  # Zoom no longer had some participant's audio: the mix, and so the report, lack it
        line = missing_line(facts.missing, outside_name, str, "in this report")
        text += [line, ""]
        parts.append(f"<p>{html.escape(line)}</p>")
    incomplete = reason_line(insights.extra.get(INCOMPLETE, ""))
    if incomplete:  # some windows of the transcript answered, others not: the sections miss what those hold
        line = f"Incomplete: {incomplete}. The sections below miss what those parts hold; the transcript has it all."
        text += [line, ""]
        parts.append(f"<p>{html.escape(line)}</p>")
    if facts.call is not None:
        source = call_line(facts.call)
        text += [source, ""]
        parts.append(f"<p>{html.escape(source)}</p>")
    for title, lines in found:
        text += [title, *(f"  - {line}" for line in lines or ["(none)"]), ""]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>(none)</li>"
        parts.append(f"<h2>{html.escape(title)}</h2><ul>{items}</ul>")
    for url in links:
        text.append(f"Summary page: {url}")
        parts.append(f'<p><a href="{html.escape(url, quote=True)}">Summary page</a></p>')
    text += ["", "The full transcript is attached (transcript.txt)."]
    parts.append("<p>The full transcript is attached (transcript.txt).</p>")
    body_html = html_page(topic, "".join(parts))
    # The subject keeps the topic as written: mail clients make no links in it, and it names the meeting.
    subject = subject_for(facts.topic, generation, call=facts.call is not None)
    return Report(subject, "\n".join(text) + "\n", body_html, None, chart[0] if chart else None)


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
    return Report(subject_for(facts.topic, generation, failed=True), text, html_page(topic, body))


def html_page(title: str, body: str) -> str:
    """The HTML part of an e-mail: ``title`` (escaped here) and ``body`` (already escaped HTML)."""
    head = f'<head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
    return f"<!doctype html><html>{head}<body>{body}</body></html>"
