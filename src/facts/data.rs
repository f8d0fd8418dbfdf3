//! The catalog as data: `catalog.json` maps each model family to its endpoints, and each
//! storyboard concept (prompt, beats, start/end image, references, cast elements, voices,
//! duration values and wire format, aspect ratio, negative prompt, cfg scale, audio) to the
//! endpoint's body field — `null` where the endpoint lacks it. Prices stay in Rust beside their
//! sources (`cost`, `cost::rates`); an endpoint names its price by the constant's name
//! ([`PRICES`]). Read once per process ([`load`], behind `catalog::CATALOG`); every entry is
//! checked against its endpoint's published schema by `catalog`'s tests.
//!
//! Where storyboard's code writes a concept under one fixed name (`multi_prompt`, `image_urls`,
//! `elements`…), the data must say that name: the loader refuses any other, so the file can
//! never claim a field the request builder does not send.

use serde::{Deserialize, Serialize};

use super::catalog::{DurationFormat, Durations, Endpoint, Kind, Voices};
use super::cost::{
    KLING_O3_STANDARD_I2V, KLING_V3_PRO, KLING_V3_STANDARD, KLING_V3_TURBO_PRO, KLING_V25_TURBO_PRO, KLING_V26_PRO,
    NO_LIST_PRICE, Price, rates,
};
use crate::provider::ProviderKind;

/// The data file, embedded.
pub(crate) const TEXT: &str = include_str!("catalog.json");

/// The prices an endpoint may name, by the name the data file uses.
pub(crate) const PRICES: &[(&str, Price)] = &[
    ("KLING_V26_PRO", KLING_V26_PRO),
    ("KLING_V25_TURBO_PRO", KLING_V25_TURBO_PRO),
    ("KLING_V3_PRO", KLING_V3_PRO),
    ("KLING_V3_STANDARD", KLING_V3_STANDARD),
    ("KLING_V3_TURBO_PRO", KLING_V3_TURBO_PRO),
    ("KLING_O3_STANDARD_I2V", KLING_O3_STANDARD_I2V),
    ("NO_LIST_PRICE", NO_LIST_PRICE),
    ("VEO31", rates::VEO31),
    ("VEO31_REFERENCE", rates::VEO31_REFERENCE),
    ("VEO31_SIBLING", rates::VEO31_SIBLING),
    ("VEO31_FAST_FLF", rates::VEO31_FAST_FLF),
    ("VEO31_FAST", rates::VEO31_FAST),
    ("SEEDANCE2_FAST", rates::SEEDANCE2_FAST),
    ("SEEDANCE2", rates::SEEDANCE2),
    ("HAILUO23_PRO", rates::HAILUO23_PRO),
    ("HAILUO23_STANDARD", rates::HAILUO23_STANDARD),
    ("HAILUO23_FAST_PRO", rates::HAILUO23_FAST_PRO),
    ("HAILUO23_FAST_STANDARD", rates::HAILUO23_FAST_STANDARD),
    ("LTX23_T2V", rates::LTX23_T2V),
    ("LTX23_I2V", rates::LTX23_I2V),
    ("LTX23_FAST_T2V", rates::LTX23_FAST_T2V),
];

/// The file: families in catalog order.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File<'a> {
    /// Where the facts come from, for readers of the file.
    #[serde(borrow)]
    pub about: Vec<&'a str>,
    /// Each family of one provider, its endpoints in the order `select` prefers them.
    pub families: Vec<Family<'a>>,
}

/// A model family at one provider.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Family<'a> {
    /// `kling-v3-pro`.
    pub family: &'a str,
    /// `fal` or `eachlabs`.
    pub provider: &'a str,
    /// Its endpoints.
    #[serde(borrow)]
    pub endpoints: Vec<Row<'a>>,
}

/// One endpoint.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Row<'a> {
    /// fal endpoint id or Eachlabs slug.
    pub id: &'a str,
    /// `text-to-video`, `image-to-video`, `reference-to-video`, `motion-control`.
    pub kind: &'a str,
    /// Eachlabs model version.
    pub version: Option<&'a str>,
    /// A name in [`PRICES`].
    pub price: &'a str,
    /// The price is another provider's, assumed.
    pub price_assumed: bool,
    /// Each storyboard concept → the body field, `null` where the endpoint lacks it.
    #[serde(borrow)]
    pub takes: Concepts<'a>,
}

