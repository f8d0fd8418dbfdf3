//! `storyboard store status` and `storyboard store gc`.

use crate::cli::{StoreAction, StoreArgs};
use crate::error::{Error, exit};

/// Runs a `store` subcommand.
pub(crate) async fn run(args: StoreArgs) -> Result<i32, Error> {
    match args.action {
        StoreAction::Status(t) => {
            let store = crate::record::store::open(&t.store)?;
            let s = crate::record::store::status::summarize(&store).await?;
            if t.json {
                println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                return Ok(exit::OK);
            }
            println!("{} objects, {} bytes", s.objects, s.bytes);
            println!("takes: {} clips, {} bytes", s.takes, s.take_bytes);
            for (name, n) in &s.storyboards {
                println!("  {name}: {n} request(s) with a clip");
            }
            let claims: Vec<String> = s.claims.iter().map(|(k, n)| format!("{n} {k}")).collect();
            println!(
                "claims: {}",
                if claims.is_empty() {
                    "none".into()
                } else {
                    claims.join(", ")
                }
            );
            println!("picks: {} storyboard(s)", s.picks);
            Ok(exit::OK)
        }
        StoreAction::Gc(g) => {
            let store = crate::record::store::open(&g.target.store)?;
            let garbage = crate::record::store::status::gc(&store, g.dry_run).await?;
            if g.target.json {
                println!("{}", serde_json::to_string_pretty(&garbage).unwrap_or_default());
                return Ok(exit::OK);
            }
            let verb = if g.dry_run { "would remove" } else { "removed" };
            for o in &garbage {
                println!("{verb} {} ({} bytes): {}", o.object, o.bytes, o.why);
            }
            let bytes: u64 = garbage.iter().map(|o| o.bytes).sum();
            println!("{verb} {} object(s), {bytes} bytes", garbage.len());
            Ok(exit::OK)
        }
    }
}
