//! `storyboard init [DIR]`: a starter storyboard that plans as is, its schema and a .gitignore.

use crate::cli::InitArgs;
use crate::error::{Error, UsageError, exit};
use crate::report;

/// The starter storyboard (it plans with exit 0; a test keeps it so).
pub(crate) const STARTER: &str = include_str!("starter.yaml");

const GITIGNORE: &str = "# storyboard: rendered clips and keys stay out of git\nrenders/\n.env\n";

/// `storyboard init [DIR]`: the starter, its schema and a .gitignore; refuses to overwrite.
pub(crate) fn init(args: InitArgs) -> Result<i32, Error> {
    let starter = match &args.model {
        Some(m) => starter_for(m)?,
        None => STARTER.to_owned(),
    };
    let files = [
        ("storyboard.yaml", starter),
        ("storyboard.schema.json", crate::storyboard::schema::storyboard()),
        (".gitignore", GITIGNORE.to_owned()),
    ];
    let taken: Vec<String> = files
        .iter()
        .map(|(name, _)| args.dir.join(name))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .map(|p| p.to_string())
        .collect();
    if !taken.is_empty() {
        return Err(UsageError::WouldOverwrite(taken.join(", ")).into());
    }
    std::fs::create_dir_all(&args.dir).map_err(|source| Error::Write {
        path: args.dir.clone(),
        source,
    })?;
    for (name, text) in files {
        let path = args.dir.join(name);
        crate::files::create_fresh(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(|source| Error::Write { path, source })?;
    }
    let file = args.dir.join("storyboard.yaml");
    report::stderr_line(&format!(
        "wrote {file}, storyboard.schema.json and .gitignore in {}\nnext: storyboard plan {file}   (then: storyboard render {file} --sandbox)",
        args.dir
    ));
    Ok(exit::OK)
}

/// The starter storyboard for a model family: its `model:`, and its own default duration (the
/// starter's shots are text-to-video, so the family needs a text-to-video endpoint).
pub(crate) fn starter_for(model: &str) -> Result<String, UsageError> {
    use crate::facts::catalog::{self, Kind, ProviderKind};
    let families = catalog::families();
    let Some(ep) = catalog::select(model, ProviderKind::Fal, Kind::TextToVideo) else {
        let why = if families.contains(&model) {
            format!("`{model}` renders from an image only, and the starter's shots are text-to-video")
        } else {
            format!(
                "unknown model `{model}`{}",
                crate::problem::did_you_mean(model, families.iter().copied())
            )
        };
        let msg = format!(
            "init --model: {why} (models: {}; see `storyboard models`)",
            families.join(", ")
        );
        return Err(UsageError::InitModel(msg));
    };
    let seconds = ep.durations.describe();
    Ok(STARTER
        .replace("model: kling-v2.6-pro        #", &format!("model: {model:<20} #"))
        .replace(
            "  duration: 5                # seconds (5 or 10)",
            &format!("  duration: {:<16} # seconds ({seconds})", ep.default_seconds),
        ))
}
