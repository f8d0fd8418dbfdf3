//! Building a planned shot: the request body (prompt, parameters, voices, `params`), its price
//! and its cache key.

use serde_json::{Map, Value, json};

use super::cast::Elements;
use super::expand::Take;
use super::resolve::Resolved;
use super::template::MAX_VOICES;
use super::{LocalFile, PlannedShot, Planner, Salt, ShotCtx, Subst};
use crate::digest::sha256_hex;
use crate::facts::catalog::{Kind, ProviderKind, Voices};
use crate::facts::cost::Micros;
use crate::storyboard::VoiceSpec;

/// A shot's rendered prompt: one text, or the beats of a multi-shot.
pub(super) struct Prompt {
    /// `prompt`.
    pub(super) text: Option<String>,
    /// The beats' prompts, in order (their seconds are in the resolved shot).
    pub(super) beats: Vec<String>,
    /// The characters `cast()` named, in `@ElementN` order.
    pub(super) cast: Vec<String>,
    /// The voices: the shot's `voices:`, then those `voice()` named, in marker order.
    pub(super) voices: Vec<String>,
}

/// Where a request goes: provider, endpoint id, Eachlabs version, kind (`None` outside the
/// catalog).
struct Target {
    provider: ProviderKind,
    endpoint: String,
    version: Option<String>,
    kind: Option<Kind>,
}

/// A shot's request body, built and checked, with what it needs besides the body.
struct Request {
    target: Target,
    input: Map<String, Value>,
    cast: Vec<String>,
    voices: Vec<String>,
    elements: Elements,
}

