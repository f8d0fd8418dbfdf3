//! The review page: one HTML document (no external assets) with the assembled cut at the top
//! and, per shot in storyboard order, its takes side by side (poster frame, cost, the selected
//! one marked), the prompt with voice names, start/end images, endpoint, duration, cost
//! (estimated vs reported; a failed shot costs $0), state, error and the director's note.
//! `review.html` (written by `assemble`) is the static page; `storyboard review` serves the
//! same page live, with buttons to pick a take, ask for a redo and write a note.

use camino::Utf8Path;

use crate::record::manifest::{Manifest, ShotStatus, TakeRecord};
use crate::record::takes::Edge;

use super::Clip;

/// Escapes text for HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;background:#111;color:#eee}\
h1{margin-bottom:.2rem}.summary{color:#aaa;margin-bottom:1rem}.cut video{max-width:960px;width:100%}\
.shot{background:#1c1c1c;border:2px solid #333;border-radius:8px;padding:1rem;margin:1.2rem 0}\
.shot.failed{border-color:#e5484d;background:#2a1415}.shot.uncertain{border-color:#f5a524;background:#2a2210}\
.shot.pending{opacity:.7}.takes{display:flex;gap:1rem;flex-wrap:wrap;margin:.6rem 0}\
.take{width:280px;margin:0;border:2px solid #333;border-radius:6px;padding:.5rem}.take.selected{border-color:#30a46c}\
video{width:100%;background:#000;border-radius:4px}.gap{color:#aaa;padding:2rem;border:2px dashed #444;border-radius:6px}\
.badge{display:inline-block;padding:.1rem .5rem;border-radius:99px;font-size:.8rem;background:#333}\
.failed .badge{background:#e5484d;color:#fff}.uncertain .badge{background:#f5a524;color:#000}\
.done .badge,.cached .badge,.selected .badge{background:#30a46c;color:#fff}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem}dt{color:#888}dd{margin:0;word-break:break-word}\
.member{display:inline-block;margin:0 .6rem 0 0;text-align:center}.member img{border-radius:4px;display:block}.badge.redo{background:#5b5bd6;color:#fff}.frames figure{display:inline-block;vertical-align:top;margin:0 .6rem .6rem 0}.frame img{display:block;border-radius:4px}.frame.selected img{outline:3px solid #5b5bd6}.badge.stale{background:#f5a524;color:#000}.version h3{font-size:.95rem;color:#bbb;margin:.6rem 0 0}.note{color:#ffd479;margin:.3rem 0 0}.error{color:#ff9592}.together .version{display:inline-block;vertical-align:top;margin-right:.6rem}button{cursor:pointer}textarea{width:100%;min-height:3rem;background:#222;color:#eee}";

/// How the page is seen: as a file beside the clips, or served live by `storyboard review`.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    /// Put before every media path (`media/` when served).
    pub prefix: String,
    /// The takes (by clip sha256) that have a poster frame.
    pub posters: std::collections::HashSet<String>,
    /// Served live: the token its requests carry (and the buttons to pick, redo and note).
    pub token: Option<String>,
    /// The selection changed after the cut was assembled (the cut shows other takes).
    pub cut_stale: bool,
}

/// Whether the cut `cut` (`<name>.mp4`) shows other takes than the shots' selected ones now,
/// as its timeline (`<name>.otio`, written with it) says; false when there is no timeline.
pub(crate) fn cut_stale(out: &Utf8Path, cut: &str, clips: &[Clip]) -> bool {
    let timeline = out.join(cut).with_extension("otio");
    let Some(assembled) = super::otio::assembled(&timeline) else {
        return false;
    };
    let now: Vec<(String, Option<String>)> = clips
        .iter()
        .map(|c| {
            let sha = c.rel.as_ref().and_then(|_| c.take()).map(|t| t.clip.sha256.clone());
            (c.record.id.clone(), sha)
        })
        .collect();
    assembled != now
}

/// The poster frame of a take, relative to the output folder, when one was made.
pub(crate) fn poster_path(sha256: &str) -> String {
    crate::record::folder::layout::poster(sha256)
}

/// Makes each take's poster frame once (a frame one second in) when ffmpeg is installed; the
/// takes (by clip sha256) that have one.
pub(crate) fn make_posters(out: &Utf8Path, clips: &[Clip]) -> std::collections::HashSet<String> {
    let ffmpeg = crate::media::frames::available();
    let mut made = std::collections::HashSet::new();
    for t in clips.iter().flat_map(|c| &c.record.takes) {
        let dest = out.join(poster_path(&t.clip.sha256));
        if !dest.exists() && ffmpeg {
            if let Some(dir) = dest.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::media::frames::extract(&out.join(&t.clip.path), Some(1.0), &dest);
        }
        if dest.exists() {
            made.insert(t.clip.sha256.clone());
        }
    }
    made
}

/// The page. `cut` is the assembled film's file name, when it exists.
pub(crate) fn page(title: &str, manifest: &Manifest, clips: &[Clip], cut: Option<&str>, view: &View) -> String {
    let rendered: Vec<&Clip> = clips.iter().filter(|c| c.rel.is_some()).collect();
    let seconds: f64 = clips.iter().map(|c| c.duration).sum();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{t} — review</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p class=\"summary\">{n} shots · {r} with a clip · {secs:.1} s · {cost} · {gen}</p>\n",
        t = escape(title),
        n = manifest.shots.len(),
        r = rendered.len(),
        secs = seconds,
        cost = money(clips),
        gen = escape(&manifest.generator),
    );
    if let Some(cut) = cut {
        let stale = match view.cut_stale {
            true => {
                " <span class=\"badge stale cut-stale\">stale: the selection changed after the cut was assembled; `storyboard assemble` makes it again</span>"
            }
            false => "",
        };
        html.push_str(&format!(
            "<section class=\"cut\"><h2>The cut{stale}</h2><video controls preload=\"metadata\" src=\"{}{}\"></video></section>\n",
            escape(&view.prefix),
            escape(cut)
        ));
    }
    html.push_str("<main>\n");
    for c in clips {
        shot(&mut html, c, view);
    }
    html.push_str("</main>\n");
    html.push_str(TOGETHER);
    if let Some(token) = &view.token {
        html.push_str(&script(token));
    }
    html.push_str("</body>\n</html>\n");
    html
}

/// Money over the shots' selected takes and this render's requests: estimated and reported.
fn money(clips: &[Clip]) -> String {
    let est: f64 = clips.iter().filter_map(|c| cost(c).0).sum();
    let actual: f64 = clips.iter().filter_map(|c| cost(c).1).sum();
    // Every frame take was paid for (frames first), whichever one a video animates.
    let frames = clips
        .iter()
        .flat_map(|c| c.record.frames.iter().chain(&c.record.end_frames));
    let frames: f64 = frames.filter_map(|f| f.actual_usd.or(f.estimated_usd)).sum();
    let videos = match actual > 0.0 {
        true => format!("estimated ${est:.2} · reported ${actual:.2}"),
        false => format!("estimated ${est:.2}"),
    };
    match frames > 0.0 {
        true => format!("{videos} · frames ${frames:.2}"),
        false => videos,
    }
}

/// A shot's (estimated, reported) cost: its selected take's, else this render's request's;
/// a shot that failed or has no clip cost nothing.
fn cost(c: &Clip) -> (Option<f64>, Option<f64>) {
    match c.take() {
        Some(t) => (t.estimated_usd, t.actual_usd),
        None if matches!(c.record.request.status, ShotStatus::Failed) => (Some(0.0), None),
        None => (c.record.request.estimated_usd, c.record.request.actual_usd),
    }
}

/// The prompt as sent, with `<<<voice_N>>>` markers shown as the voices' names.
fn prompt(c: &Clip) -> String {
    let input = c
        .take()
        .and_then(|t| t.input.as_ref())
        .unwrap_or(&c.record.request.input);
    let beats = input.get("multi_prompt").and_then(|b| b.as_array());
    let mut text = match beats {
        Some(beats) => beats
            .iter()
            .enumerate()
            .map(|(n, b)| {
                let p = b.get("prompt").and_then(|p| p.as_str()).unwrap_or("");
                let d = b.get("duration").and_then(|d| d.as_str()).unwrap_or("?");
                format!("beat {} ({d} s): {p}", n + 1)
            })
            .collect::<Vec<_>>()
            .join(" · "),
        None => input.get("prompt").and_then(|p| p.as_str()).unwrap_or("").to_owned(),
    };
    for (n, name) in c.record.voices.iter().enumerate() {
        text = text.replace(&format!("<<<voice_{}>>>", n + 1), &format!("[{name}]"));
    }
    text
}

/// One shot's section.
fn shot(html: &mut String, c: &Clip, view: &View) {
    let live = view.token.is_some();
    let s = &c.record;
    let status = format!("{:?}", s.request.status).to_lowercase();
    let id = escape(&s.id);
    let withdraw = match live && s.redo {
        true => format!(" <button data-no-redo=\"{id}\">withdraw the redo</button>"),
        false => String::new(),
    };
    html.push_str(&format!(
        "<section class=\"shot {status}\" id=\"shot-{id}\" data-shot=\"{id}\">\n<h2>{id} <span class=\"badge\">{status}</span>{}{withdraw}</h2>\n",
        s.selected_take.map_or(" — no take selected: a gap in the cut".to_owned(), |n| format!(" — take {n}"))
            + stale_badge(s)
            + if s.redo { " <span class=\"badge redo\">redo asked: one new take on the next render</span>" } else { "" },
    ));
    if s.takes.is_empty() {
        html.push_str(&format!("<div class=\"gap\">no clip yet ({} s gap)</div>\n", s.seconds));
    }
    frames(html, s, view);
    if s.takes.len() >= 2 {
        html.push_str(&format!(
            "<p><button data-together=\"{id}\">play the takes side by side, in sync</button></p>\n"
        ));
    }
    take_groups(html, s, view);
    html.push_str("<dl>\n");
    let mut row = |k: &str, v: String| html.push_str(&format!("<dt>{k}</dt><dd>{v}</dd>\n"));
    row("prompt", escape(&prompt(c)));
    let input = c.take().and_then(|t| t.input.as_ref()).unwrap_or(&s.request.input);
    for field in ["start_image_url", "image_url", "end_image_url"] {
        if let Some(url) = input.get(field).and_then(|v| v.as_str()) {
            row(
                field.trim_end_matches("_url"),
                format!("<a href=\"{0}\">{0}</a>", escape(url)),
            );
        }
    }
    if !s.cast.is_empty() {
        row("cast", cast(&s.cast, view));
    }
    row("endpoint", escape(&s.request.endpoint));
    row("duration", format!("{:.2} s (planned {} s)", c.duration, s.seconds));
    let (est, actual) = cost(c);
    row(
        "cost",
        match (est, actual) {
            (_, Some(a)) => format!(
                "${a:.2} reported ({} estimated)",
                est.map_or("unpriced".into(), |e| format!("${e:.2}"))
            ),
            (Some(e), None) => format!("${e:.2} estimated"),
            (None, None) => "unpriced".to_owned(),
        },
    );
    if let Some(e) = s
        .request
        .error
        .as_ref()
        .filter(|_| !matches!(s.request.status, ShotStatus::Done | ShotStatus::Cached))
    {
        row("error", format!("<span class=\"error\">{}</span>", escape(e)));
    }
    let about = s
        .selected_take
        .map_or("note".to_owned(), |n| format!("note on take {n}"));
    match (live, &s.note) {
        (true, note) => row(
            &about,
            format!(
                "<textarea data-note=\"{id}\">{}</textarea><button data-save-note=\"{id}\">save note</button> <button data-redo=\"{id}\">redo (one new take on the next render)</button>",
                escape(note.as_deref().unwrap_or(""))
            ),
        ),
        (false, Some(note)) => row(&about, escape(note)),
        (false, None) => {}
    }
    html.push_str("</dl>\n</section>\n");
}

/// The badge of a selected take made from an earlier prompt: kept in the cut until the current
/// prompt has a take, or held there by the director's pick when it has one.
fn stale_badge(s: &crate::record::manifest::ShotRecord) -> &'static str {
    let current = current_keys(s);
    match (
        s.stale,
        s.takes.iter().any(|t| current.contains(&t.request_key.as_str())),
    ) {
        (false, _) => "",
        (true, false) => {
            " <span class=\"badge stale\">stale: made from an earlier prompt; in the cut until the current one is rendered</span>"
        }
        (true, true) => {
            " <span class=\"badge stale\">stale: made from an earlier prompt, kept in the cut by your pick</span>"
        }
    }
}

/// A shot's takes, grouped by prompt version (the current prompt first).
fn take_groups(html: &mut String, s: &crate::record::manifest::ShotRecord, view: &View) {
    for (version, group) in versions(s) {
        let label = match version.as_str() {
            "current" => "current prompt".to_owned(),
            v => v.to_owned(),
        };
        html.push_str(&format!(
            "<div class=\"version\" data-version=\"{}\"><h3>{}</h3>\n<div class=\"takes\">\n",
            escape(&version),
            escape(&label)
        ));
        for t in group {
            let label = take_label(s, t);
            take(html, (&s.id, &label), t, s.selected_take == Some(t.take), view);
        }
        html.push_str("</div></div>\n");
    }
}

/// Frames first: the shot's frame takes as a row of images above its video takes, the one its
/// next video animates marked, then its end frames likewise; on the live page, pick and redo
/// buttons.
fn frames(html: &mut String, s: &crate::record::manifest::ShotRecord, view: &View) {
    for (edge, mark) in [(Edge::Start, "animated"), (Edge::End, "ends the video")] {
        let (frames, selected) = s.frames_at(edge);
        if frames.is_empty() {
            continue;
        }
        let (live, id, what) = (view.token.is_some(), escape(&s.id), edge.words());
        let edge_attr = match edge {
            Edge::Start => String::new(),
            Edge::End => " data-edge=\"end\"".to_owned(),
        };
        html.push_str(&format!(
            "<div class=\"frames\"><h3>{what}s</h3>\n<div class=\"takes\">\n"
        ));
        for f in frames {
            let chosen = selected == Some(f.take);
            html.push_str(&format!(
                "<figure class=\"frame{}\" data-frame=\"{n}\"{edge_attr}><img width=\"240\" alt=\"{what} {n}\" src=\"{}{}\"><figcaption>{what} {n}{} · {}</figcaption>",
                if chosen { " selected" } else { "" },
                escape(&view.prefix),
                escape(f.clip.path.as_str()),
                if chosen { format!(" <span class=\"badge\">{mark}</span>") } else { String::new() },
                f.actual_usd.or(f.estimated_usd).map_or("unpriced".into(), |e| format!("${e:.2}")),
                n = f.take,
            ));
            if let Some(note) = &f.note {
                html.push_str(&format!("<p class=\"note\">{}</p>", escape(note)));
            }
            if live && !chosen {
                html.push_str(&format!(
                    "<button data-pick-frame=\"{id}\" data-frame=\"{0}\"{edge_attr}>pick {what} {0}</button>",
                    f.take
                ));
            }
            html.push_str("</figure>\n");
        }
        html.push_str("</div>\n");
        if live {
            html.push_str(&format!(
                "<button data-redo-frame=\"{id}\"{edge_attr}>new {what} (on the next render)</button>\n"
            ));
        }
        html.push_str("</div>\n");
    }
}

/// The characters of a shot: each frontal image (a kept copy) with its name and element.
fn cast(cast: &[crate::record::manifest::CastRecord], view: &View) -> String {
    cast.iter()
        .map(|c| {
            let label = format!("@Element{} {}", c.element, escape(&c.name));
            match c.frontal.as_deref() {
                Some(f) if crate::record::folder::layout::in_state(f).is_some() => format!(
                    "<figure class=\"member\"><img src=\"{}{}\" alt=\"{}\" width=\"96\"><figcaption>{label}</figcaption></figure>",
                    escape(&view.prefix),
                    escape(f),
                    escape(&c.name)
                ),
                Some(url) => format!("<a href=\"{0}\">{label}</a>", escape(url)),
                None => label,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The request keys the storyboard asks for now for this shot (its request and its takes').
fn current_keys(s: &crate::record::manifest::ShotRecord) -> Vec<&str> {
    std::iter::once(&s.request)
        .chain(&s.more)
        .map(|r| r.request_key.as_str())
        .collect()
}

/// A shot's takes grouped by prompt version (`current` first, then the earlier ones, the
/// newest first), each group oldest take first.
fn versions(s: &crate::record::manifest::ShotRecord) -> Vec<(String, Vec<&TakeRecord>)> {
    let current = current_keys(s);
    let mut groups: Vec<(String, Vec<&TakeRecord>)> = Vec::new();
    for t in &s.takes {
        let version = match current.contains(&t.request_key.as_str()) {
            true => "current".to_owned(),
            false => crate::record::takes::version(t.input.as_ref(), &s.request.input),
        };
        match groups.iter_mut().find(|(v, _)| *v == version) {
            Some((_, g)) => g.push(t),
            None => groups.push((version, vec![t])),
        }
    }
    let newest = |g: &[&TakeRecord]| g.iter().map(|t| t.take).max().unwrap_or(0);
    groups.sort_by_key(|(v, g)| (v != "current", std::cmp::Reverse(newest(g))));
    groups
}

/// What tells a shoot-out's takes apart: the model that made the take (its catalog family, else
/// the endpoint) and, when this render's request record has both times, how long it took.
fn take_label(s: &crate::record::manifest::ShotRecord, t: &TakeRecord) -> String {
    let Some(endpoint) = t.endpoint.as_deref() else {
        return String::new();
    };
    let model = crate::facts::catalog::CATALOG
        .iter()
        .find(|e| e.id == endpoint)
        .map_or(endpoint, |e| e.family);
    let request = std::iter::once(&s.request)
        .chain(&s.more)
        .find(|r| r.request_id.is_some() && r.request_id == t.request_id);
    let time = |x: &Option<String>| x.as_deref().and_then(|x| humantime::parse_rfc3339(x).ok());
    let took = request
        .and_then(|r| time(&r.completed_at)?.duration_since(time(&r.submitted_at)?).ok())
        .map_or(String::new(), |d| format!(" · rendered in {} s", d.as_secs()));
    format!("<b class=\"model\">{}</b>{took} · ", escape(model))
}

/// One take: its model, player with a poster frame, cost, and (live) the button that picks it.
fn take(html: &mut String, (shot, label): (&str, &str), t: &TakeRecord, selected: bool, view: &View) {
    let live = view.token.is_some();
    let class = if selected { "take selected" } else { "take" };
    let poster = match view.posters.contains(&t.clip.sha256) {
        true => format!(
            " poster=\"{}{}\"",
            escape(&view.prefix),
            escape(&poster_path(&t.clip.sha256))
        ),
        false => String::new(),
    };
    html.push_str(&format!(
        "<figure class=\"{class}\" data-take=\"{}\">\n<video controls preload=\"none\"{poster} src=\"{}{}\"></video>\n<figcaption>{label}take {}{} · <span class=\"settings\">{}</span> · {} · <time>{}</time>{}</figcaption>\n",
        t.take,
        escape(&view.prefix),
        escape(t.clip.path.as_str()),
        t.take,
        if selected { " <span class=\"badge\">selected</span>" } else { "" },
        escape(&crate::record::takes::settings(t.input.as_ref())),
        t.actual_usd.or(t.estimated_usd).map_or("unpriced".into(), |e| format!("${e:.2}")),
        escape(&crate::record::status::minute(&t.created_at)),
        if t.sandbox { " · sandbox" } else { "" },
    ));
    if let Some(note) = &t.note {
        html.push_str(&format!("<p class=\"note\">note: {}</p>\n", escape(note)));
    }
    if live && !selected {
        html.push_str(&format!(
            "<button data-pick=\"{}\" data-take=\"{}\">pick take {}</button>\n",
            escape(shot),
            t.take,
            t.take
        ));
    }
    html.push_str("</figure>\n");
}

/// Side-by-side playback of a shot's takes (the static page too): the button starts every take
/// of the shot from the start at once, the first one's sound only; seeking, pausing or playing
/// the first take does the same to the others, and a take that drifts more than 0.15 s from it
/// is put back in step.
const TOGETHER: &str = "<script>\nfor (const b of document.querySelectorAll('[data-together]')) b.addEventListener('click', () => {\n  const section = document.querySelector(`section[data-shot=\"${CSS.escape(b.dataset.together)}\"]`);\n  const [lead, ...rest] = section.querySelectorAll('figure.take video');\n  section.classList.add('together');\n  const follow = () => { for (const v of rest) { if (Math.abs(v.currentTime - lead.currentTime) > 0.15) v.currentTime = lead.currentTime; if (lead.paused !== v.paused) lead.paused ? v.pause() : v.play(); } };\n  if (!lead.dataset.leads) { lead.dataset.leads = '1'; for (const e of ['play', 'pause', 'seeked', 'timeupdate']) lead.addEventListener(e, follow); }\n  for (const v of [lead, ...rest]) { v.preload = 'auto'; v.muted = v !== lead; v.currentTime = 0; v.play(); }\n});\n</script>\n";

/// The live page's script: each button posts to the server with the token, then reloads.
fn script(token: &str) -> String {
    let token = serde_json::to_string(token).unwrap_or_default();
    format!(
        "<script>\nconst TOKEN = {token};\nasync function send(path, body) {{\n  const r = await fetch(path, {{method: 'POST', headers: {{'content-type': 'application/json', 'x-storyboard-token': TOKEN}}, body: JSON.stringify(body)}});\n  if (!r.ok) {{ alert(await r.text()); return; }}\n  location.reload();\n}}\nfor (const b of document.querySelectorAll('[data-pick]')) b.addEventListener('click', () => send('/api/pick', {{shot: b.dataset.pick, take: Number(b.dataset.take)}}));\nfor (const b of document.querySelectorAll('[data-pick-frame]')) b.addEventListener('click', () => send('/api/pick-frame', {{shot: b.dataset.pickFrame, take: Number(b.dataset.frame), edge: b.dataset.edge || 'start'}}));\nfor (const b of document.querySelectorAll('[data-redo-frame]')) b.addEventListener('click', () => send('/api/redo-frame', {{shot: b.dataset.redoFrame, edge: b.dataset.edge || 'start'}}));\nfor (const b of document.querySelectorAll('[data-redo]')) b.addEventListener('click', () => send('/api/redo', {{shot: b.dataset.redo}}));\nfor (const b of document.querySelectorAll('[data-no-redo]')) b.addEventListener('click', () => send('/api/no-redo', {{shot: b.dataset.noRedo}}));\nfor (const b of document.querySelectorAll('[data-save-note]')) b.addEventListener('click', () => {{\n  const shot = b.dataset.saveNote;\n  const text = document.querySelector(`textarea[data-note=\"${{CSS.escape(shot)}}\"]`).value;\n  send('/api/note', {{shot, note: text}});\n}});\n</script>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