/// Storyboard concepts → body fields (`None`: the endpoint lacks it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Concepts<'a> {
    /// `prompt:` → `prompt`.
    pub prompt: &'a str,
    /// `beats:` → `multi_prompt`.
    pub beats: Option<&'a str>,
    /// The beats' cut style → `shot_type`.
    pub shot_type: Option<&'a str>,
    /// `start_image:` → its field.
    pub start_image: Option<&'a str>,
    /// `end_image:` → its field.
    pub end_image: Option<&'a str>,
    /// Only shots with an end image go here (the family's other row takes the rest).
    pub end_image_only: bool,
    /// `references:` → `image_urls`.
    pub references: Option<&'a str>,
    /// `cast:` → `elements`.
    pub cast: Option<&'a str>,
    /// `voices:` → `voice_ids`, or `elements[].voice_id` (bound to cast elements).
    pub voices: Option<&'a str>,
    /// `duration:`.
    #[serde(borrow)]
    pub duration: Duration<'a>,
    /// `aspect_ratio:` → `aspect_ratio`.
    pub aspect_ratio: Option<&'a str>,
    /// `negative_prompt:` → `negative_prompt`.
    pub negative_prompt: Option<&'a str>,
    /// `cfg_scale:` → `cfg_scale`.
    pub cfg_scale: Option<&'a str>,
    /// `audio:` → `generate_audio`, and the endpoint's default.
    #[serde(borrow)]
    pub audio: Option<Audio<'a>>,
}

/// How an endpoint takes the duration.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Duration<'a> {
    /// `duration`, or `null`: the endpoint takes none (it renders `default` seconds, or
    /// follows its reference video).
    pub field: Option<&'a str>,
    /// The values it takes, listed…
    pub only: Option<Vec<u64>>,
    /// …or as a range of whole seconds.
    pub range: Option<[u64; 2]>,
    /// `text` (`"5"`), `text-seconds` (`"8s"`), `number` (`8`).
    pub format: &'a str,
    /// The seconds it renders when the shot names none.
    pub default: u64,
}

/// How an endpoint takes audio.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Audio<'a> {
    /// `generate_audio`.
    pub field: &'a str,
    /// Its default.
    pub default: bool,
}

/// The catalog's endpoints, in file order. The file is embedded and checked by the tests: a
/// broken one is a bug, told by the endpoint and concept.
pub(crate) fn load() -> Vec<Endpoint> {
    let file: File<'static> = serde_json::from_str(TEXT).unwrap_or_else(|e| panic!("facts/catalog.json: {e}"));
    file.families
        .iter()
        .flat_map(|f| f.endpoints.iter().map(move |r| endpoint(f, r)))
        .collect()
}

/// `Some(wire)` when the concept is `Some(name)`, naming the field storyboard writes; a
/// different name is a broken file.
fn named(id: &str, concept: &str, given: Option<&str>, wire: &'static str) -> bool {
    match given {
        None => false,
        Some(n) if n == wire => true,
        Some(n) => panic!("facts/catalog.json: {id}: `{concept}` is written as `{wire}`, not `{n}`"),
    }
}

fn endpoint(f: &Family<'static>, r: &Row<'static>) -> Endpoint {
    let t = &r.takes;
    let id = r.id;
    let fail = |what: &str| -> ! { panic!("facts/catalog.json: {id}: {what}") };
    let on = |concept: &str, given: Option<&str>, wire: &'static str| named(id, concept, given, wire);
    if t.prompt != "prompt" {
        fail("`prompt` is written as `prompt`");
    }
    Endpoint {
        provider: ProviderKind::parse(f.provider).unwrap_or_else(|| fail("unknown provider")),
        family: f.family,
        kind: kind(r.kind).unwrap_or_else(|| fail("unknown kind")),
        id,
        version: r.version,
        start_image_field: t.start_image,
        end_image_field: t.end_image,
        durations: durations(&t.duration).unwrap_or_else(|| fail("`duration` needs `only` or `range`")),
        duration_format: format(t.duration.format).unwrap_or_else(|| fail("unknown duration format")),
        default_seconds: t.duration.default,
        end_image_only: t.end_image_only,
        aspect_ratio: on("aspect_ratio", t.aspect_ratio, "aspect_ratio"),
        negative_prompt: on("negative_prompt", t.negative_prompt, "negative_prompt"),
        cfg_scale: on("cfg_scale", t.cfg_scale, "cfg_scale"),
        generate_audio: t
            .audio
            .as_ref()
            .map(|a| on("audio", Some(a.field), "generate_audio") && a.default),
        voices: match t.voices {
            None => Voices::None,
            Some("voice_ids") => Voices::Ids,
            Some("elements[].voice_id") => Voices::Elements,
            Some(other) => fail(&format!(
                "`voices` is `voice_ids` or `elements[].voice_id`, not `{other}`"
            )),
        },
        multi_prompt: on("beats", t.beats, "multi_prompt"),
        shot_type: on("shot_type", t.shot_type, "shot_type"),
        references: on("references", t.references, "image_urls"),
        elements: on("cast", t.cast, "elements"),
        price: PRICES
            .iter()
            .find(|(n, _)| *n == r.price)
            .map_or_else(|| fail("unknown price name"), |(_, p)| *p),
        price_assumed: r.price_assumed,
    }
}

