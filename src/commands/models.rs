//! `storyboard models`: the catalog, its prices and the schemas its bodies are checked against.

use camino::Utf8Path;

use crate::cli;
use crate::error::{Error, exit};
use crate::facts::{prices, schemas};
use crate::report;

/// `storyboard models`: the catalog, priced from fresh live prices when there are some and
/// checked against fal's live schemas when they are cached (`--refresh` fetches both now).
pub(crate) async fn models(args: cli::ModelsArgs) -> Result<i32, Error> {
    let (prices, schema_note) = match args.refresh {
        true => refresh(&args).await?,
        false => (prices::cached(&crate::settings::platform_url()), None),
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report::summary::models_json(&prices)).unwrap_or_default();
        report::stdout(&(json + "\n"));
    } else {
        let width = report::table::stdout_width();
        let mut out = report::summary::models(&prices, width);
        out.push_str(&report::table::wrap(&schema_line(schema_note), width, 2));
        report::stdout(&out);
    }
    Ok(exit::OK)
}

/// Fetches fal's live prices and input schemas of the catalog's fal endpoints and caches them;
/// the prices, and what the schema fetch says (each refused schema once).
async fn refresh(args: &cli::ModelsArgs) -> Result<(prices::Prices, Option<String>), Error> {
    // The key goes to the configured platform URL only: a bad one is an error, not a
    // silent fallback.
    let api = crate::settings::endpoints_from_env()?.fal_api;
    let keys = super::keys(&args.keys).resolve(Utf8Path::new("-"));
    let key = keys.fal;
    if let Some(k) = &key {
        crate::secrets::register(k);
    }
    let http = crate::provider::http::client();
    let ids = prices::catalog_ids();
    let live = prices::refresh(&http, &api, key.as_deref(), &ids)
        .await
        .unwrap_or_else(|e| prices::Prices::table(format!("{e}; the table is used")));
    let mut notes = vec![match schemas::refresh(&http, &api, key.as_deref(), &ids).await {
        Ok(f) => f.refused.join("\n"),
        Err(e) => format!("{e}; the committed snapshots are used"),
    }];
    // Eachlabs' model API is public; it is asked when Eachlabs is configured (a key, or
    // `STORYBOARD_EACHLABS_URL`), so a fal-only user's refresh talks to fal only.
    let each_url = std::env::var("STORYBOARD_EACHLABS_URL").is_ok_and(|v| !v.trim().is_empty());
    if keys.eachlabs.is_some() || each_url {
        notes.push(refresh_eachlabs(&http).await?);
    }
    schemas::load(&api);
    let note = notes
        .into_iter()
        .filter(|n| !n.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok((live, Some(note).filter(|n| !n.is_empty())))
}

/// Fetches Eachlabs' request schemas of the catalog's Eachlabs slugs (`GET /v1/model?slug=`,
/// public: no key is sent) and caches them; what it says (each refused schema once).
async fn refresh_eachlabs(http: &reqwest::Client) -> Result<String, Error> {
    let api = crate::settings::endpoints_from_env()?.eachlabs;
    let slugs: Vec<&str> = crate::facts::catalog::CATALOG
        .iter()
        .filter(|e| e.provider == crate::facts::catalog::ProviderKind::Eachlabs)
        .map(|e| e.id)
        .collect();
    Ok(schemas::refresh_eachlabs(http, &api, &slugs).await.refused.join("\n"))
}

/// How many endpoints are checked against a live schema, and what a refresh said about them.
fn schema_line(note: Option<String>) -> String {
    use crate::facts::catalog::ProviderKind;
    let live = |p: ProviderKind| {
        crate::facts::catalog::CATALOG
            .iter()
            .filter(|e| e.provider == p && crate::plan::wire::snapshot(e.provider, e.id).is_some_and(|s| s.live))
            .count()
    };
    let mut line = match (live(ProviderKind::Fal), live(ProviderKind::Eachlabs)) {
        (0, 0) => "schemas: the committed snapshots (`storyboard models --refresh` fetches the providers' live ones)"
            .to_owned(),
        (f, e) => format!(
            "schemas: {f} endpoints checked against fal's live schemas, {e} against Eachlabs' live schemas, the rest against the committed snapshots"
        ),
    };
    if let Some(n) = note {
        line = format!("{n}\n{line}");
    }
    line + "\n"
}
