"""The meeting page and the plain status pages as HTML. Pure.

Every text that came from outside (topic, names, e-mail addresses, transcript, provider and LLM text)
goes through :func:`esc`, as a field of its own (:func:`field`: a ``<bdi>``, so its direction reaches no
neighbour) where markup can hold it; times go out as numbers in ``data-t`` attributes, which the script reads.
The transcript is one ``"".join`` over the messages, so a 4-hour meeting renders in one pass.

The page says what the report e-mail says about what is missing: participant audio Zoom no longer had when the
meeting was mixed (:func:`missing_notice`, near the top), the insights engine's "Incomplete: …" notice
(``extra[INCOMPLETE]``: some windows of the transcript got no answer), and per section why it is unavailable (no
lines) or incomplete (lines, and a reason: a split meeting's part whose section failed), and a summary the provider
had not finished as not ready rather than "(none)". Those reasons are stored text like any other: one line, at most
:data:`REASON_MAX` characters, each its own field, scrubbed of secrets (:func:`reason`). So is a failed meeting's
reason, on the plain page that says what the host's failure e-mail says (:func:`failed_page`).
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final
from urllib.parse import quote

from zoomsymbl_common.insights_engine import INCOMPLETE
from zoomsymbl_common.logs import scrub
from zoomsymbl_common.providers.base import InsightItem, Insights, TranscriptMessage
from zoomsymbl_common.records import MissingAudio, missing_line
from zoomsymbl_common.shares import percentages

from zoomsymbl_web.assets import SCRIPT, STYLE
from zoomsymbl_web.bidi import isolatable, plain
from zoomsymbl_web.exports import clock, speaker_name
from zoomsymbl_web.meeting import MeetingView
from zoomsymbl_web.timeline import Row

_TRACK_WIDTH = 1000  # the timeline's SVG user units across the whole meeting
_COLOURS = 12
REASON_MAX: Final = 300
"""Most characters of a stored reason shown (the e-mail's bound); longer ones end in "…"."""
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def esc(value: object) -> str:
    """``value`` as HTML text or attribute value (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def field(value: object, css: str = "") -> str:
    """``value`` as an isolated field (``<bdi>``): its right-to-left text or marks reorder nothing around it."""
    attr = f' class="{css}"' if css else ""
    return f"<bdi{attr}>{esc(isolatable(str(value)))}</bdi>"


def flat(value: object) -> str:
    """``value`` where nothing can isolate it (the title, an attribute): escaped, without bidi controls."""
    return esc(plain(str(value)))


def _t(seconds: float | None) -> str:
    return "" if seconds is None else f' data-t="{seconds:.3f}" tabindex="0"'


def _time(seconds: float | None) -> str:
    return "" if seconds is None else f"<time>{clock(seconds)}</time>"


def _percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{100 * ratio:.0f}%"


def _facts(view: MeetingView) -> str:
    when = view.start_time.strftime("%Y-%m-%d %H:%M %Z").strip() if isinstance(view.start_time, datetime) else ""
    facts = [("Host", view.host), ("Date", when), ("Duration", clock(view.duration_seconds)), ("Source", view.source)]
    return "".join(f"<dt>{name}</dt><dd>{field(value) if value else '–'}</dd>" for name, value in facts)


def _track(row: Row, index: int, duration: float) -> str:
    scale = _TRACK_WIDTH / duration if duration > 0 else 0.0
    rects = "".join(
        f'<rect x="{s.start * scale:.2f}" width="{max((s.end - s.start) * scale, 0.5):.2f}" height="10"'
        f' data-t="{s.start:.3f}"></rect>'
        for s in row.segments
    )
    return (
        f'<svg class="track s{index % _COLOURS}" viewBox="0 0 {_TRACK_WIDTH} 10" preserveAspectRatio="none"'
        f' role="img" aria-label="{flat(row.name)} speaking">{rects}</svg>'
    )


def timeline(rows: Sequence[Row], duration: float) -> str:
    """The speaker table: name, segments over the meeting, talk time, share, silence and talk-over ratios.

    The shares are whole percentages of the rows' talk times adding up to 100 (largest remainder, as in the
    e-mail), not each share rounded on its own (three speakers read 39 % + 39 % + 23 %)."""
    if not rows:
        return '<p class="note">No participant was measured.</p>'
    head = (
        "<tr><th>Participant</th><th>Speaking</th><th class=n>Talk time</th><th class=n>Share</th>"
        "<th class=n>Silence</th><th class=n>Talk-over</th></tr>"
    )
    shares = percentages([row.talk_seconds for row in rows])
    body = "".join(
        f'<tr class="speaker"><th{_t(row.first)}>{field(row.name)}</th>'
        f'<td class="track">{_track(row, i, duration)}</td>'
        f"<td class=n>{clock(row.talk_seconds)}</td><td class=n>{share}%</td>"
        f"<td class=n>{_percent(row.silence_ratio)}</td><td class=n>{_percent(row.talk_over_ratio)}</td></tr>"
        for i, (row, share) in enumerate(zip(rows, shares, strict=True))
    )
    return f'<div class="wide"><table class="timeline" id="timeline">{head}{body}</table></div>'


def _due(value: str) -> str:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return value


def _item(item: InsightItem) -> str:
    who = field(item.speaker, "who") if item.speaker else ""
    owner = field(item.assignee or item.assignee_email) if item.assignee or item.assignee_email else ""
    if item.assignee and item.assignee_email:
        owner = f"{field(item.assignee)} &lt;{field(item.assignee_email)}&gt;"
    notes = "".join(
        [
            f' <span class="owner">owner: {owner}</span>' if owner else "",
            f' <span class="due">due: {field(_due(item.due))}</span>' if item.due else "",
        ]
    )
    return f"<li{_t(item.start_seconds)}>{_time(item.start_seconds)}{who}{field(item.text)}{notes}</li>"


def reason(value: str) -> str:
    """A stored reason as one line of at most :data:`REASON_MAX` characters ("no reason recorded" when blank),
    scrubbed (:func:`~zoomsymbl_common.logs.scrub`: registered secrets, URLs past their host, ``token=…`` pairs).

    A provider's or the insights engine's words (``unavailable``, ``insights_incomplete``) are stored as they were
    said, and may quote a key or a presigned URL. Only the first ``8 × REASON_MAX`` characters are read (a stored
    megabyte costs nothing); when the text goes on, its last word there is left out: a cut inside a secret leaves a
    prefix the redactor no longer recognises."""
    head = value[: REASON_MAX * 8]
    cut = len(value) > len(head)
    if cut:
        words = head.rsplit(None, 1)
        head = words[0] if len(words) == 2 else ""
    line = " ".join(_CONTROLS.sub(" ", isolatable(scrub(head, sys.maxsize))).split())
    if cut or len(line) > REASON_MAX:
        line = line[: REASON_MAX - 1] + "…"
    return line or "no reason recorded"


def incomplete_notice(insights: Insights) -> str:
    """The e-mail's "Incomplete: …" line when the insights engine answered for some of the meeting only."""
    why = insights.extra.get(INCOMPLETE)
    if why is None:
        return ""
    return (
        f'<p class="notice" id="incomplete">Incomplete: {field(reason(why))}. The sections below miss what those'
        " parts hold; the transcript has it all.</p>"
    )


