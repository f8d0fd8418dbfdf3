//! `storyboard schema`: the JSON Schema of the storyboard or the manifest.

use crate::cli::{self, SchemaKind};
use crate::error::{Error, exit};
use crate::report;
use crate::storyboard::schema;

/// `storyboard schema`.
pub(crate) fn schema(args: cli::SchemaArgs) -> Result<i32, Error> {
    report::stdout(&match args.which {
        SchemaKind::Storyboard => schema::storyboard(),
        SchemaKind::Manifest => schema::manifest(),
    });
    Ok(exit::OK)
}