fn kind(name: &str) -> Option<Kind> {
    [
        Kind::TextToVideo,
        Kind::ImageToVideo,
        Kind::ReferenceToVideo,
        Kind::MotionControl,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

fn format(name: &str) -> Option<DurationFormat> {
    match name {
        "text" => Some(DurationFormat::Text),
        "text-seconds" => Some(DurationFormat::TextSeconds),
        "number" => Some(DurationFormat::Number),
        _ => None,
    }
}

/// The durations: none without a field; the listed values (kept for the process: the
/// catalog is read once); or the range.
fn durations(d: &Duration<'_>) -> Option<Durations> {
    match (d.field, &d.only, d.range) {
        (None, None, None) => Some(Durations::None),
        (Some("duration"), Some(list), None) => Some(Durations::Only(list.clone().leak())),
        (Some("duration"), None, Some([min, max])) => Some(Durations::Range { min, max }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data row of an endpoint (the inverse of [`endpoint`]).
    fn row(e: &Endpoint) -> Row<'static> {
        let on = |b: bool, wire: &'static str| b.then_some(wire);
        let (only, range) = match e.durations {
            Durations::None => (None, None),
            Durations::Only(l) => (Some(l.to_vec()), None),
            Durations::Range { min, max } => (None, Some([min, max])),
        };
        let format = match e.duration_format {
            DurationFormat::Text => "text",
            DurationFormat::TextSeconds => "text-seconds",
            DurationFormat::Number => "number",
        };
        Row {
            id: e.id,
            kind: e.kind.name(),
            version: e.version,
            price: PRICES
                .iter()
                .find(|(_, p)| *p == e.price)
                .map(|(n, _)| *n)
                .expect("a named price"),
            price_assumed: e.price_assumed,
            takes: Concepts {
                prompt: "prompt",
                beats: on(e.multi_prompt, "multi_prompt"),
                shot_type: on(e.shot_type, "shot_type"),
                start_image: e.start_image_field,
                end_image: e.end_image_field,
                end_image_only: e.end_image_only,
                references: on(e.references, "image_urls"),
                cast: on(e.elements, "elements"),
                voices: match e.voices {
                    Voices::None => None,
                    Voices::Ids => Some("voice_ids"),
                    Voices::Elements => Some("elements[].voice_id"),
                },
                duration: Duration {
                    field: on(e.takes_duration(), "duration"),
                    only,
                    range,
                    format,
                    default: e.default_seconds,
                },
                aspect_ratio: on(e.aspect_ratio, "aspect_ratio"),
                negative_prompt: on(e.negative_prompt, "negative_prompt"),
                cfg_scale: on(e.cfg_scale, "cfg_scale"),
                audio: e.generate_audio.map(|default| Audio {
                    field: "generate_audio",
                    default,
                }),
            },
        }
    }

    /// `endpoints` as the data file writes them, grouped by family and provider in order.
    fn file(endpoints: &[Endpoint], about: Vec<&'static str>) -> String {
        let mut families: Vec<Family<'static>> = Vec::new();
        for e in endpoints {
            let provider = if e.provider == ProviderKind::Fal {
                "fal"
            } else {
                "eachlabs"
            };
            match families.last_mut() {
                Some(f) if f.family == e.family && f.provider == provider => f.endpoints.push(row(e)),
                _ => families.push(Family {
                    family: e.family,
                    provider,
                    endpoints: vec![row(e)],
                }),
            }
        }
        serde_json::to_string_pretty(&File { about, families }).unwrap() + "\n"
    }

    /// The file is exactly what its endpoints write back (one canonical form: a hand edit
    /// that the loader reads differently, or a field it drops, fails here).
    #[test]
    fn the_file_is_what_its_endpoints_write_back() {
        let about: File<'static> = serde_json::from_str(TEXT).unwrap();
        assert_eq!(file(&load(), about.about), TEXT);
    }

    #[test]
    #[should_panic(expected = "`beats` is written as `multi_prompt`, not `beats`")]
    fn a_concept_under_a_name_storyboard_does_not_send_is_refused() {
        let text = TEXT.replacen("\"beats\": null", "\"beats\": \"beats\"", 1);
        let file: File<'static> = serde_json::from_str(text.leak()).unwrap();
        endpoint(&file.families[0], &file.families[0].endpoints[0]);
    }
}
