//! Human tables for `plan`, `models` and the end of `render`: pure functions returning text.

use crate::facts::catalog::{CATALOG, Endpoint};
use crate::facts::cost::{Micros, Pricing};
use crate::plan::Plan;
use serde_json::{Value, json};

use super::table::{Col, fit, wrap};

/// The settings a render will really use, for the header above the estimate.
pub(crate) struct Effective<'a> {
    /// Output folder (after `--out`).
    pub out: &'a camino::Utf8Path,
    /// Shots in flight (after `--concurrency`).
    pub concurrency: std::num::NonZeroUsize,
    /// Against the built-in sandbox ($0) or paid.
    pub sandbox: bool,
    /// Where paid requests go (the provider's base URL).
    pub host: &'a str,
    /// Names in the `.env` beside the storyboard that are not keys (ignored).
    pub dotenv_ignored: &'a [String],
}

/// The line naming the `.env` variables that are ignored (never their values), if any.
pub(crate) fn dotenv_ignored(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| {
        format!(
            "note: ignored in the .env beside the storyboard: {} (only FAL_KEY and EACHLABS_API_KEY are read from it; export other settings in the environment)",
            names.join(", ")
        )
    })
}

/// The plan table: one row per shot, then the totals and the budget.
pub(crate) fn plan(plan: &Plan, concurrency: std::num::NonZeroUsize) -> String {
    plan_table(
        plan,
        &format!("output {} · concurrency {concurrency}", plan.output),
        Some(super::table::stdout_width()),
    )
}

/// The plan table under the header of a render: the effective folder, concurrency and mode;
/// fitted to `width` columns when given (a terminal): text wraps, low-priority columns drop,
/// ids and prices stay whole.
pub(crate) fn plan_for_render(plan: &Plan, e: &Effective, width: Option<usize>) -> String {
    let mode = if e.sandbox {
        "sandbox: $0, nothing billed".to_owned()
    } else {
        format!("paid → {}", e.host)
    };
    plan_table(
        plan,
        &format!("output {} · concurrency {} · {mode}", e.out, e.concurrency),
        Some(width.unwrap_or(usize::MAX)),
    )
}

/// A price source's dispute, when it has one: the cell says "(disputed)" and the dispute
/// goes to a note under the table.
fn undisputed(from: &str, endpoint: &str) -> (String, Option<&'static str>) {
    let dispute = CATALOG.iter().find(|e| e.id == endpoint).and_then(|e| e.price.dispute);
    match dispute {
        Some(d) if from.contains(&format!("({d})")) => (from.replace(&format!("({d})"), "(disputed)"), Some(d)),
        _ => (from.to_owned(), None),
    }
}

/// One shot's row of the plan table.
fn plan_row(i: usize, s: &crate::plan::PlannedShot) -> Vec<String> {
    let ep = CATALOG
        .iter()
        .find(|e| e.id == s.endpoint)
        .map_or(s.endpoint.clone(), |e: &Endpoint| e.short().to_owned());
    vec![
        (i + 1).to_string(),
        s.id.clone(),
        ep,
        format_seconds(s.seconds),
        if s.audio { "on" } else { "off" }.to_owned(),
        match (s.voices.is_empty(), s.cast.is_empty()) {
            (true, true) => "-".to_owned(),
            (false, _) => s.voices.join(", "),
            (true, false) => format!("cast: {}", s.cast.join(", ")),
        },
        if s.chain.is_empty() {
            s.images.to_string()
        } else {
            let upstream: Vec<&str> = s.chain.iter().map(|c| c.upstream.as_str()).collect();
            format!("{}←{}", s.images, upstream.join(", "))
        },
        match s.estimate {
            Some(m) if s.price_assumed => format!("~{m}"),
            Some(m) => m.to_string(),
            None => "unpriced".to_owned(),
        },
        undisputed(&s.price_from, &s.endpoint).0,
    ]
}

