//! JSON Schemas (draft-07, for editors) of the storyboard format and the manifest.

use schemars::generate::SchemaSettings;

use crate::record::manifest::Manifest;
use crate::storyboard::StoryboardFile;

/// The storyboard format's schema, pretty-printed.
pub(crate) fn storyboard() -> String {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<StoryboardFile>();
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// The manifest's schema, pretty-printed.
pub(crate) fn manifest() -> String {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Manifest>();
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
