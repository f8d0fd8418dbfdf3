//! Building a planned shot: the request body (prompt, parameters, voices, `params`), its price
//! and its cache key.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::resolve::Resolved;
use super::template::MAX_VOICES;
use super::{PlannedShot, Planner, Subst};
use crate::catalog::ProviderKind;
use crate::cost::Micros;
use crate::digest::sha256_hex;
use crate::storyboard::{ShotSpec, VoiceSpec};

impl Planner<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn build(
        &mut self,
        i: usize,
        id: &str,
        spec: &ShotSpec,
        r: &Resolved,
        prompt: Option<String>,
        voices: Vec<String>,
        take: u32,
        takes: u32,
    ) -> Option<PlannedShot> {
        let mut input = Map::new();
        if let Some(p) = prompt {
            if p.trim().is_empty() && spec.motion.is_none() {
                self.shot_problem(
                    i,
                    id,
                    "prompt",
                    "the prompt renders to nothing: write what the shot shows",
                );
                return None;
            }
            input.insert("prompt".into(), json!(p));
        }
        for (k, v) in &r.body {
            input.insert(k.clone(), v.clone());
        }
        if voices.len() > MAX_VOICES {
            self.shot_problem(
                i,
                id,
                "voices",
                format!(
                    "{} voices ({}); Kling takes at most {MAX_VOICES} per shot: split the dialogue across shots",
                    voices.len(),
                    voices.join(", ")
                ),
            );
            return None;
        }
        if !voices.is_empty() {
            match r.endpoint {
                Some(ep) if ep.voice_ids => {
                    if input.get("generate_audio") == Some(&json!(false)) {
                        self.shot_problem(
                            i,
                            id,
                            "voices",
                            "voices need audio: remove `generate_audio: false` or the voices",
                        );
                        return None;
                    }
                    let ids: Vec<String> = voices
                        .iter()
                        .map(|v| match self.sb.voices.get(v) {
                            Some(VoiceSpec::Id(id)) => id.clone(),
                            Some(VoiceSpec::Sample(s)) => format!("<voice from {}>", s.sample),
                            None => String::new(),
                        })
                        .collect();
                    input.insert("voice_ids".into(), json!(ids));
                }
                _ => {
                    let ep = r
                        .endpoint
                        .map_or_else(|| r.raw_id.clone().unwrap_or_default(), |e| e.id.to_owned());
                    self.shot_problem(
                        i,
                        id,
                        "voices",
                        format!("`{ep}` takes no voices; only Kling v2.6 pro image-to-video does (give the shot a `start_image`, with `model: kling-v2.6-pro` and `provider: fal`)"),
                    );
                    return None;
                }
            }
        }
        for (k, v) in &spec.params {
            if input.contains_key(k) {
                self.shot_problem(
                    i,
                    id,
                    &format!("params.{k}"),
                    format!("`{k}` is set by storyboard itself: use the shot's own field instead of `params`"),
                );
                return None;
            }
            input.insert(k.clone(), v.clone());
        }
        let (provider, endpoint, version, kind) = match (r.endpoint, &r.raw_id) {
            (Some(ep), _) => (
                ep.provider,
                ep.id.to_owned(),
                ep.version.map(str::to_owned),
                Some(ep.kind),
            ),
            (None, Some(raw)) => (self.provider, raw.clone(), None, None),
            (None, None) => return None,
        };
        let has_voices = !voices.is_empty();
        let (estimate, price_assumed) = match spec.price_usd {
            Some(p) => (Micros::from_usd(p), false),
            None => match r.endpoint {
                Some(ep) => (
                    ep.pricing.price(r.seconds.ceil() as u64, r.audio, has_voices),
                    ep.price_assumed,
                ),
                None => (None, false),
            },
        };
        let take_no = (takes > 1).then_some(take);
        let voice_samples: Vec<(usize, String)> = voices
            .iter()
            .enumerate()
            .filter(|(_, v)| self.samples.contains_key(*v))
            .map(|(n, v)| (n, v.clone()))
            .collect();
        let mut substs: Vec<Subst> = r
            .local
            .iter()
            .map(|f| Subst {
                field: f.field.clone(),
                index: None,
                value: format!("sha256:{}", f.sha256),
            })
            .collect();
        for (n, v) in &voice_samples {
            substs.push(Subst {
                field: "voice_ids".into(),
                index: Some(*n),
                value: format!("voice-sample:sha256:{}", self.samples[v].sha256),
            });
        }
        let request_key = request_key(provider, &endpoint, &input, &substs, take_no);
        let index = self.next_index;
        self.next_index += 1;
        for c in &r.chain {
            self.refs
                .push((index, i, c.shot_field.clone(), c.upstream.clone(), c.at));
        }
        Some(PlannedShot {
            id: id.to_owned(),
            spec_index: i,
            take: take_no,
            provider,
            endpoint,
            version,
            kind,
            input,
            local_files: r.local.clone(),
            chain: r.chain.clone(),
            voice_samples,
            substs,
            seconds: r.seconds,
            audio: r.audio,
            voices,
            images: r.images,
            estimate,
            price_assumed,
            request_key,
        })
    }
}

/// The cache key (DESIGN §5): sha256 of the canonical JSON of provider + endpoint + input +
/// take, with local files by content hash instead of path or upload URL.
pub fn request_key(
    provider: ProviderKind,
    endpoint: &str,
    input: &Map<String, Value>,
    substs: &[Subst],
    take: Option<u32>,
) -> String {
    let mut input = input.clone();
    for s in substs {
        match s.index {
            None => {
                input.insert(s.field.clone(), json!(s.value));
            }
            Some(n) => {
                if let Some(slot) = input
                    .get_mut(&s.field)
                    .and_then(Value::as_array_mut)
                    .and_then(|a| a.get_mut(n))
                {
                    *slot = json!(s.value);
                }
            }
        }
    }
    let doc =
        json!({ "provider": provider, "endpoint": endpoint, "input": canonical(&Value::Object(input)), "take": take });
    let text = serde_json::to_string(&canonical(&doc)).unwrap_or_default();
    format!("sha256:{}", sha256_hex(text.as_bytes()))
}

/// The same value with every object's keys sorted (canonical JSON).
pub(super) fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_key_ignores_key_order_and_uses_file_content() {
        let a: Map<String, Value> = serde_json::from_str(r#"{"prompt":"x","duration":"5"}"#).unwrap();
        let b: Map<String, Value> = serde_json::from_str(r#"{"duration":"5","prompt":"x"}"#).unwrap();
        let e = "fal-ai/kling-video/v2.6/pro/text-to-video";
        assert_eq!(
            request_key(ProviderKind::Fal, e, &a, &[], None),
            request_key(ProviderKind::Fal, e, &b, &[], None)
        );
        assert_ne!(
            request_key(ProviderKind::Fal, e, &a, &[], None),
            request_key(ProviderKind::Fal, e, &a, &[], Some(1))
        );
        let mut with_path = a.clone();
        with_path.insert("start_image_url".into(), json!("./one.png"));
        let mut other_path = a.clone();
        other_path.insert("start_image_url".into(), json!("./two.png"));
        let file = |_p: &str| Subst {
            field: "start_image_url".into(),
            index: None,
            value: "sha256:ab".into(),
        };
        assert_eq!(
            request_key(ProviderKind::Fal, e, &with_path, &[file("./one.png")], None),
            request_key(ProviderKind::Fal, e, &other_path, &[file("./two.png")], None)
        );
    }
}
