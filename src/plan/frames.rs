//! Frames first (issue #25): a frame's request to an image endpoint — its body, checked against
//! the endpoint's published input schema like a video body, and its exact price.

use serde_json::{Map, Value, json};

use crate::facts::catalog::{ImageEndpoint, ImageShape, named_size};
use crate::facts::cost::rates::{Exactness, ImageAsk};
use crate::facts::cost::{Micros, rates::ImagePrice};
use crate::plan::wire;
use crate::provider::ProviderKind;

/// What a frame asks of its image endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameAsk<'a> {
    /// The rendered prompt.
    pub prompt: &'a str,
    /// The shot's aspect ratio (`16:9`).
    pub aspect: &'a str,
    /// `resolution:` as written (`None`: the endpoint's default).
    pub resolution: Option<&'a str>,
    /// Reference images (the cast's frontal and reference images), as sent; their pixel sizes
    /// for megapixel prices.
    pub images: &'a [(String, (u64, u64))],
}

/// A frame's request: the body, its price and where that comes from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameRequest {
    /// The exact request body.
    pub input: Map<String, Value>,
    /// The list price of one frame.
    pub estimate: Micros,
    /// The price's source and what is unconfirmed about it.
    pub price_from: String,
}

/// The body and price of one frame on `e`; `Err` names the `frame:` field that cannot be sent
/// and what to write instead.
pub(crate) fn request(e: &ImageEndpoint, ask: &FrameAsk<'_>) -> Result<FrameRequest, (String, String)> {
    let mut input = Map::new();
    input.insert("prompt".into(), json!(ask.prompt));
    let pixels = shape(e, ask, &mut input)?;
    if e.num_images {
        input.insert("num_images".into(), json!(1));
    }
    if e.output_format {
        input.insert("output_format".into(), json!("png"));
    }
    if e.edit && ask.images.is_empty() {
        return Err((
            "image_urls".into(),
            format!("`{}` edits reference images: the frame has none", e.id),
        ));
    }
    if e.edit {
        let urls: Vec<&str> = ask.images.iter().map(|(u, _)| u.as_str()).collect();
        input.insert("image_urls".into(), json!(urls));
    }
    let body = Value::Object(input);
    if let Some(v) = wire::check(ProviderKind::Fal, e.id, &body).and_then(|v| v.into_iter().next()) {
        return Err((v.field, v.message));
    }
    let Value::Object(input) = body else {
        unreachable!("built as an object")
    };
    let inputs: Vec<(u64, u64)> = ask.images.iter().map(|(_, px)| *px).collect();
    let resolution = ask.resolution.or(e.resolutions.first().copied()).unwrap_or("");
    let quote = e.price.rule.quote(&ImageAsk {
        resolution,
        pixels,
        inputs: &inputs,
    });
    let quote = quote.map_err(|why| ("resolution".to_owned(), format!("`{}`: {why}", e.id)))?;
    debug_assert_eq!(quote.exactness, Exactness::Exact);
    Ok(FrameRequest {
        input,
        estimate: quote.amount,
        price_from: price_from(&e.price),
    })
}

/// Sets the frame's shape fields; the output's nominal pixel size.
fn shape(
    e: &ImageEndpoint,
    ask: &FrameAsk<'_>,
    input: &mut Map<String, Value>,
) -> Result<(u64, u64), (String, String)> {
    match e.shape {
        ImageShape::AspectRatio => {
            let resolution = ask.resolution.or(e.resolutions.first().copied()).unwrap_or("1K");
            if !e.resolutions.contains(&resolution) {
                let msg = format!(
                    "`{}` takes resolution {}, not `{resolution}`",
                    e.id,
                    e.resolutions.join(", ")
                );
                return Err(("resolution".into(), msg));
            }
            input.insert("aspect_ratio".into(), json!(ask.aspect));
            input.insert("resolution".into(), json!(resolution));
            Ok((0, 0))
        }
        ImageShape::NamedSize => {
            if let Some(r) = ask.resolution {
                let msg = format!(
                    "`{}` takes no resolution (its size follows the aspect ratio): remove `resolution: {r}`",
                    e.id
                );
                return Err(("resolution".into(), msg));
            }
            let Some((name, px)) = named_size(ask.aspect) else {
                let msg = format!("`{}` has no named size for aspect ratio {}", e.id, ask.aspect);
                return Err(("aspect_ratio".into(), msg));
            };
            input.insert("image_size".into(), json!(name));
            Ok(px)
        }
    }
}

/// `table 2026-11-30 (source)`, with the dispute where the figure is not fal's own.
fn price_from(p: &ImagePrice) -> String {
    match p.dispute {
        Some(d) => format!("table {} ({d})", p.read),
        None => format!("table {}", p.read),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::catalog::{IMAGE_CATALOG, select_image};

    fn ask<'a>(aspect: &'a str, resolution: Option<&'a str>, images: &'a [(String, (u64, u64))]) -> FrameAsk<'a> {
        FrameAsk {
            prompt: "a lighthouse at dusk",
            aspect,
            resolution,
            images,
        }
    }

    /// Every image row builds a body its published schema accepts, for every aspect a shot has.
    #[test]
    fn every_image_endpoint_gets_a_body_its_schema_takes() {
        let refs = vec![("https://example.com/a.png".to_owned(), (1024, 1024))];
        for e in IMAGE_CATALOG {
            for aspect in ["16:9", "9:16", "1:1"] {
                let images = if e.edit { &refs[..] } else { &[] };
                let r = request(e, &ask(aspect, None, images)).unwrap_or_else(|x| panic!("{}: {x:?}", e.id));
                assert_eq!(r.input["prompt"], "a lighthouse at dusk");
                assert_eq!(r.input.contains_key("image_urls"), e.edit, "{}", e.id);
            }
        }
    }

    #[test]
    fn prices_and_refusals_follow_the_endpoint() {
        let nb = select_image("nano-banana-2", false).unwrap();
        let r = request(nb, &ask("16:9", Some("2K"), &[])).unwrap();
        assert_eq!(r.estimate, Micros(120_000));
        assert_eq!(r.input["resolution"], "2K");
        assert_eq!(r.input["output_format"], "png");
        let bad = request(nb, &ask("16:9", Some("3K"), &[])).unwrap_err();
        assert_eq!(bad.0, "resolution");
        assert!(bad.1.contains("0.5K"), "{}", bad.1);
        let flux = select_image("flux-2-pro", true).unwrap();
        let refs = vec![("https://example.com/a.png".to_owned(), (2048, 2048))];
        let r = request(flux, &ask("16:9", None, &refs)).unwrap();
        assert_eq!(r.input["image_size"], "landscape_16_9");
        assert_eq!(r.estimate, Micros(30_000 + 4 * 15_000));
        assert!(r.price_from.contains("unconfirmed"), "{}", r.price_from);
        let sd = select_image("seedream-4.5", true).unwrap();
        let err = request(sd, &ask("16:9", None, &[])).unwrap_err();
        assert_eq!(err.0, "image_urls", "an edit without images: {err:?}");
        assert!(request(sd, &ask("16:9", Some("4K"), &refs)).is_err());
    }
}
