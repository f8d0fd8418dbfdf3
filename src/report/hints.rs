//! Commands printed for the user to copy: the exact `render` that resumes an interrupted one
//! and the `cancel` that reaches the same output folder.

use crate::cli::{ProviderArg, RenderArgs};

/// The `render` command that resumes `args`: the same storyboard, folder, selection, provider
/// and gates, without the flags that pay again (`--force`, `--retry-uncertain`,
/// `--resubmit-expired`) or only plan (`--dry-run`).
pub(crate) fn resume_command(args: &RenderArgs) -> String {
    let mut words = vec!["storyboard".to_owned(), "render".to_owned(), args.file.to_string()];
    push_folder_and_selection(&mut words, args.out.as_deref(), &args.only);
    if let Some(p) = args.provider {
        words.extend(["--provider".to_owned(), provider_name(p).to_owned()]);
    }
    if let Some(n) = args.concurrency {
        words.extend(["--concurrency".to_owned(), n.to_string()]);
    }
    if let Some(usd) = args.max_cost {
        words.extend(["--max-cost".to_owned(), usd.to_string()]);
    }
    let switches = [
        (args.sandbox, "--sandbox"),
        (args.yes, "--yes"),
        (args.json, "--json"),
        (args.quiet, "--quiet"),
        (args.allow_unpriced, "--allow-unpriced"),
        (args.ignore_budget, "--ignore-budget"),
        (args.offline, "--offline"),
        (args.assemble, "--assemble"),
        (args.strict, "--strict"),
    ];
    words.extend(
        switches
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, flag)| (*flag).to_owned()),
    );
    join(&words)
}

/// The `cancel` command for the jobs `args` left in flight (same folder, same selection).
pub(crate) fn cancel_command(args: &RenderArgs) -> String {
    let mut words = vec!["storyboard".to_owned(), "cancel".to_owned(), args.file.to_string()];
    push_folder_and_selection(&mut words, args.out.as_deref(), &args.only);
    join(&words)
}

fn push_folder_and_selection(words: &mut Vec<String>, out: Option<&camino::Utf8Path>, only: &[String]) {
    if let Some(out) = out {
        words.extend(["--out".to_owned(), out.to_string()]);
    }
    if !only.is_empty() {
        words.push("--only".to_owned());
        words.extend(only.iter().cloned());
    }
}

fn provider_name(p: ProviderArg) -> &'static str {
    match p {
        ProviderArg::Fal => "fal",
        ProviderArg::Eachlabs => "eachlabs",
    }
}

/// Words joined for a POSIX shell, each quoted only when it needs it.
fn join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shlex::try_quote(w).map_or_else(|_| w.clone(), |q| q.into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(line: &[&str]) -> RenderArgs {
        match crate::cli::Cli::try_parse_from(line).unwrap().command {
            crate::cli::Command::Render(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn the_resume_command_keeps_folder_and_selection_and_drops_what_pays_again() {
        let a = args(&[
            "storyboard",
            "render",
            "my ad.yaml",
            "--force",
            "--out",
            "renders/ad-emu",
            "--only",
            "grind",
            "pour-*",
            "--provider",
            "fal",
            "--retry-uncertain",
            "--yes",
            "-j",
            "3",
        ]);
        assert_eq!(
            resume_command(&a),
            "storyboard render 'my ad.yaml' --out renders/ad-emu --only grind 'pour-*' --provider fal --concurrency 3 --yes"
        );
        assert_eq!(
            cancel_command(&a),
            "storyboard cancel 'my ad.yaml' --out renders/ad-emu --only grind 'pour-*'"
        );
    }
}