/// The table's rows: each shot, after its frame's row when it has one (a frame shared by takes
/// once, before the first).
fn plan_rows(plan: &Plan) -> Vec<Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut rows = Vec::new();
    for (i, s) in plan.shots.iter().enumerate() {
        for f in s.edge_frames().filter(|f| seen.insert(f.request_key.as_str())) {
            let n = 1 + s.more_frames.iter().filter(|m| m.edge == f.edge).count();
            rows.push(frame_row(&s.shot, f, n));
        }
        rows.push(plan_row(i, s));
    }
    rows
}

/// A shot's frames' row: `shot frame` (`shot frames ×3` for `frame: {takes: 3}`, `shot end
/// frame`), the image endpoint, the cast images each edits, the price of them all.
fn frame_row(shot: &str, f: &crate::plan::frames::PlannedFrame, n: usize) -> Vec<String> {
    let images = f.input.get("image_urls").and_then(|v| v.as_array()).map_or(0, Vec::len);
    let price = crate::facts::cost::Micros::checked_sum(std::iter::repeat_n(f.estimate, n));
    vec![
        String::new(),
        match n {
            1 => format!("{shot} {}", f.edge.words()),
            n => format!("{shot} {}s ×{n}", f.edge.words()),
        },
        f.endpoint.strip_prefix("fal-ai/").unwrap_or(&f.endpoint).to_owned(),
        "-".into(),
        "-".into(),
        match f.cast.is_empty() {
            true => "-".into(),
            false => format!("cast: {}", f.cast.join(",")),
        },
        images.to_string(),
        price.map_or_else(|| "-".into(), |p| p.to_string()),
        f.price_from.clone(),
    ]
}

/// The plan table's columns: ids and prices whole; price source, images, endpoint, audio and
/// voices dropped in that order when wrapping is not enough.
const PLAN_COLUMNS: [Col; 9] = [
    Col::whole("#").right(),
    Col::whole("shot"),
    Col::text("endpoint").drop(3),
    Col::whole("sec").right(),
    Col::text("audio").drop(4),
    Col::text("voices/cast").drop(5),
    Col::text("images").right().drop(2),
    Col::whole("est. USD").right(),
    Col::text("price from").drop(1),
];

/// A note naming the columns a table left out to fit.
fn dropped_note(dropped: &[String], width: usize) -> String {
    if dropped.is_empty() {
        return String::new();
    }
    wrap(
        &format!(
            "not shown at {width} columns: {} (`--json` has every field)",
            dropped.join(", ")
        ),
        width,
        2,
    )
}

/// Notes about disputed prices, one line each, under a table.
fn dispute_notes(disputes: impl Iterator<Item = &'static str>, width: usize) -> String {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::new();
    for d in disputes {
        if !seen.contains(&d) {
            seen.push(d);
            out.push_str(&wrap(&format!("(disputed) {d}"), width, 2));
        }
    }
    out
}

fn plan_table(plan: &Plan, settings: &str, width: Option<usize>) -> String {
    let mut out = String::new();
    let title = plan.title.as_deref().unwrap_or("(untitled)");
    let w = width.unwrap_or(usize::MAX);
    out.push_str(&wrap(&format!("{title} — {}", plan.source), w, 2));
    // Fitted to a width, the settings get their own line.
    let sep = if width.is_some() { "\n" } else { " · " };
    let head = format!("provider {} · model {}{sep}{settings}", plan.provider, plan.family);
    for line in head.lines() {
        out.push_str(&wrap(line, w, 2));
    }
    out.push('\n');
    let fitted = fit(&PLAN_COLUMNS, &plan_rows(plan), w);
    out.push_str(&fitted.text);
    out.push_str(&dispute_notes(
        plan.shots
            .iter()
            .filter_map(|s| undisputed(&s.price_from, &s.endpoint).1),
        w,
    ));
    out.push_str(&dropped_note(&fitted.dropped, w));
    out.push('\n');
    let mut prose = totals(plan);
    prose.push_str(&plan.price_note);
    prose.push('\n');
    if plan.shots.iter().any(|s| s.price_assumed) {
        prose.push_str("~ price assumed from fal's list price (the provider publishes none)\n");
    }
    for v in &plan.voices_to_create {
        prose.push_str(&format!(
            "voice to create: {} from {} (unpriced: fal lists no price for create-voice)\n",
            v.name, v.written
        ));
    }
    for warning in &plan.warnings {
        prose.push_str(&format!("warning: {warning}\n"));
    }
    for line in prose.lines() {
        out.push_str(&wrap(line, w, 2));
    }
    out
}

