//! The providers' own published input schemas, embedded: `schemas/fal/<endpoint id>.json`
//! (snapshots of fal-js's `endpoints.ts` types) and `schemas/eachlabs/<slug>.json` (from
//! Eachlabs' model page), written by `scripts/snapshot-schemas`. Provider documents, not client
//! logic: the planner and the sandbox each compile their own validators from this text (a leaf).

/// fal endpoint id → its input schema (JSON text).
pub(crate) const FAL: &[(&str, &str)] = &[
    (
        "fal-ai/kling-video/v2.6/pro/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v2.6/pro/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v2.6/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v2.6/pro/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v2.6/pro/motion-control",
        include_str!("../schemas/fal/fal-ai/kling-video/v2.6/pro/motion-control.json"),
    ),
    (
        "fal-ai/kling-video/v2.6/standard/motion-control",
        include_str!("../schemas/fal/fal-ai/kling-video/v2.6/standard/motion-control.json"),
    ),
    (
        "fal-ai/kling-video/v2.5-turbo/pro/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v2.5-turbo/pro/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v2.5-turbo/pro/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v3/pro/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/pro/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v3/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/pro/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v3/standard/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/standard/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v3/standard/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/standard/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v3/pro/motion-control",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/pro/motion-control.json"),
    ),
    (
        "fal-ai/kling-video/v3/standard/motion-control",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/standard/motion-control.json"),
    ),
    (
        "fal-ai/kling-video/v3/turbo/pro/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/turbo/pro/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/v3/turbo/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/v3/turbo/pro/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/o3/pro/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/o3/pro/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/o3/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/o3/pro/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/o3/pro/reference-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/o3/pro/reference-to-video.json"),
    ),
    (
        "fal-ai/kling-video/o3/standard/text-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/o3/standard/text-to-video.json"),
    ),
    (
        "fal-ai/kling-video/o3/standard/image-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/o3/standard/image-to-video.json"),
    ),
    (
        "fal-ai/kling-video/o3/standard/reference-to-video",
        include_str!("../schemas/fal/fal-ai/kling-video/o3/standard/reference-to-video.json"),
    ),
    (
        "fal-ai/kling-video/create-voice",
        include_str!("../schemas/fal/fal-ai/kling-video/create-voice.json"),
    ),
    ("fal-ai/veo3.1", include_str!("../schemas/fal/fal-ai/veo3.1.json")),
    (
        "fal-ai/veo3.1/image-to-video",
        include_str!("../schemas/fal/fal-ai/veo3.1/image-to-video.json"),
    ),
    (
        "fal-ai/veo3.1/reference-to-video",
        include_str!("../schemas/fal/fal-ai/veo3.1/reference-to-video.json"),
    ),
    (
        "fal-ai/veo3.1/first-last-frame-to-video",
        include_str!("../schemas/fal/fal-ai/veo3.1/first-last-frame-to-video.json"),
    ),
    (
        "fal-ai/veo3.1/fast",
        include_str!("../schemas/fal/fal-ai/veo3.1/fast.json"),
    ),
    (
        "fal-ai/veo3.1/fast/image-to-video",
        include_str!("../schemas/fal/fal-ai/veo3.1/fast/image-to-video.json"),
    ),
    (
        "fal-ai/veo3.1/fast/first-last-frame-to-video",
        include_str!("../schemas/fal/fal-ai/veo3.1/fast/first-last-frame-to-video.json"),
    ),
    (
        "bytedance/seedance-2.0/text-to-video",
        include_str!("../schemas/fal/bytedance/seedance-2.0/text-to-video.json"),
    ),
    (
        "bytedance/seedance-2.0/image-to-video",
        include_str!("../schemas/fal/bytedance/seedance-2.0/image-to-video.json"),
    ),
    (
        "bytedance/seedance-2.0/reference-to-video",
        include_str!("../schemas/fal/bytedance/seedance-2.0/reference-to-video.json"),
    ),
    (
        "bytedance/seedance-2.0/fast/text-to-video",
        include_str!("../schemas/fal/bytedance/seedance-2.0/fast/text-to-video.json"),
    ),
    (
        "bytedance/seedance-2.0/fast/image-to-video",
        include_str!("../schemas/fal/bytedance/seedance-2.0/fast/image-to-video.json"),
    ),
    (
        "bytedance/seedance-2.0/fast/reference-to-video",
        include_str!("../schemas/fal/bytedance/seedance-2.0/fast/reference-to-video.json"),
    ),
    (
        "fal-ai/minimax/hailuo-2.3/pro/text-to-video",
        include_str!("../schemas/fal/fal-ai/minimax/hailuo-2.3/pro/text-to-video.json"),
    ),
    (
        "fal-ai/minimax/hailuo-2.3/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/minimax/hailuo-2.3/pro/image-to-video.json"),
    ),
    (
        "fal-ai/minimax/hailuo-2.3/standard/text-to-video",
        include_str!("../schemas/fal/fal-ai/minimax/hailuo-2.3/standard/text-to-video.json"),
    ),
    (
        "fal-ai/minimax/hailuo-2.3/standard/image-to-video",
        include_str!("../schemas/fal/fal-ai/minimax/hailuo-2.3/standard/image-to-video.json"),
    ),
    (
        "fal-ai/minimax/hailuo-2.3-fast/pro/image-to-video",
        include_str!("../schemas/fal/fal-ai/minimax/hailuo-2.3-fast/pro/image-to-video.json"),
    ),
    (
        "fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video",
        include_str!("../schemas/fal/fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video.json"),
    ),
    (
        "fal-ai/ltx-2.3/text-to-video",
        include_str!("../schemas/fal/fal-ai/ltx-2.3/text-to-video.json"),
    ),
    (
        "fal-ai/ltx-2.3/image-to-video",
        include_str!("../schemas/fal/fal-ai/ltx-2.3/image-to-video.json"),
    ),
    (
        "fal-ai/ltx-2.3/text-to-video/fast",
        include_str!("../schemas/fal/fal-ai/ltx-2.3/text-to-video/fast.json"),
    ),
    (
        "fal-ai/ltx-2.3/image-to-video/fast",
        include_str!("../schemas/fal/fal-ai/ltx-2.3/image-to-video/fast.json"),
    ),
    (
        "fal-ai/nano-banana-2",
        include_str!("../schemas/fal/fal-ai/nano-banana-2.json"),
    ),
    (
        "fal-ai/nano-banana-2/edit",
        include_str!("../schemas/fal/fal-ai/nano-banana-2/edit.json"),
    ),
    (
        "fal-ai/bytedance/seedream/v4.5/text-to-image",
        include_str!("../schemas/fal/fal-ai/bytedance/seedream/v4.5/text-to-image.json"),
    ),
    (
        "fal-ai/bytedance/seedream/v4.5/edit",
        include_str!("../schemas/fal/fal-ai/bytedance/seedream/v4.5/edit.json"),
    ),
    (
        "fal-ai/flux-2-pro",
        include_str!("../schemas/fal/fal-ai/flux-2-pro.json"),
    ),
    (
        "fal-ai/flux-2-pro/edit",
        include_str!("../schemas/fal/fal-ai/flux-2-pro/edit.json"),
    ),
];

