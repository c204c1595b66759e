"""The page's stylesheet and script: plain CSS and JavaScript, no framework, no build step.

Both are inlined with the response's CSP nonce. The script only reads ``data-t`` attributes (seconds)
and text nodes; it never parses HTML, so a hostile transcript cannot become markup.
"""

from __future__ import annotations

STYLE = """
:root{--fg:#1d232a;--muted:#5b6670;--line:#e3e7eb;--accent:#0b63ce;
  font-family:system-ui,-apple-system,"Segoe UI",sans-serif}
body{margin:0 auto;max-width:72rem;padding:1rem 1.5rem 4rem;color:var(--fg);line-height:1.45;overflow-wrap:break-word}
h1{font-size:1.6rem;margin:.5rem 0}h2{font-size:1.15rem;margin:1.6rem 0 .5rem;border-bottom:1px solid var(--line)}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem 1rem;margin:0}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}nav.downloads a{margin-right:1rem}
.player{position:sticky;top:0;background:#fff;padding:.5rem 0;z-index:1;border-bottom:1px solid var(--line)}
audio{width:100%}
.wide{overflow-x:auto}
table.timeline{width:100%;border-collapse:collapse;font-size:.9rem}
table.timeline th,table.timeline td{padding:.2rem .4rem;text-align:left;white-space:nowrap}
table.timeline td.track{width:60%}
tr.speaker th bdi{display:block;max-width:14rem;white-space:normal}
svg.track{width:100%;min-width:10rem;height:14px;background:#f2f4f6;display:block;cursor:pointer}
.n{text-align:right;font-variant-numeric:tabular-nums}
.s0{fill:#0b63ce}.s1{fill:#d9480f}.s2{fill:#2b8a3e}.s3{fill:#862e9c}.s4{fill:#c2255c}.s5{fill:#1098ad}
.s6{fill:#e67700}.s7{fill:#5c940d}.s8{fill:#364fc7}.s9{fill:#a61e4d}.s10{fill:#087f5b}.s11{fill:#5f3dc4}
[data-t]{cursor:pointer}li[data-t]:hover,li[data-t]:focus{background:#eef4fc;outline:none}
ul.items,ol.lines{padding-left:0;list-style:none}ul.items li,ol.lines li{padding:.15rem .3rem;border-radius:3px}
time{color:var(--muted);font-variant-numeric:tabular-nums;margin-right:.4rem}
.owner,.due,.who{color:var(--muted);font-size:.9em}.who{font-weight:600;color:var(--fg);margin-right:.3rem}
mark{background:#ffe066}.search{display:flex;gap:.6rem;align-items:center}.search input{flex:1;padding:.3rem}
.note{color:var(--muted)}
.notice{margin:1.2rem 0 0;padding:.5rem .8rem;border-left:4px solid #e67700;background:#fff4e6}
"""

SCRIPT = """
(function () {
  "use strict";
  var audio = document.getElementById("audio");
  function seek(el) {
    var t = parseFloat(el.getAttribute("data-t"));
    if (!audio || isNaN(t)) { return; }
    audio.currentTime = t;
    var played = audio.play();
    if (played && played.catch) { played.catch(function () {}); }
  }
  // A presigned audio URL (audio_public_url) expires after audio_url_seconds: S3 then refuses every request the
  // player makes, so a seek or a read past what it buffered failed for good. The page is loaded again, at the same
  // place, for a new URL; not when the page came from such a reload within a minute (S3 refusing at once), and then
  // the page says so instead.
  function failed(text) {
    if (document.getElementById("audio-failed")) { return; }
    var note = document.createElement("p");
    note.className = "note";
    note.id = "audio-failed";
    note.textContent = text;
    audio.parentNode.appendChild(note);
  }
  // Streamed through this service (the default), the player's requests carry the page's link: once the link expired
  // (or the service cannot read the file), each one is refused and the player stopped without a word. Say so; a
  // reload shows the page of an expired link, or plays again.
  var stalled = function () {
    failed("The meeting's audio stopped loading. Reload this page: if its link has expired, the page will say so.");
  };
  if (audio && !audio.hasAttribute("data-renew")) {
    audio.addEventListener("error", stalled);
    if (audio.error) { stalled(); }  // it failed before this script ran
  }
  if (audio && audio.hasAttribute("data-renew")) {
    var back = /^#t=([0-9]+(?:[.][0-9]+)?)&at=([0-9]+)$/.exec(location.hash);
    var renewed = back ? parseInt(back[2], 10) : 0;
    if (back) {
      history.replaceState(null, "", location.pathname + location.search);
      var place = parseFloat(back[1]);
      // Chromium forgets a time set before the file's length is known.
      if (audio.readyState >= 1) { audio.currentTime = place; }
      else { audio.addEventListener("loadedmetadata", function () { audio.currentTime = place; }, {once: true}); }
    }
    var renew = function () {
      if (Date.now() - renewed < 60000) {
        failed("The meeting's audio cannot be loaded right now. Reload this page in a minute.");
        return;
      }
      var at = "#t=" + (audio.currentTime || 0).toFixed(3) + "&at=" + Date.now();
      history.replaceState(null, "", location.pathname + location.search + at);
      location.reload();
    };
    audio.addEventListener("error", renew);
    if (audio.error) { renew(); }  // it failed before this script ran
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-t]") : null;
    if (el) { seek(el); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && e.target.getAttribute && e.target.hasAttribute("data-t")) { seek(e.target); }
  });
  var input = document.getElementById("search");
  var hits = document.getElementById("hits");
  var lines = document.getElementById("lines");
  if (!input || !lines) { return; }
  var texts = Array.prototype.slice.call(lines.querySelectorAll(".x"));
  // Lower case that keeps each character's length: a match's place in the folded text is its place in the text.
  // ("İ" lower-cases to two characters: every highlight after one in its line landed a character late.)
  function fold(s) {
    var low = s.toLowerCase();
    if (low.length === s.length) { return low; }
    return Array.from(s, function (c) { var l = c.toLowerCase(); return l.length === c.length ? l : c; }).join("");
  }
  var originals = texts.map(function (n) { return n.textContent; });
  var lowered = originals.map(fold);
  var marked = [];
  var current = -1;
  var timer = null;
  function reset() {
    for (var i = 0; i < marked.length; i++) { texts[marked[i]].textContent = originals[marked[i]]; }
    marked = [];
  }
  function run() {
    reset();
    current = -1;
    var q = fold(input.value.trim());
    var count = 0;
    if (q) {
      for (var i = 0; i < texts.length; i++) {
        var low = lowered[i], at = low.indexOf(q);
        if (at < 0) { continue; }
        var s = originals[i], frag = document.createDocumentFragment(), from = 0;
        while (at >= 0) {
          frag.appendChild(document.createTextNode(s.slice(from, at)));
          var m = document.createElement("mark");
          m.textContent = s.slice(at, at + q.length);
          frag.appendChild(m);
          count++;
          from = at + q.length;
          at = low.indexOf(q, from);
        }
        frag.appendChild(document.createTextNode(s.slice(from)));
        texts[i].textContent = "";
        texts[i].appendChild(frag);
        marked.push(i);
      }
    }
    hits.textContent = q ? count + (count === 1 ? " match" : " matches") : "";
  }
  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 120); });
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !marked.length) { return; }
    e.preventDefault();
    current = (current + 1) % marked.length;
    texts[marked[current]].parentNode.scrollIntoView({block: "center"});
  });
})();
"""