/// `total: 7 shots · 55 s · $8.12` plus unpriced and budget lines.
pub(crate) fn totals(plan: &Plan) -> String {
    let mut out = format!(
        "total: {} shot{} · {} s · {}",
        plan.shots.len(),
        if plan.shots.len() == 1 { "" } else { "s" },
        format_seconds(plan.seconds()),
        plan.total()
    );
    let frames = plan.frames();
    if !frames.is_empty() {
        out.push_str(&format!(
            " (frames {} · video {}; {} frame{})",
            plan.frames_total(),
            plan.video_total(),
            frames.len(),
            if frames.len() == 1 { "" } else { "s" }
        ));
        if plan.approve_frames {
            out.push_str("\napprove: frames — a render makes the frames; each video waits for its frame's pick (`storyboard pick FILE SHOT --frame N`)");
        }
    }
    let unpriced = plan.unpriced();
    if unpriced > 0 {
        out.push_str(&format!(
            " + {unpriced} unpriced shot{} (not included: give them `price_usd:`)",
            if unpriced == 1 { "" } else { "s" }
        ));
    }
    out.push('\n');
    if let Some(b) = plan.budget {
        let verdict = if unpriced > 0 {
            "cannot be checked: unpriced shots count as over budget (render --allow-unpriced to accept)"
        } else if plan.total() <= b {
            "the estimate is within budget"
        } else {
            "the estimate EXCEEDS the budget: render will refuse to start"
        };
        out.push_str(&format!("budget: {b} — {verdict}\n"));
    }
    out
}

fn format_seconds(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s:.1}")
    }
}

fn price_text(p: Pricing) -> String {
    let tier = |t: Option<u64>| t.map_or("unpriced".to_owned(), |m| format!("{}/s", Micros(m)));
    match p {
        Pricing::PerSecond {
            silent,
            audio: None,
            voices: None,
        } => format!("{}/s (no audio tiers)", Micros(silent)),
        Pricing::PerSecond { silent, audio, voices } => format!(
            "{}/s audio off, {} audio on, {} audio + voices",
            Micros(silent),
            tier(audio),
            tier(voices)
        ),
        Pricing::BasePlusExtra {
            base_seconds,
            base,
            per_extra_second,
        } => {
            format!(
                "{} for {base_seconds} s + {}/s beyond",
                Micros(base),
                Micros(per_extra_second)
            )
        }
        Pricing::Rule(rule) => format!("{} ({})", rule.describe(), rule.unit()),
        Pricing::Unpriced => "no list price (set price_usd)".to_owned(),
    }
}

/// What an endpoint takes beyond a prompt, for the models table.
fn features(e: &crate::facts::catalog::Endpoint) -> String {
    let mut f = Vec::new();
    if e.generate_audio.is_some() {
        f.push("audio");
    }
    if e.voices == crate::facts::catalog::Voices::Ids {
        f.push("voices");
    }
    if e.multi_prompt {
        f.push("beats");
    }
    if e.references {
        f.push("references");
    }
    if e.elements {
        f.push("cast (with voices)");
    }
    f.join(", ")
}

/// The image inputs an endpoint takes, by their body field names (`image_url + end_image_url`).
fn inputs(e: &crate::facts::catalog::Endpoint) -> String {
    let mut f: Vec<&str> = [e.start_image_field, e.end_image_field].into_iter().flatten().collect();
    if e.references {
        f.push("image_urls");
    }
    if f.is_empty() {
        "prompt".to_owned()
    } else {
        f.join(" + ")
    }
}

/// An endpoint's price and where it came from, as the models listing says them, and its
/// price's dispute.
fn price_lines(e: &Endpoint, live: &crate::facts::prices::Prices) -> (String, Option<&'static str>) {
    let (pricing, from) = live.usable(e);
    let (from, dispute) = undisputed(&from.to_string(), e.id);
    let assumed = if e.price_assumed { ", assumed from fal" } else { "" };
    (format!("{} · {from}{assumed}", price_text(pricing)), dispute)
}