impl Planner<'_> {
    /// One planned shot (`shot` the id of the shot it is a take of): its request body, price
    /// and cache key; `None` (with problems reported) when the body cannot be built.
    pub(super) fn build(
        &mut self,
        at: ShotCtx<'_>,
        shot: &str,
        r: &Resolved,
        prompt: Prompt,
        take: Take,
    ) -> Option<PlannedShot> {
        let req = self.request(at, r, prompt)?;
        let voiced = !req.voices.is_empty() || req.elements.voiced;
        let (estimate, price_assumed, price_from) = self.price(at, r, &req.input, voiced)?;
        let take_no = (take.of > 1).then_some(take.n);
        let mut voice_samples: Vec<(String, String)> = req
            .voices
            .iter()
            .enumerate()
            .filter(|(_, v)| self.samples.contains_key(*v))
            .map(|(n, v)| (format!("/voice_ids/{n}"), v.clone()))
            .collect();
        voice_samples.extend(req.elements.samples);
        let mut local_files = r.local.clone();
        local_files.extend(req.elements.local);
        let substs = self.substs(&local_files, &voice_samples);
        let salt = Salt {
            take: take_no,
            ..Salt::default()
        };
        let t = req.target;
        let request_key = request_key(t.provider, &t.endpoint, &req.input, &substs, salt);
        Some(PlannedShot {
            id: at.name.to_owned(),
            shot: shot.to_owned(),
            redo: None,
            spec_index: at.i,
            take: take_no,
            model: r.endpoint.map(|e| e.family.to_owned()),
            provider: t.provider,
            endpoint: t.endpoint,
            version: t.version,
            kind: t.kind,
            input: req.input,
            local_files,
            cast: req.cast,
            chain: r.chain.clone(),
            voice_samples,
            substs,
            seconds: r.seconds,
            audio: r.audio,
            voices: req.voices,
            images: r.images,
            estimate,
            price_assumed,
            price_from,
            request_key,
            frame: None,
            end_frame: None,
            more_frames: Vec::new(),
        })
    }

    /// The request body with the shot's characters as elements, checked against the
    /// endpoint's published input.
    fn request(&mut self, at: ShotCtx<'_>, r: &Resolved, prompt: Prompt) -> Option<Request> {
        let Prompt {
            text,
            beats,
            cast,
            voices,
        } = prompt;
        let mut elements = self.elements(at, r.endpoint, &cast, at.spec.references.len())?;
        if elements.voiced && !r.audio {
            let msg =
                "a character with a voice needs audio: remove `generate_audio: false`, or the voice from the character";
            self.problem(at, "generate_audio", msg);
            return None;
        }
        let mut input = self.body(at, r, (text, beats), &voices)?;
        if !elements.body.is_empty() {
            input.insert("elements".into(), Value::Array(std::mem::take(&mut elements.body)));
        }
        let target = match (r.endpoint, &r.raw_id) {
            (Some(ep), _) => Target {
                provider: ep.provider,
                endpoint: ep.id.to_owned(),
                version: ep.version.map(str::to_owned),
                kind: Some(ep.kind),
            },
            (None, Some(raw)) => Target {
                provider: self.provider,
                endpoint: raw.clone(),
                version: None,
                kind: None,
            },
            (None, None) => return None,
        };
        self.conforms(at, &target, &mut input).then_some(Request {
            target,
            input,
            cast,
            voices,
            elements,
        })
    }

    /// The body against the provider's published input schema (`wire`), before it is priced,
    /// journaled or sent: each difference a problem at the field (`params.x` when the shot's
    /// `params:` gave it). A body for an endpoint with no snapshot passes.
    fn conforms(&mut self, at: ShotCtx<'_>, target: &Target, input: &mut Map<String, Value>) -> bool {
        let body = Value::Object(std::mem::take(input));
        let found = super::wire::check(target.provider, &target.endpoint, &body);
        if let Value::Object(m) = body {
            *input = m;
        }
        let violations = found.unwrap_or_default();
        for v in &violations {
            let top = v.field.split(['.', '[']).next().unwrap_or_default();
            let field = if at.spec.params.contains_key(top) {
                format!("params.{}", v.field)
            } else {
                v.field.clone()
            };
            self.problem(at, &field, v.message.clone());
        }
        violations.is_empty()
    }

    /// One shot's price, whether it is assumed, and where it came from (a live price says how
    /// far it is from the table's); `None` (a problem reported) when fal's live price is above
    /// the ceiling or the price overflows.
    fn price(
        &mut self,
        at: ShotCtx<'_>,
        r: &Resolved,
        input: &Map<String, Value>,
        voices: bool,
    ) -> Option<(Option<Micros>, bool, String)> {
        let secs = r.seconds.ceil() as u64;
        let overflow = |ep: &crate::facts::catalog::Endpoint, from: &dyn std::fmt::Display| {
            format!(
                "the price of {secs} s on {} (prices: {from}) overflows 64-bit micro-dollars: no estimate is made and nothing is sent; check the price source",
                ep.id
            )
        };
        match (at.spec.price_usd, r.endpoint) {
            (Some(p), _) => Some((Micros::from_usd(p), false, "price_usd".into())),
            (None, Some(ep)) if matches!(ep.price.pricing, crate::facts::cost::Pricing::Rule(_)) => {
                let (price, note) = rule_price(ep.price.pricing, secs, r.audio, input);
                Some((price, ep.price_assumed, format!("table {}{note}", ep.price.read)))
            }
            (None, Some(ep)) => {
                let (pricing, from) = match self.overrides.prices.for_endpoint(ep) {
                    Ok(p) => p,
                    Err(absurd) => {
                        self.problem(at, "model", absurd.to_string());
                        return None;
                    }
                };
                let (Ok(price), Ok(table)) = (
                    pricing.price(secs, r.audio, voices),
                    ep.price.pricing.price(secs, r.audio, voices),
                ) else {
                    self.problem(at, "duration", overflow(ep, &from));
                    return None;
                };
                let from = match (&from, price, table) {
                    (crate::facts::prices::From::Live(_), Some(live), Some(t)) if live != t => {
                        let sign = if live > t { "+" } else { "-" };
                        format!("{from} ({sign}{} vs table)", Micros(live.0.abs_diff(t.0)))
                    }
                    _ => from.to_string(),
                };
                Some((price, ep.price_assumed, from))
            }
            (None, None) => Some((None, false, "price_usd".into())),
        }
    }

    /// The request body: the prompt (or beats), the resolved parameters and images, the
    /// voices, and the shot's raw `params` (which may not override a field storyboard sets).
    fn body(
        &mut self,
        at: ShotCtx<'_>,
        r: &Resolved,
        (text, beats): (Option<String>, Vec<String>),
        voices: &[String],
    ) -> Option<Map<String, Value>> {
        let mut input = Map::new();
        if let Some(p) = text {
            let p = self.prompt_text(at, "prompt", p, at.spec.motion.is_some())?;
            input.insert("prompt".into(), Value::String(p));
        }
        if !beats.is_empty() {
            let mut sent = Vec::with_capacity(beats.len());
            for (n, (text, secs)) in beats.into_iter().zip(&r.beats).enumerate() {
                let field = super::BEAT_FIELDS.get(n).copied().unwrap_or("beats");
                let text = self.prompt_text(at, field, text, false)?;
                sent.push(json!({ "prompt": text, "duration": secs.to_string() }));
            }
            input.insert("multi_prompt".into(), Value::Array(sent));
        }
        for (k, v) in &r.body {
            input.insert(k.clone(), v.clone());
        }
        if !voices.is_empty() {
            let ids = self.voice_ids(at, r, &input, voices)?;
            input.insert("voice_ids".into(), json!(ids));
        }
        for (k, v) in &at.spec.params {
            if input.contains_key(k) {
                let msg = format!("`{k}` is set by storyboard itself: use the shot's own field instead of `params`");
                self.problem(at, &format!("params.{k}"), msg);
                return None;
            }
            input.insert(k.clone(), v.clone());
        }
        Some(input)
    }

    /// A rendered prompt that says something and fits Kling's limit.
    fn prompt_text(&mut self, at: ShotCtx<'_>, field: &str, p: String, may_be_empty: bool) -> Option<String> {
        if p.trim().is_empty() && !may_be_empty {
            self.problem(at, field, "the prompt renders to nothing: write what the shot shows");
            return None;
        }
        let chars = p.chars().count();
        if chars > super::MAX_PROMPT_CHARS {
            let max = super::MAX_PROMPT_CHARS;
            let msg = format!("the prompt is {chars} characters; Kling takes at most {max}: shorten it");
            self.problem(at, field, msg);
            return None;
        }
        Some(p)
    }

    /// The voice ids for `voice_ids`, when the endpoint takes voices and audio is on (a sampled
    /// voice stands as `<voice from …>` until it is created).
    fn voice_ids(
        &mut self,
        at: ShotCtx<'_>,
        r: &Resolved,
        input: &Map<String, Value>,
        voices: &[String],
    ) -> Option<Vec<String>> {
        let problem = match voice_refusal(r, input, voices) {
            Some(problem) => problem,
            None => {
                let ids = voices
                    .iter()
                    .map(|v| match self.sb.voices.get(v) {
                        Some(VoiceSpec::Id(id)) => id.clone(),
                        Some(VoiceSpec::Sample(s)) => format!("<voice from {}>", s.sample),
                        None => String::new(),
                    })
                    .collect();
                return Some(ids);
            }
        };
        self.problem(at, "voices", problem);
        None
    }

    /// What the cache key uses instead of paths and placeholders: local files and voice
    /// samples by content hash.
    pub(super) fn substs(&self, local: &[LocalFile], voice_samples: &[(String, String)]) -> Vec<Subst> {
        let files = local.iter().map(|f| Subst {
            field: f.field.clone(),
            value: format!("sha256:{}", f.sha256),
        });
        let voices = voice_samples.iter().map(|(field, v)| Subst {
            field: field.clone(),
            value: format!("voice-sample:sha256:{}", self.samples[v].sha256),
        });
        files.chain(voices).collect()
    }
}