/// Eachlabs model slug → its input schema (JSON text).
pub(crate) const EACHLABS: &[(&str, &str)] = &[(
    "kling-v2-6-pro-text-to-video",
    include_str!("../schemas/eachlabs/kling-v2-6-pro-text-to-video.json"),
)];

/// The published input schema of a fal endpoint (`fal == true`) or an Eachlabs model.
#[cfg(test)]
pub(crate) fn schema(fal: bool, id: &str) -> Option<&'static str> {
    let table = if fal { FAL } else { EACHLABS };
    table.iter().find(|(k, _)| *k == id).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every snapshot file is embedded, and every embedded one is a JSON Schema naming its source.
    #[test]
    fn every_snapshot_file_is_embedded_and_names_its_source() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let mut files = Vec::new();
        for (dir, table) in [("fal", FAL), ("eachlabs", EACHLABS)] {
            collect(&root.join(dir), &root.join(dir), &mut files);
            for (id, text) in table {
                let doc: serde_json::Value = serde_json::from_str(text).unwrap();
                assert!(doc["x-source"]["date"].is_string(), "{id}: no source date");
                assert!(jsonschema::validator_for(&doc).is_ok(), "{id}: not a schema");
                assert!(files.contains(&format!("{dir}/{id}")), "{id}: no file");
            }
            let embedded = files.iter().filter(|f| f.starts_with(&format!("{dir}/"))).count();
            assert_eq!(
                embedded,
                table.len(),
                "{dir}: a snapshot file is not embedded in published.rs"
            );
        }
    }

    fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                collect(root, &p, out);
            } else if let Some(rel) = p
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .and_then(|r| r.strip_suffix(".json"))
            {
                let top = root.file_name().unwrap().to_str().unwrap();
                out.push(format!("{top}/{rel}"));
            }
        }
    }
}