/// The schema an endpoint's bodies are checked against, short: the snapshot and its date, or
/// the live fetch and its date (`--json` names the type).
fn schema_short(e: &Endpoint) -> String {
    match crate::plan::wire::snapshot(e.provider, e.id) {
        None => "none (bodies not checked)".to_owned(),
        Some(s) if s.live => format!(
            "live from {}, {}",
            s.source.split(", fetched").next().unwrap_or_default(),
            s.date
        ),
        Some(s) => {
            let from = match s.source.strip_prefix("fal-js ") {
                Some(rest) => format!("fal-js {}", rest.rsplit(' ').next().unwrap_or(rest)),
                None => s.source.clone(),
            };
            format!("snapshot {} ({from})", s.date)
        }
    }
}

/// One endpoint's line: its id, seconds, inputs and what else it takes.
fn endpoint_line(e: &Endpoint) -> String {
    let kind = e.kind.name();
    let kind = if e.id.contains(kind) {
        String::new()
    } else {
        format!("{kind} · ")
    };
    let secs = match seconds_cell(e.durations).as_str() {
        "-" => "no duration".to_owned(),
        s => format!("{s} s"),
    };
    let takes = match features(e) {
        f if f.is_empty() => String::new(),
        f => format!(" · takes {f}"),
    };
    format!("  {} · {kind}{secs} · inputs: {}{takes}", e.short(), inputs(e))
}

/// A labelled line of a family block (`  price $0.07/s …`), wrapped under its text.
fn labelled(label: &str, text: &str, indent: &str, width: usize) -> String {
    wrap(&format!("{indent}{label} {text}"), width, label.len() + 1)
}