/// Why these voices cannot go in `voice_ids` of this request, if they cannot.
fn voice_refusal(r: &Resolved, input: &Map<String, Value>, voices: &[String]) -> Option<String> {
    if voices.len() > MAX_VOICES {
        return Some(format!(
            "{} voices ({}); Kling takes at most {MAX_VOICES} per shot: split the dialogue across shots",
            voices.len(),
            voices.join(", ")
        ));
    }
    if let Some(ep) = r.endpoint.filter(|ep| binds_voices(ep.family)) {
        let family = ep.family;
        let which = if ep.voices == Voices::Elements {
            String::new()
        } else {
            format!(
                " (on {} only: its {} takes none)",
                kinds_binding(family),
                ep.kind.name()
            )
        };
        return Some(format!(
            "{family} binds voices to characters (elements){which}, not `voices`: give the character a voice under `cast:` and write `{{{{ cast(\"name\") }}}}` in the prompt, or use `model: kling-v2.6-pro` with a `start_image`"
        ));
    }
    if !r.endpoint.is_some_and(|ep| ep.voices == Voices::Ids) {
        let ep = r
            .endpoint
            .map_or_else(|| r.raw_id.clone().unwrap_or_default(), |e| e.id.to_owned());
        return Some(format!(
            "`{ep}` takes no voices; only Kling v2.6 pro image-to-video does (give the shot a `start_image`, with `model: kling-v2.6-pro` and `provider: fal`)"
        ));
    }
    (input.get("generate_audio") == Some(&json!(false)))
        .then(|| "voices need audio: remove `generate_audio: false` or the voices".to_owned())
}