def missing_notice(missing: MissingAudio | None) -> str:
    """The e-mail's line when Zoom no longer had some participant's audio at the mix: whose (each name its own field),
    else how many files; nothing when none was missing."""
    if missing is None:
        return ""
    return f'<p class="notice" id="missing-audio">{missing_line(missing, field, esc, "on this page")}</p>'


def _placeholder(key: str, insights: Insights) -> str:
    """What an empty section says before its reason: a summary the provider had not finished (as the e-mail says),
    else "(none)" unless a reason follows."""
    if key == "summary" and insights.extra.get("summary") == "not ready":
        return '<li class="note">(not ready: the provider had not finished the summary yet)</li>'
    return "" if key in insights.unavailable else '<li class="note">(none)</li>'


def _list(key: str, title: str, items: Iterable[str], insights: Insights) -> str:
    """A section's lines, and why it is unavailable (no lines) or incomplete (lines, and a stored reason)."""
    lines = "".join(items)
    body = lines or _placeholder(key, insights)
    why = insights.unavailable.get(key)
    if why is not None:
        body += f'<li class="note">({"incomplete" if lines else "unavailable"}: {field(reason(why))})</li>'
    return f'<section id="{key.replace("_", "-")}"><h2>{title}</h2><ul class="items">{body}</ul></section>'


def _summary(insights: Insights) -> Iterable[str]:
    for topic in insights.summary_topics:
        end = f"–{clock(topic.end_seconds)}" if topic.end_seconds is not None else ""
        span = f"<time>{clock(topic.start_seconds)}{end}</time>" if topic.start_seconds is not None else ""
        head = f"<strong>{field(topic.headline)}</strong>: " if topic.headline else ""
        yield f"<li{_t(topic.start_seconds)}>{span}{head}{field(topic.text)}</li>"
    if not insights.summary_topics:
        yield from (f"<li>{field(line)}</li>" for line in insights.summary)


