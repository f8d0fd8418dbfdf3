//! `storyboard models`: the catalog and its prices.

use camino::Utf8Path;

use crate::cli;
use crate::error::{Error, exit};
use crate::report;

/// `storyboard models`: the catalog, priced from fresh live prices when there are some
/// (`--refresh` fetches them now).
pub(crate) async fn models(args: cli::ModelsArgs) -> Result<i32, Error> {
    let prices = match args.refresh {
        true => {
            // The key goes to the configured platform URL only: a bad one is an error, not a
            // silent fallback.
            let api = crate::settings::endpoints_from_env()?.fal_api;
            let key = super::keys(&args.keys).resolve(Utf8Path::new("-")).fal;
            if let Some(k) = &key {
                crate::secrets::register(k);
            }
            let http = crate::provider::http::client();
            let ids = crate::facts::prices::catalog_ids();
            crate::facts::prices::refresh(&http, &api, key.as_deref(), &ids)
                .await
                .unwrap_or_else(|e| crate::facts::prices::Prices::table(format!("{e}; the table is used")))
        }
        false => crate::facts::prices::cached(&crate::settings::platform_url()),
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report::summary::models_json(&prices)).unwrap_or_default();
        report::stdout(&(json + "\n"));
    } else {
        report::stdout(&report::summary::models(&prices, report::table::stdout_width()));
    }
    Ok(exit::OK)
}
