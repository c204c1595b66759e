"""bench/results/latest.md from latest.json: the tables docs/performance.md shows.

Every cell is ``median (min–max)`` over the runs; a point that did not run says why.
"""

from __future__ import annotations

from typing import Any

FULL_ONLY = "`--full` only"
NOT_RUN = "not run"


def cell(figure: Any, unit: str = "", digits: int | None = None) -> str:
    """``median (min–max)`` of a spread, or the value itself."""
    if not isinstance(figure, dict) or figure.get("median") is None:
        return "–" if figure is None else f"{_num(figure, digits)}{unit}"
    low, mid, high = (_num(figure[k], digits) for k in ("min", "median", "max"))
    return f"{mid}{unit} ({low}–{high})"


def _num(value: Any, digits: int | None) -> str:
    if not isinstance(value, int | float):
        return str(value)
    if digits is None:
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f}"


def met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def machine_line(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    what = f"Measured {m['date']} with `make bench` ({report['size']} sizes, {report['seconds'] // 60} min)"
    if not _ran_here(report):  # ``run_all.py --collect`` or ``--only`` laid over earlier runs: nothing ran at this date
        what = f"Collected {m['date']} from the separate runs listed below ({report['size']} sizes) by `run_all.py`"
    return [
        f"{what} on "
        f"{m['cpu_model']}, {m['usable_cores']} cores, {m['ram_gib']} GiB RAM, {m['ffmpeg'].split(' Copyright')[0]}, "
        f"Python {m['python']}, Linux {m['kernel']}; load average at the start {m['load_average']} "
        f"(a shared machine); commit {m['git_commit']}{' + local changes' if m['git_dirty'] else ''}.",
        "",
        *_separately(report),
        "Every figure is the median over at least 3 runs, with the lowest and highest run in brackets. "
        "Each baseline ran in the same run as what it is compared with, alternating, and ratios are taken "
        "run by run.",
        "",
    ]


def _measured(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """When and on which CPU each benchmark ran (the machine facts' own date and CPU unless it says otherwise)."""
    here = (report["machine"]["date"], report["machine"]["cpu_model"])
    return {
        name: (b.get("measured_at", here[0]), b.get("measured_on", here[1])) for name, b in report["benchmarks"].items()
    }


def _elsewhere(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The benchmarks not run by this ``run_all``: measured at another date or on another CPU, or collected from
    their own result file (``--collect``: maybe within the same second as the machine facts)."""
    here = (report["machine"]["date"], report["machine"]["cpu_model"])
    benchmarks = report["benchmarks"]
    return {n: when for n, when in _measured(report).items() if when != here or benchmarks[n].get("collected")}


def _ran_here(report: dict[str, Any]) -> bool:
    return not report["benchmarks"] or len(_elsewhere(report)) < len(report["benchmarks"])


def _separately(report: dict[str, Any]) -> list[str]:
    """A note for benchmarks measured in another ``run_all`` than the machine facts' one, or on another CPU."""
    here = (report["machine"]["date"], report["machine"]["cpu_model"])
    other = _elsewhere(report)
    if not other:
        return []
    listed = ", ".join(
        f"{name} at {at}" + ("" if cpu == here[1] else f" on {cpu}") for name, (at, cpu) in sorted(other.items())
    )
    rest = f"; the rest at {here[0]} on {here[1]}" if _ran_here(report) else ""
    return [f"Measured in another `run_all` of the same size: {listed}{rest}.", ""]


def ingest(b: dict[str, Any]) -> list[str]:
    s, t = b["summary"], b["targets"]
    names = {
        "baseline": "bare aiohttp + HMAC check (no durable write)",
        "durable": "durable receiver: + aiokafka acks=all publish (asyncio)",
        "durable-uvloop": "durable receiver on uvloop",
        "after": "ingest, tenant without OAuth (token in MongoDB before the 200)",
        "after-oauth": "ingest, tenant with OAuth (token written behind the 200)",
    }
    rows = []
    for app, label in names.items():
        if app not in s:
            continue
        a = s[app]
        target = "–"
        if app in t:
            ratio_ok, p99_ok = met(t[app]["throughput_met"]), met(t[app]["p99_met"])
            target = f"≥ 60 % of durable: {ratio_ok}; p99 ≤ 100 ms: {p99_ok}"
        vs_durable = cell(a["vs_durable_throughput"], digits=3) if "vs_durable_throughput" in a else "1"
        vs_bare = cell(a["vs_baseline_throughput"], digits=3) if "vs_baseline_throughput" in a else "1"
        cpu = cell(a["server_cpu_us_per_request"]) if "server_cpu_us_per_request" in a else "–"
        rows.append(
            [label, cell(a["throughput_rps"]), cell(a["p50_ms"]), cell(a["p99_ms"]), cpu, vs_durable, vs_bare, target]
        )  # fmt: skip
    c = b["config"]
    return [
        f"### Ingest: signed `recording.completed` webhooks, {c['concurrency']} connections, "
        f"{c['duration_s']:g} s per run",
        "",
        "Real Kafka (acks=all) and the local MongoDB-wire server (FerretDB on SQLite); every webhook a new recording.",
        "",
        *table(
            [
                "server",
                "accepted / s",
                "p50 ms",
                "p99 ms",
                "server CPU µs / webhook",
                "vs durable",
                "vs bare",
                "target",
            ],
            rows,
        ),
        "",
        *_ingest_machine(s, names),
    ]


def _ingest_machine(s: dict[str, Any], names: dict[str, str]) -> list[str]:
    """Where the machine's CPU went per webhook, process by process (results since 2026-12-04 20:30)."""
    processes = ("server", "load_generator", "kafka", "mongo")
    rows = [
        [label, cell(s[app]["machine_busy_cores"])]
        + [cell(s[app]["cpu_us_per_request"][p]) if p in s[app]["cpu_us_per_request"] else "–" for p in processes]
        for app, label in names.items()
        if app in s and "cpu_us_per_request" in s[app]
    ]
    if not rows:
        return []
    headers = ["server", "machine busy, cores", "server µs", "load generator µs", "Kafka µs", "MongoDB-wire server µs"]
    return ["CPU per answered webhook, by process (all on the same cores):", "", *table(headers, rows), ""]


def mixer(g: dict[str, Any]) -> list[str]:
    head = next(p for p in g["points"] if p["name"] == g["headline"])
    speed = g["decode_track_seconds_per_second"]
    ratio = head["ratio_mixer_to_bare"]["median"]
    rows = [
        ["mixer step: download (OAuth) → S3 + scratch, ffprobe, merge with analytics, upload, MongoDB",
         cell(head["mixer_seconds"], " s")],
        ["bare `ffmpeg` merge of the same local files, same filter graph and encoder, no analytics",
         cell(head["bare_ffmpeg_seconds"], " s")],
        ["mixer step ÷ bare merge, wall time (target ≤ 1.25)",
         f"{cell(head['ratio_mixer_to_bare'])} {met(ratio <= 1.25)}"],
        ["mixer step ÷ bare merge, CPU time", cell(head["cpu_ratio_mixer_to_bare"])],
        ["ffmpeg decode speed on this CPU, one thread", cell(speed, " track-s per CPU-s")],
        ["decode floor: every track decoded once at that speed", f"{head['decode_floor_seconds']} CPU-s"],
        ["bare merge ÷ decode floor, CPU time", cell(head["bare_cpu_vs_floor"])],
        ["bare merge ÷ decode floor, wall time", cell(head["bare_vs_floor"])],
        ["mixer step ÷ decode floor, CPU time", cell(head["mixer_cpu_vs_floor"])],
        ["mixer step ÷ decode floor, wall time", cell(head["mixer_vs_floor"])],
    ]  # fmt: skip
    return [
        f"### Mixer step: {head['minutes']:g} min × {head['participants']} participants vs the bare ffmpeg merge",
        "",
        *table(["figure", "value"], rows),
        "",
    ]


def growth(g: dict[str, Any]) -> list[str]:
    rows = []
    for p in g["points"]:
        meeting = _minutes(p["minutes"]) + (" (1 run)" if "note" in p else "")
        rows.append(
            [meeting, str(p["participants"]), cell(p["mixer_seconds"]), cell(p["realtime_factor"]),
             cell(p["mixer_cpu_seconds"]), cell(p["peak_rss_mib"]), cell(p["peak_ffmpeg_rss_mib"]),
             cell(p["peak_scratch_mib"]), f"{p['channels']} ch {p['format']}, {p['mixed_mib']} MiB",
             str(p["decode_floor_seconds"]), cell(p["mixer_cpu_vs_floor"]), cell(p["mixer_vs_floor"])]
        )  # fmt: skip
    # Results written before every point was in the default size list the missing ones.
    full_only = g["config"].get("full_only", {})
    shortest = min(p["minutes"] for p in g["points"])
    for minutes, speakers in [(m, 8) for m in full_only.get("durations", [])] + [
        (shortest, n) for n in full_only.get("participants", [])
    ]:
        rows.append([_minutes(minutes), str(speakers), FULL_ONLY, *["" for _ in range(9)]])
    notes = sorted({f"{_minutes(p['minutes'])} × {p['participants']}: {p['note']}" for p in g["points"] if "note" in p})
    header = ["meeting", "speakers", "mixer step s", "× real time", "CPU s", "peak RSS mixer MiB",
              "peak RSS ffmpeg MiB", "peak scratch MiB", "output", "decode floor CPU-s", "CPU ÷ floor",
              "wall ÷ floor"]  # fmt: skip
    return [
        "### Mixer growth: meeting length (8 speakers) and speakers (shortest meeting)",
        "",
        *table(header, rows),
        "",
        *([f"Measured once: {'; '.join(notes)}.", ""] if notes else []),
    ]


def _minutes(minutes: float) -> str:
    return f"{minutes / 60:g} h" if minutes >= 60 else f"{minutes:g} min"


def download(d: dict[str, Any]) -> list[str]:
    labels = {
        "curl": "`curl` to a file (baseline)",
        "fetch": "mixer's client (Bearer, redirects, resume, error-body check) to a file",
        "step": "mixer's download step: client → scratch file + one streamed S3 PUT (size announced)",
        "step-multipart": "the step with an S3 multipart upload (before 2026-12-04 20:00; size unannounced)",
        "s3-alone": "S3 upload alone of the finished file (our multipart client, the mixer's defaults)",
        "s3-alone-put": "S3 upload alone of the finished file in one streamed PUT (how the mix goes up)",
        "s3-curl": "S3 upload alone by `curl --aws-sigv4` (one PUT, no code of ours)",
    }
    labels = {p: label for p, label in labels.items() if p in d["paths"]}  # s3-curl since 2026-12-04
    rows = [
        [
            label,
            cell(d["paths"][p]["mib_per_s"]),
            cell(d["paths"][p]["vs_curl"]),
            cell(d["paths"][p].get("vs_s3_curl")),
            cell(d["paths"][p].get("s3_server_writes")),  # since 2026-12-04 16:00
        ]
        for p, label in labels.items()
    ]
    mib = d["config"]["file_bytes"] / (1 << 20)
    return [
        f"### Download: one {d['config']['hours']:g} h participant track ({mib:,.0f} MiB) "
        "from the Zoom sandbox over loopback",
        "",
        *table(
            [
                "path",
                "MiB/s",
                "time ÷ curl's",
                "time ÷ the S3 server's own PUT (curl)",
                "bytes the S3 server wrote ÷ the file's",
            ],
            rows,
        ),
        "",
    ]


def notifier(n: dict[str, Any]) -> list[str]:
    base, conc = n["summary"]["baseline"], n["summary"]["concurrent"]
    target = n["target"]["completion_to_email_p95_seconds"]
    figures = {
        "completion_to_email_median": "median",
        "completion_to_email_p95": f"p95 (target ≤ {target:g} s)",
        "completion_to_email_max": "max",
    }
    rows = [
        [label, cell(base[key], " s"), cell(conc[key], " s"), cell(n["ratio_to_baseline"].get(key))]
        for key, label in figures.items()
    ]
    once = "yes" if base["one_email_per_meeting"] and conc["one_email_per_meeting"] else "**no**"
    rows.append(["one e-mail per meeting, every run", once, once, ""])
    server = n.get("mongo", "the local FerretDB 1.24 on SQLite (what the tests use)")
    return [
        f"### Notifier: {base['meetings']} completions at once → e-mail accepted, on {server}",
        "",
        *table(
            ["figure", "`concurrent_jobs=1`", f"`concurrent_jobs={conc['concurrent_jobs']}`", "ratio, run by run"], rows
        ),
        "",
        f"Target p95 ≤ {target:g} s with `concurrent_jobs={conc['concurrent_jobs']}`: {met(n['target']['met'])}.",
        "",
    ]


def whisper(w: dict[str, Any]) -> list[str]:
    rows = []
    for key, label in (("one_channel", "one channel"), ("meeting", f"{w['meeting']['channels']} speakers")):
        case = w[key]
        for mode, who in (("ours", "transcriber (per channel, windows, VAD)"), ("baseline", "faster-whisper API")):
            f = case[mode]
            audio = f"{label}, {case['talk_seconds']:g} s of talk"
            factors = [cell(f["realtime_factor"]), cell(f["realtime_factor_per_core"])]
            rows.append([audio, who, cell(f["seconds"], " s"), *factors, cell(f["peak_rss_mib"], " MiB")])
    return [
        f"### Self-hosted transcription: Whisper tiny.en int8 on CPU, {w['meeting']['minutes']:g}-minute meeting",
        "",
        *table(["audio", "who", "wall", "realtime factor", "per core", "peak memory"], rows),
        "",
    ]


def split(s: dict[str, Any]) -> list[str]:
    """The split's cost by format and the recognition of its Opus parts (either may be skipped: ``--skip-*``)."""
    lines = _split_cost(s["cost"]) if "cost" in s else []
    return lines + (_recognition(s["recognition"]) if "recognition" in s else [])


def _split_cost(c: dict[str, Any]) -> list[str]:
    def per_hour(fmt: str, mode: str) -> str:
        return cell(c[fmt]["cut_cpu_seconds_per_hour_per_channel"].get(mode), " s", digits=3)

    rows = [
        [fmt, str(c[fmt]["parts"]), per_hour(fmt, "planner"), per_hour(fmt, "reencode"), per_hour(fmt, "copy"),
         cell(c[fmt].get("ratio_planner_vs_reencode", {}).get("cut_cpu_seconds"), digits=4),
         cell(c[fmt]["ratio"]["cpu_seconds"]), cell(c[fmt]["extra_cpu_vs_merge_cpu"], digits=3)]
        for fmt in ("flac", "opus", "wav") if fmt in c
    ]  # fmt: skip
    header = ["format", "parts", "cut CPU per hour per channel: planner", "re-encoded", "ffmpeg copy",
              "cut CPU: planner ÷ re-encoded", "split CPU: re-encoded ÷ copy",
              "re-encode's extra CPU ÷ the merge's"]  # fmt: skip
    return [
        f"### Long-meeting split: the planner's parts (Opus: packets copied behind a pre-skip; FLAC: encoded again)"
        f" vs every part encoded again and the ffmpeg stream copy, {c['minutes']:g} min × {c['channels']} channels,"
        f" limit {c['part_limit_seconds']:g} s",
        "",
        *table(header, rows),
        "",
    ]


def _recognition(r: dict[str, Any]) -> list[str]:
    names = {"planner": "planner's parts (Opus packets copied)", "reencoded": "every part encoded again (Opus twice)",
             "once": "same spans encoded once", "control": "encoded once, 0.1 dB quieter (noise control)",
             "lossless": "same spans, WAV"}  # fmt: skip
    if "planner" not in r:  # results written before the packet copy: the planner's parts were encoded twice
        names = {"twice": "planner's parts (Opus encoded twice)", **{k: v for k, v in names.items() if k != "planner"}}
        names.pop("reencoded")
    rows = []
    for v, label in names.items():
        pair = r["paired_vs_once"].get(v)
        versus = f"{pair['worse']} / {pair['same']} / {pair['better']} (p {pair['sign_test_p']:g})" if pair else "–"
        changed = cell(r["changed_words_vs_once"][v], digits=0) if v in r["changed_words_vs_once"] else "–"
        rows.append([label, cell(r[v]["wer_percent"], " %"), f"{r['pooled_wer_percent'][v]:.2f} %", versus, changed])
    header = ["parts", "WER", "pooled WER", "channels worse / same / better than once", "words changed vs once"]
    return [
        f"### Recognition of split Opus parts: {r['speakers']} espeak-ng speakers, {r['seconds']:g} s, "
        f"{r['reference_words']} words, {len(r['runs'])} recordings, Whisper tiny.en",
        "",
        *table(header, rows),
        "",
    ]


def limiter(lim: dict[str, Any]) -> list[str]:
    rows = [
        [f"most slots held at once, cap {lim['cap']}", cell(lim["max_in_flight_seen"], digits=0)],
        [f"achieved rate, configured {lim['rate_per_second']}/s", cell(lim["achieved_rate_per_second"], "/s")],
        ["rate error", cell(lim["rate_error_percent"], " %")],
        [f"most grants in any 1 s (rate + burst = {lim['allowed_in_1s_window']})",
         cell(lim["max_grants_in_1s_window"], digits=0)],
        ["overhead per submission (acquire + release), median", cell(lim["overhead_median_ms"], " ms")],
        ["overhead per submission (acquire + release), p99", cell(lim["overhead_p99_ms"], " ms")],
    ]  # fmt: skip
    return [f"### Limiter: {lim['replicas']} replicas sharing one MongoDB", "", *table(["figure", "value"], rows), ""]


def page(p: dict[str, Any]) -> list[str]:
    rows = [
        [f"{name}: server time, median / p95",
         f"{cell(p[key]['server_median_ms'], ' ms')} / {cell(p[key]['server_p95_ms'], ' ms')}",
         met(p[key]["server_median_ms"]["median"] < p["target_ms"])]
        for key, name in (("cold", "cold (reads MongoDB)"), ("warm", "warm (page cache)"))
    ]  # fmt: skip
    title = f"### Meeting page: {p['hours']:g} h, {p['speakers']} speakers, {p['transcript_lines']} lines"
    return [title, "", *table(["figure", "value", f"< {p['target_ms']:g} ms"], rows), ""]


def erasures(r: dict[str, Any]) -> list[str]:
    rows = [
        [name, cell(r[f"{key}_seconds"], " s"), cell(r[f"{key}_ms_per_meeting"], " ms")]
        for name, key in (("one at a time (before)", "one_at_a_time"), (f"{r['reads_at_once']} at a time", "at_once"))
    ]
    title = f"### `zoomsymbl erasures`: surveying {r['erasures']} erased meetings (speed-up {cell(r['speedup'], '×')})"
    return [title, "", *table(["survey", "seconds", "per meeting"], rows), ""]


def e2e(e: dict[str, Any]) -> list[str]:
    single, many = e["summary"]["single"], e["summary"]["concurrent"]
    steps = {
        "to_mixed": "webhook → mixed (ingest, Kafka, mixer)",
        "to_submitted": "webhook → provider submission",
        "provider": "provider job (sandbox's fixed timings) and its callback",
        "completion_queued": "provider completion → notifier applied it (Kafka queue)",
        "completed_to_email": "provider completion → e-mail accepted by SMTP",
        "to_email": "webhook → e-mail",
    }
    rows = [
        [label, cell(single.get(f"{k}_median"), " s"), cell(many.get(f"{k}_median"), " s"),
         cell(many.get(f"{k}_p95"), " s"), cell(many.get(f"{k}_max"), " s")]
        for k, label in steps.items()
    ]  # fmt: skip
    rows.append(
        ["all meetings done (wall)", cell(single["wall_seconds"], " s"), "", "", cell(many["wall_seconds"], " s")]
    )
    swept = "completion applied from the sweeper's poll (callback refused, or still queued)"
    rows.append([swept, cell(single["completed_via_sweeper"], digits=0), cell(many["completed_via_sweeper"], digits=0),
                 "", ""])  # fmt: skip
    c = e["config"]
    return [
        f"### End to end: {c['participants']} speakers × {c['seconds']} s meetings, four services as processes",
        "",
        f"Mixer: 2 meetings at once; submitter: {c['rate']:g}/s, 50 in flight; Symbl sandbox job: "
        f"{c['provider_waiting']:g} s scheduled + {c['provider_running']:g} s running; the notifier's sweeper "
        f"polls a job after {c.get('sweeper_stale', 30):g} s without news (production default: 15 min).",
        "",
        *table(["step", "1 meeting", f"{many['meetings']} at once: median", "p95", "max"], rows),
        "",
    ]


def capacity(g: dict[str, Any]) -> list[str]:
    c = g["capacity"]
    return [
        f"One mixer replica ({c['cores']} cores): {c['one_at_a_time_per_day']:,} meetings of {c['meeting']} a day "
        f"mixing one at a time; {c['all_cores_per_day']:,} with every core busy (`concurrent_meetings` ≥ cores).",
        "",
    ]


def _stderr(result: dict[str, Any], shown: int = 12) -> list[str]:
    """The last lines a failed benchmark wrote on stderr, as a code block (all of them are in latest.json)."""
    tail = result.get("stderr_tail") or []
    return ["```", *tail[-shown:], "```", ""] if tail else []


def markdown(report: dict[str, Any]) -> str:
    b = report["benchmarks"]
    lines = ["## Performance", "", *machine_line(report)]
    sections = [("ingest", ingest), ("growth", mixer), ("growth", growth), ("growth", capacity),
                ("download", download), ("limiter", limiter), ("e2e", e2e), ("whisper", whisper),
                ("page", page), ("notifier", notifier), ("notifier-postgresql", notifier),
                ("split", split), ("erasures", erasures)]  # fmt: skip
    failed: set[str] = set()
    for name, render in sections:
        if name not in b or name in failed:
            continue
        if b[name].get("status") != "ok":
            lines += [f"### {name}: {b[name].get('status')}", "", *_stderr(b[name])]
            failed.add(name)
            continue
        lines += render(b[name])
    missing = [n for n in ("ingest", "limiter", "download", "growth", "e2e", "whisper", "page") if n not in b]
    if missing:
        lines += [f"{NOT_RUN} in this run: {', '.join(missing)}.", ""]
    return "\n".join(lines)