/// Whether some endpoint of the family binds voices through elements.
fn binds_voices(family: &str) -> bool {
    crate::facts::catalog::CATALOG
        .iter()
        .any(|e| e.family == family && e.voices == Voices::Elements)
}

/// The kinds of the family's endpoints that bind voices (`image-to-video`).
fn kinds_binding(family: &str) -> String {
    let kinds: Vec<&str> = crate::facts::catalog::CATALOG
        .iter()
        .filter(|e| e.family == family && e.voices == Voices::Elements)
        .map(|e| e.kind.name())
        .collect();
    kinds.join(", ")
}

/// The cache key: sha256 of the canonical JSON (keys sorted, no spaces) of provider +
/// endpoint + input + take (+ redo), with local files by content hash instead of path or
/// upload URL.
pub(crate) fn request_key(
    provider: ProviderKind,
    endpoint: &str,
    input: &Map<String, Value>,
    substs: &[Subst],
    salt: Salt,
) -> String {
    let substituted;
    let input = if substs.is_empty() {
        input
    } else {
        let mut copy = input.clone();
        for s in substs {
            super::set_field(&mut copy, &s.field, Value::String(s.value.clone()));
        }
        substituted = copy;
        &substituted
    };
    // The document's keys, written in sorted order: end, endpoint, input, provider, redo, take.
    let mut text = Vec::with_capacity(512);
    if salt.end {
        text.extend_from_slice(b"{\"end\":true,\"endpoint\":");
    } else {
        text.extend_from_slice(b"{\"endpoint\":");
    }
    write_json(&mut text, &endpoint);
    text.extend_from_slice(b",\"input\":");
    write_canonical(&mut text, input);
    text.extend_from_slice(b",\"provider\":");
    write_json(&mut text, &provider);
    if let Some(redo) = salt.redo {
        text.extend_from_slice(b",\"redo\":");
        write_json(&mut text, &redo);
    }
    text.extend_from_slice(b",\"take\":");
    write_json(&mut text, &salt.take);
    text.push(b'}');
    format!("sha256:{}", sha256_hex(&text))
}

/// Appends `v` as compact JSON.
fn write_json(out: &mut Vec<u8>, v: &impl serde::Serialize) {
    // Writing into a Vec cannot fail, and these values always serialize.
    let _ = serde_json::to_writer(out, v);
}

/// Appends the object as canonical JSON: every object's keys sorted, no spaces.
fn write_canonical(out: &mut Vec<u8>, m: &Map<String, Value>) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_unstable();
    write_joined(out, (b'{', b'}'), keys, |out, k| {
        write_json(out, k);
        out.push(b':');
        write_value(out, &m[k]);
    });
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(m) => write_canonical(out, m),
        Value::Array(a) => write_joined(out, (b'[', b']'), a, write_value),
        scalar => write_json(out, scalar),
    }
}

