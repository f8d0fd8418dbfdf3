//! `review.html`: one static page (no server, no external assets) to review a render: title,
//! total cost, and per shot the clip, resolved prompt, endpoint, duration, cost, status and any
//! error. Failed and uncertain shots stand out.

use crate::manifest::{Manifest, ShotStatus};

use super::Clip;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;background:#111;color:#eee}\
h1{margin-bottom:.2rem}.summary{color:#aaa;margin-bottom:2rem}\
.shots{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1.2rem}\
.shot{background:#1c1c1c;border:2px solid #333;border-radius:8px;padding:1rem}\
.shot.failed{border-color:#e5484d;background:#2a1415}.shot.uncertain{border-color:#f5a524;background:#2a2210}\
.shot.pending{opacity:.6}video{width:100%;background:#000;border-radius:4px}\
.badge{display:inline-block;padding:.1rem .5rem;border-radius:99px;font-size:.8rem;background:#333}\
.failed .badge{background:#e5484d;color:#fff}.uncertain .badge{background:#f5a524;color:#000}\
.done .badge,.cached .badge{background:#30a46c;color:#fff}dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem}\
dt{color:#888}dd{margin:0;word-break:break-word}.error{color:#ff9592}";

/// The page.
pub fn page(title: &str, manifest: &Manifest, clips: &[Clip]) -> String {
    let total_est: f64 = manifest
        .shots
        .iter()
        .filter_map(|s| s.estimated_usd)
        .fold(0.0, |a, b| a + b);
    let actual: f64 = manifest
        .shots
        .iter()
        .filter_map(|s| s.actual_usd)
        .fold(0.0, |a, b| a + b);
    let seconds: f64 = clips.iter().map(|c| c.duration).sum();
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{t} — review</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n<p class=\"summary\">{n} shots · {r} rendered · {secs:.1} s · estimated ${total_est:.2}{act} · {gen}</p>\n<main class=\"shots\">\n",
        t = escape(title),
        n = manifest.shots.len(),
        r = clips.len(),
        secs = seconds,
        act = if actual > 0.0 { format!(" · reported ${actual:.2}") } else { String::new() },
        gen = escape(&manifest.generator),
    );
    for s in &manifest.shots {
        let status = format!("{:?}", s.status).to_lowercase();
        let clip = clips.iter().find(|c| c.record.id == s.id);
        html.push_str(&format!(
            "<section class=\"shot {status}\" id=\"{}\">\n<h2>{} <span class=\"badge\">{status}</span></h2>\n",
            escape(&s.id),
            escape(&s.id)
        ));
        if let Some(c) = clip {
            html.push_str(&format!(
                "<video controls preload=\"metadata\" src=\"{}\"></video>\n",
                escape(&c.rel)
            ));
        }
        html.push_str("<dl>\n");
        let prompt = s.input.get("prompt").and_then(|p| p.as_str()).unwrap_or("");
        html.push_str(&format!("<dt>prompt</dt><dd>{}</dd>\n", escape(prompt)));
        html.push_str(&format!("<dt>endpoint</dt><dd>{}</dd>\n", escape(&s.endpoint)));
        if let Some(c) = clip {
            html.push_str(&format!("<dt>duration</dt><dd>{:.2} s</dd>\n", c.duration));
        }
        let cost = match (s.estimated_usd, s.actual_usd) {
            (_, Some(a)) => format!("${a:.2} reported"),
            (Some(e), None) => format!("${e:.2} estimated"),
            (None, None) => "unpriced".to_owned(),
        };
        html.push_str(&format!("<dt>cost</dt><dd>{cost}</dd>\n"));
        if let Some(id) = &s.request_id {
            html.push_str(&format!("<dt>request</dt><dd>{}</dd>\n", escape(id)));
        }
        if let Some(e) = &s.error
            && s.status != ShotStatus::Done
            && s.status != ShotStatus::Cached
        {
            html.push_str(&format!("<dt>error</dt><dd class=\"error\">{}</dd>\n", escape(e)));
        }
        html.push_str("</dl>\n</section>\n");
    }
    html.push_str("</main>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