def insights_sections(insights: Insights) -> str:
    """The notice of incomplete insights, then summary by topic, action items (with owner), questions,
    follow-ups, decisions, topics."""
    return "".join(
        [
            incomplete_notice(insights),
            _list("summary", "Summary", _summary(insights), insights),
            _list("action_items", "Action items", map(_item, insights.action_items), insights),
            _list("questions", "Questions", map(_item, insights.questions), insights),
            _list("follow_ups", "Follow-ups", map(_item, insights.follow_ups), insights),
            _list("decisions", "Decisions", map(_item, insights.decisions), insights),
            _list("topics", "Topics", (f"<li>{field(t.text)}</li>" for t in insights.topics), insights),
        ]
    )


def transcript(messages: Sequence[TranscriptMessage], limit: int) -> str:
    """The transcript lines (at most ``limit``), each clickable, with name and time; and the search box."""
    shown = messages[:limit]
    lines = "".join(
        f'<li data-t="{m.start_seconds:.3f}" tabindex="0"><time>{clock(m.start_seconds)}</time>'
        f"{field(speaker_name(m), 'who')}{field(m.text, 'x')}</li>"
        for m in shown
    )
    more = (
        f'<p class="note">The first {len(shown)} of {len(messages)} lines; the downloads hold all of them.</p>'
        if len(messages) > len(shown)
        else ""
    )
    search = (
        '<div class="search"><input type="search" id="search" placeholder="Search the transcript"'
        ' aria-label="Search the transcript" autocomplete="off"><span id="hits" aria-live="polite"></span></div>'
    )
    empty = "" if shown else '<p class="note">No speech was transcribed.</p>'
    body = f'{search}{empty}<ol class="lines" id="lines">{lines}</ol>{more}'
    return f'<section id="transcript"><h2>Transcript</h2>{body}</section>'


def _downloads(token: str) -> str:
    base = esc(quote(token, safe=""))
    files = [
        ("transcript.vtt", "WebVTT"),
        ("transcript.srt", "SRT"),
        ("transcript.txt", "Text"),
        ("insights.json", "Insights (JSON)"),
    ]
    links = "".join(f'<a href="{base}/{name}" download>{label}</a>' for name, label in files)
    return f'<nav class="downloads" aria-label="Downloads">{links}</nav>'


def _player(audio_url: str | None, renew: bool) -> str:
    if audio_url is None:
        return '<p class="note">The meeting\'s audio is not available.</p>'
    # data-renew: the URL expires (presigned); the script loads the page again, where the player was, for a new one.
    marker = " data-renew" if renew else ""
    return f'<audio id="audio" controls preload="metadata"{marker} src="{esc(audio_url)}"></audio>'


def meeting_page(
    view: MeetingView,
    rows: Sequence[Row],
    *,
    token: str,
    audio_url: str | None,
    nonce: str,
    limit: int,
    renew_audio: bool = False,
) -> str:
    """The whole meeting page; ``renew_audio``: ``audio_url`` expires (a presigned S3 URL), the page renews it."""
    title = view.topic or "Zoom meeting"
    return "".join(
        [
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="referrer" content="no-referrer">',
            f'<title>{flat(title)}</title><style nonce="{nonce}">{STYLE}</style></head><body>',
            f'<header><h1>{field(title)}</h1><dl class="facts">{_facts(view)}</dl>{_downloads(token)}</header>',
            missing_notice(view.missing),
            f'<div class="player">{_player(audio_url, renew_audio)}</div>',
            f'<section id="speakers"><h2>Speakers</h2>{timeline(rows, view.axis_seconds)}</section>',
            insights_sections(view.insights),
            transcript(view.insights.messages, limit),
            f'<script nonce="{nonce}">{SCRIPT}</script></body></html>',
        ]
    )


def plain_page(title: str, text: str, facts: Sequence[tuple[str, str]] = ()) -> str:
    """A page with a title, one paragraph and labelled ``facts`` (each value its own field), no script and no
    style (errors, not-ready and failed meetings)."""
    more = "".join(f'<p id="{name.lower()}">{name}: {field(value)}</p>' for name, value in facts)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
        f"<title>{flat(title)}</title></head><body><h1>{field(title)}</h1><p>{esc(text)}</p>{more}</body></html>"
    )


def failed_page(title: str, where: str, why: str) -> str:
    """A failed meeting's page: what the host's failure e-mail says, the stage in words (when recorded) and the
    reason, one bounded line ("no reason recorded" when there is none)."""
    stage = [("Stage", reason(where))] if where.strip() else []
    return plain_page(title, "This meeting could not be processed.", [*stage, ("Reason", reason(why))])