/// Appends `items` between `open` and `close`, separated by commas.
fn write_joined<T>(
    out: &mut Vec<u8>,
    (open, close): (u8, u8),
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut Vec<u8>, T),
) {
    out.push(open);
    for (n, item) in items.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(close);
}

/// A price under one of the rules beyond Kling (`cost::rates`), read from the body as sent
/// (`resolution`, `aspect_ratio`, `generate_audio`): the amount, and what the plan says beside
/// it when it is an estimate, an upper bound, or not priced.
fn rule_price(
    pricing: crate::facts::cost::Pricing,
    seconds: u64,
    audio: bool,
    input: &Map<String, Value>,
) -> (Option<Micros>, String) {
    use crate::facts::cost::rates::{Ask, Exactness};
    let crate::facts::cost::Pricing::Rule(rule) = pricing else {
        return (None, String::new());
    };
    let text = |k: &str| input.get(k).and_then(Value::as_str);
    let ask = Ask {
        seconds: Some(seconds),
        max_seconds: seconds,
        resolution: text("resolution").unwrap_or(rule.default_resolution()),
        audio,
        aspect: text("aspect_ratio"),
    };
    match rule.quote(&ask) {
        Ok(q) => match q.exactness {
            Exactness::Exact => (Some(q.amount), String::new()),
            Exactness::Estimate(why) => (Some(q.amount), format!(" (estimate: {why})")),
            Exactness::UpperBound(why) => (Some(q.amount), format!(" (upper bound: {why})")),
        },
        Err(e) => (None, format!(" ({e}: set price_usd)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The same value with every object's keys sorted (the key's first definition).
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }

    #[test]
    fn request_key_is_the_hash_of_the_sorted_document() {
        let input: Map<String, Value> = serde_json::from_str(
            r#"{"prompt":"a \"b\" é","duration":"5","x":[{"z":1,"a":2.5}],"cfg_scale":0.5,"generate_audio":true,"n":null}"#,
        )
        .unwrap();
        let e = "fal-ai/kling-video/v2.6/pro/text-to-video";
        for salt in [
            Salt::default(),
            Salt {
                take: Some(2),
                redo: Some(3),
                end: false,
            },
        ] {
            let mut doc = json!({ "provider": ProviderKind::Fal, "endpoint": e, "input": canonical(&Value::Object(input.clone())), "take": salt.take });
            if let Some(redo) = salt.redo {
                doc["redo"] = json!(redo);
            }
            let text = serde_json::to_string(&canonical(&doc)).unwrap();
            let expected = format!("sha256:{}", sha256_hex(text.as_bytes()));
            assert_eq!(request_key(ProviderKind::Fal, e, &input, &[], salt), expected);
        }
    }

    #[test]
    fn request_key_ignores_key_order_and_uses_file_content() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"prompt":"x","duration":"5"}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"duration":"5","prompt":"x"}"#).unwrap();
        let e = "fal-ai/kling-video/v2.6/pro/text-to-video";
        assert_eq!(
            request_key(ProviderKind::Fal, e, &a, &[], Salt::default()),
            request_key(ProviderKind::Fal, e, &b, &[], Salt::default())
        );
        assert_ne!(
            request_key(ProviderKind::Fal, e, &a, &[], Salt::default()),
            request_key(
                ProviderKind::Fal,
                e,
                &a,
                &[],
                Salt {
                    take: Some(1),
                    ..Salt::default()
                }
            )
        );
        let mut with_path = a.clone();
        with_path.insert("start_image_url".into(), json!("./one.png"));
        let mut other_path = a.clone();
        other_path.insert("start_image_url".into(), json!("./two.png"));
        let file = |_p: &str| Subst {
            field: "start_image_url".into(),
            value: "sha256:ab".into(),
        };
        assert_eq!(
            request_key(ProviderKind::Fal, e, &with_path, &[file("./one.png")], Salt::default()),
            request_key(ProviderKind::Fal, e, &other_path, &[file("./two.png")], Salt::default())
        );
    }
}