/// One family's block: its name and provider, then its price and schema when every endpoint
/// shares them, then each endpoint (with its own price or schema when they differ).
fn family_block(
    family: &[&Endpoint],
    live: &crate::facts::prices::Prices,
    width: usize,
) -> (String, Vec<&'static str>) {
    let first = family[0];
    let mut out = format!("{} · {}\n", first.family, first.provider);
    let prices: Vec<(String, Option<&'static str>)> = family.iter().map(|e| price_lines(e, live)).collect();
    let schemas: Vec<String> = family.iter().map(|e| schema_short(e)).collect();
    let shared_price = prices.iter().all(|p| p.0 == prices[0].0);
    let shared_schema = schemas.iter().all(|s| *s == schemas[0]);
    if shared_price {
        out.push_str(&labelled("price", &prices[0].0, "  ", width));
    }
    if shared_schema {
        out.push_str(&labelled("schema", &schemas[0], "  ", width));
    }
    for (n, e) in family.iter().enumerate() {
        out.push_str(&wrap(&endpoint_line(e), width, 4));
        if !shared_price {
            out.push_str(&labelled("price", &prices[n].0, "    ", width));
        }
        if !shared_schema {
            out.push_str(&labelled("schema", &schemas[n], "    ", width));
        }
    }
    (out, prices.into_iter().filter_map(|p| p.1).collect())
}

/// The catalog as stacked blocks fitted to `width`, one per family (its endpoints, what each
/// takes, its price with source and date, the schema its bodies are checked against); the
/// disputes, the price sources when they fit, and where prices come from below.
pub(crate) fn models(live: &crate::facts::prices::Prices, width: usize) -> String {
    let mut sources: Vec<(&str, &str)> = Vec::new();
    let mut disputes = Vec::new();
    let mut out = String::new();
    let mut start = 0;
    for n in 1..=CATALOG.len() {
        let ends = n == CATALOG.len()
            || CATALOG[n].family != CATALOG[start].family
            || CATALOG[n].provider != CATALOG[start].provider;
        if !ends {
            continue;
        }
        let family: Vec<&Endpoint> = CATALOG[start..n].iter().collect();
        for e in &family {
            if !sources.contains(&(e.family, e.price.source)) {
                sources.push((e.family, e.price.source));
            }
        }
        let (block, disputed) = family_block(&family, live, width);
        out.push_str(&block);
        disputes.extend(disputed);
        start = n;
    }
    out.push_str(&dispute_notes(disputes.into_iter(), width));
    out.push_str(&price_sources(&sources, width));
    out.push('\n');
    out.push_str(&wrap(&live.note(), width, 2));
    out
}

/// The families' price sources, one line each, when their addresses fit `width`.
fn price_sources(sources: &[(&str, &str)], width: usize) -> String {
    let listed: String = sources
        .iter()
        .map(|(family, source)| wrap(&format!("  {family}: {source}"), width, 4))
        .collect();
    if super::table::widest(&listed) <= width {
        format!("\nprice sources:\n{listed}")
    } else {
        wrap(
            &format!(
                "\nprice sources: their addresses are wider than {width} columns; `storyboard models --json` gives each (price_source)"
            ),
            width,
            2,
        )
    }
}

/// The durations an endpoint accepts, short: `5, 10`, `3-15`, `-`.
fn seconds_cell(d: crate::facts::catalog::Durations) -> String {
    use crate::facts::catalog::Durations;
    match d {
        Durations::Range { min, max } => format!("{min}-{max}"),
        Durations::None => "-".to_owned(),
        Durations::Only(_) => allowed_seconds(d)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The durations an endpoint accepts, in whole seconds (empty: it takes none).
fn allowed_seconds(d: crate::facts::catalog::Durations) -> Vec<u64> {
    use crate::facts::catalog::Durations;
    match d {
        Durations::None => Vec::new(),
        Durations::Only(list) => list.to_vec(),
        Durations::Range { min, max } => (min..=max).collect(),
    }
}

/// The catalog as JSON.
pub(crate) fn models_json(live: &crate::facts::prices::Prices) -> Value {
    Value::Array(
        CATALOG
            .iter()
            .map(|e| {
                let (p, from) = live.usable(e);
                let pricing = match p {
                    Pricing::PerSecond { silent, audio, voices } => json!({
                        "per_second_usd": { "audio_off": Micros(silent), "audio_on": audio.map(Micros), "audio_with_voices": voices.map(Micros) }
                    }),
                    Pricing::BasePlusExtra { base_seconds, base, per_extra_second } => json!({
                        "base_seconds": base_seconds, "base_usd": Micros(base), "per_extra_second_usd": Micros(per_extra_second)
                    }),
                    Pricing::Rule(rule) => json!({"unit": rule.unit(), "rule": rule.describe()}),
                    Pricing::Unpriced => Value::Null,
                };
                json!({
                    "model": e.family,
                    "provider": e.provider,
                    "kind": e.kind,
                    "endpoint": e.id,
                    "version": e.version,
                    "seconds": allowed_seconds(e.durations),
                    "inputs": inputs(e),
                    "takes": features(e),
                    "price": pricing,
                    "price_assumed": e.price_assumed,
                    "price_source": e.price.source,
                    "price_read": e.price.read,
                    "price_from": from.to_string(),
                    "schema": crate::plan::wire::snapshot(e.provider, e.id).map(|s| json!({
                        "source": s.source, "fields": s.fields, "required": s.required
                    })),
                })
            })
            .collect(),
    )
}

/// The line above the confirmation: what will be sent and paid, what is cached or resumed.
pub(crate) fn to_render(
    estimate: &crate::facts::cost::Estimate,
    cached: usize,
    resumed: usize,
    sandbox: bool,
) -> String {
    format!(
        "to render: {} for {}{} · {cached} cached · {resumed} resumed{}",
        estimate.requests(),
        estimate.spend,
        super::confirm::unpriced_suffix(estimate.unpriced),
        if sandbox {
            " · sandbox: $0, nothing is billed"
        } else {
            ""
        }
    )
}

/// The `--json` summary line's counts: shots by status.
pub(crate) fn counts(records: &[&crate::record::manifest::RequestRecord]) -> Value {
    let mut m = serde_json::Map::new();
    for r in records {
        let k = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let n = m.get(&k).and_then(Value::as_u64).unwrap_or(0) + 1;
        m.insert(k, serde_json::json!(n));
    }
    Value::Object(m)
}

/// The frames made this render and what they cost (`None`: none was made): the videos' money
/// line leaves them out. `fresh`: the frame requests not kept when the render started.
pub(crate) fn frames_made(
    m: &crate::record::manifest::Manifest,
    fresh: &std::collections::HashSet<String>,
    sandbox: bool,
) -> Option<String> {
    let made: Vec<&crate::record::manifest::TakeRecord> = m
        .shots
        .iter()
        .flat_map(|s| s.frames.iter().chain(&s.end_frames))
        .filter(|f| fresh.contains(&f.request_key) && f.created_at >= m.started_at)
        .collect();
    if made.is_empty() {
        return None;
    }
    let usd: f64 = made.iter().filter_map(|f| f.actual_usd.or(f.estimated_usd)).sum();
    let money = if sandbox {
        "sandbox: nothing billed".to_owned()
    } else {
        format!("${usd:.2} committed (estimate)")
    };
    let n = made.len();
    Some(format!("frames: {n} made this run · {money}\n"))
}

/// `approve: frames`: how many shots' frames wait for a pick before their videos are made, and
/// the commands that pick them (`None`: none waits).
pub(crate) fn frames_waiting(file: &camino::Utf8Path, shots: &[&str]) -> Option<String> {
    let first = shots.first()?;
    Some(format!(
        "{n} shot{s} {wait} for a frame pick before {their} video{s} {is} made (approve: frames):\n  storyboard review {file}\n  storyboard pick {file} {first} --frame N\nthen render again: only the picked frames are animated\n",
        n = shots.len(),
        s = if shots.len() == 1 { "" } else { "s" },
        their = if shots.len() == 1 { "its" } else { "their" },
        is = if shots.len() == 1 { "is" } else { "are" },
        wait = if shots.len() == 1 { "waits" } else { "wait" },
    ))
}

/// The end of a render: counts, money, and what to do about uncertain or failed shots.
pub(crate) fn render_summary(
    records: &[&crate::record::manifest::RequestRecord],
    out: &camino::Utf8Path,
    stopped: bool,
    sandbox: bool,
) -> String {
    use crate::record::manifest::ShotStatus;
    let count = |s: ShotStatus| records.iter().filter(|r| r.status == s).count();
    let committed: f64 = records
        .iter()
        .filter(|r| r.status == ShotStatus::Done || (r.request_id.is_some() && r.status != ShotStatus::Cached))
        .filter_map(|r| r.actual_usd.or(r.estimated_usd))
        .fold(0.0, |a, b| a + b);
    let mut s = format!(
        "\n{} done · {} cached · {} failed · {} uncertain · {} skipped · {} pending\n{}\n",
        count(ShotStatus::Done),
        count(ShotStatus::Cached),
        count(ShotStatus::Failed),
        count(ShotStatus::Uncertain),
        count(ShotStatus::Skipped),
        count(ShotStatus::Pending),
        if sandbox {
            "sandbox: nothing billed".to_owned()
        } else {
            format!("${committed:.2} committed this run (estimate)")
        },
    );
    s.push_str(&format!(
        "clips and manifest: {}\n",
        crate::record::folder::layout::manifest(out)
    ));
    for r in records.iter().filter(|r| r.status == ShotStatus::Failed) {
        s.push_str(&format!(
            "  failed     {}: {}\n",
            r.label,
            r.error.as_deref().unwrap_or("")
        ));
    }
    let uncertain: Vec<&str> = records
        .iter()
        .filter(|r| r.status == ShotStatus::Uncertain)
        .map(|r| r.label.as_str())
        .collect();
    if !uncertain.is_empty() {
        s.push_str(&format!(
            "  uncertain  {}: the submit went out and no answer came back, so it may have been created and billed.\n             Check your provider's dashboard; to submit again anyway: storyboard render … --retry-uncertain\n",
            uncertain.join(", ")
        ));
    }
    if stopped && count(ShotStatus::Pending) > 0 {
        s.push_str("  stopped early: run the same render again to finish (nothing is submitted twice)\n");
    }
    s
}

/// The status table's columns: shot ids and money whole; the clip check, the billed amount
/// and the request id dropped in that order when wrapping is not enough.
const STATUS_COLUMNS: [Col; 8] = [
    Col::whole("shot"),
    Col::text("state"),
    Col::whole("request").drop(3),
    Col::text("clip").drop(1),
    Col::whole("est. USD").right(),
    Col::whole("billed").right().drop(2),
    Col::text("takes"),
    Col::text("note"),
];

/// `storyboard status` as a table fitted to `width`.
pub(crate) fn status(
    out: &camino::Utf8Path,
    states: &[crate::record::status::ShotState],
    sandbox: bool,
    width: usize,
) -> String {
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.state.to_owned(),
                s.request_id.clone().unwrap_or_else(|| "-".into()),
                s.clip.to_owned(),
                s.estimated_usd.map_or("unpriced".into(), |u| format!("${u:.2}")),
                crate::record::status::billed_cell(s),
                takes_cell(&s.takes),
                s.reason.clone().or_else(|| s.takes.note.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = wrap(out.as_str(), width, 2);
    text.push('\n');
    let fitted = fit(&STATUS_COLUMNS, &rows, width);
    text.push_str(&fitted.text);
    text.push_str(&dropped_note(&fitted.dropped, width));
    let n = |st: &str| states.iter().filter(|s| s.state == st).count();
    let counts = format!(
        "{} done · {} cached · {} in flight · {} failed · {} uncertain · {} skipped · {} pending — ${:.2} {}",
        n("done"),
        n("cached"),
        n("in flight"),
        n("failed"),
        n("uncertain"),
        n("skipped"),
        n("pending"),
        crate::record::status::committed(states),
        if sandbox {
            "estimated (sandbox renders: nothing was billed)"
        } else {
            "committed"
        }
    );
    text.push('\n');
    text.push_str(&wrap(&counts, width, 2));
    if let Some(line) = crate::record::status::billing_line(states) {
        text.push_str(&wrap(line.trim_end(), width, 2));
    }
    text.push_str(&crate::record::status::takes_text(states));
    text
}

/// A shot's takes for `status`: the numbers, the selected one in brackets (`1 [2] 3`), and
/// `redo` when one waits for the next render.
fn takes_cell(t: &crate::record::status::TakesState) -> String {
    let mut cell: Vec<String> = t
        .numbers
        .iter()
        .map(|&n| {
            if Some(n) == t.selected {
                format!("[{n}]")
            } else {
                n.to_string()
            }
        })
        .collect();
    if t.redo {
        cell.push("+redo".into());
    }
    if cell.is_empty() { "-".into() } else { cell.join(" ") }
}

/// What `clean` removed (or would), with the bytes freed.
pub(crate) fn cleaned(list: &[crate::deliver::review::Removable], dry_run: bool) -> String {
    let mut s = String::new();
    for r in list {
        s.push_str(&format!(
            "{} take {}  {}  {:.1} MB\n",
            r.shot,
            r.take,
            r.path,
            r.bytes as f64 / 1e6
        ));
    }
    let bytes: u64 = list.iter().map(|r| r.bytes).sum();
    let verb = if dry_run { "would free" } else { "freed" };
    s.push_str(&format!(
        "{} take(s) not selected and not the current request of any shot: {verb} {:.1} MB{}\n",
        list.len(),
        bytes as f64 / 1e6,
        if dry_run { " (nothing removed: --dry-run)" } else { "" }
    ));
    s
}

/// What `assemble` wrote, and what it left out.
pub(crate) fn assembly(a: &crate::deliver::assemble::Assembly) -> String {
    let mut s = String::new();
    for skipped in &a.skipped {
        s.push_str(&format!("warning: left out of the cut and timeline: {skipped}\n"));
    }
    match (&a.cut, &a.cut_problem) {
        (Some(cut), _) => s.push_str(&format!(
            "cut:      {cut} ({} clips, {:.1} s, {})\n",
            a.clips,
            a.seconds,
            if a.stream_copy { "stream copy" } else { "re-encoded" }
        )),
        (None, Some(p)) => s.push_str(&format!("cut:      not made: {p}\n")),
        (None, None) => {}
    }
    s.push_str(&format!("timeline: {}\nreview:   {}\n", a.otio, a.review));
    s
}
