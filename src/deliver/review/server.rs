//! `storyboard review`: the review page served on 127.0.0.1, where a director picks takes,
//! asks for redos and writes notes through the same code as `storyboard pick`.
//!
//! Only the page's own tab can change anything: every request must name this server's own
//! loopback address as its Host (and Origin, when sent); the page needs the random token
//! printed in the URL, which it sets as a same-site cookie for the clips and posters; changes
//! are POSTs carrying the token in a header (a page on another site cannot set one without a
//! CORS preflight, which this server never answers).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use camino::Utf8PathBuf;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

use super::Change;
use crate::record::takes::Edge;

/// The team's picks, and how to warn that they cannot be read.
pub(crate) type Team = (crate::record::store::picks::TeamPicks, fn(&str));

/// What the server knows.
#[derive(Debug)]
pub(crate) struct Review {
    /// The output folder.
    pub out: Utf8PathBuf,
    /// The cut's file name (`<name>.mp4`), shown when it exists.
    pub cut: String,
    /// The title.
    pub title: String,
    /// The random token.
    pub token: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The team's picks, when the storyboard names a shared store, and how to warn that they
    /// cannot be read.
    pub team: Option<Team>,
}

/// A random token: 128 bits from the operating system.
pub(crate) fn token() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        for b in &mut bytes {
            *b = fastrand::u8(..);
        }
    }
    crate::digest::hex(&bytes)
}

/// The router.
pub(crate) fn router(review: Arc<Review>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/pick", post(pick))
        .route("/api/redo", post(redo))
        .route("/api/note", post(note))
        .route("/api/no-redo", post(no_redo))
        .route("/api/pick-frame", post(pick_frame))
        .route("/api/redo-frame", post(redo_frame))
        .route("/media/{*path}", get(media))
        .layer(middleware::from_fn_with_state(review.clone(), guard))
        .with_state(review)
}

/// Refuses a request whose Host or Origin is not this server's loopback address, or which
/// lacks the token (query on the page, cookie for media, header for changes).
async fn guard(State(r): State<Arc<Review>>, req: Request, next: Next) -> Response {
    let port = r.addr.port();
    let ours = |v: &str| {
        [format!("127.0.0.1:{port}"), format!("localhost:{port}")]
            .iter()
            .any(|h| h == v)
    };
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let origin_ok = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(o) => o.strip_prefix("http://").is_some_and(ours),
    };
    if !ours(host) || !origin_ok {
        return (
            StatusCode::FORBIDDEN,
            "wrong host or origin: open the URL storyboard printed",
        )
            .into_response();
    }
    let query_token = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    let header_token = headers.get("x-storyboard-token").and_then(|v| v.to_str().ok());
    let cookie_token = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').find_map(|kv| kv.trim().strip_prefix("storyboard_token=")));
    let path = req.uri().path();
    let given = match path {
        "/" => query_token,
        p if p.starts_with("/api/") => header_token,
        _ => cookie_token.or(query_token),
    };
    if given != Some(r.token.as_str()) {
        return (
            StatusCode::FORBIDDEN,
            "missing or wrong token: open the URL storyboard printed",
        )
            .into_response();
    }
    next.run(req).await
}

/// The page, built afresh from the folder on every load.
async fn page(State(r): State<Arc<Review>>) -> Response {
    let built = tokio::task::spawn_blocking(move || {
        // The team's picks as they are now (a warning on the page's console when unreachable).
        if let Some((team, warn)) = &r.team
            && let Err(e) = team.pull(&r.out)
        {
            warn(&format!("warning: {e}; showing this folder's picks"));
        }
        let (manifest, clips, _) =
            crate::deliver::assemble::segments(&crate::record::folder::Folder::reopen(&r.out), false)
                .map_err(|e| e.to_string())?;
        let view = crate::deliver::assemble::review::View {
            prefix: "media/".into(),
            posters: crate::deliver::assemble::review::make_posters(&r.out, &clips),
            token: Some(r.token.clone()),
            cut_stale: crate::deliver::assemble::review::cut_stale(&r.out, &r.cut, &clips),
        };
        let cut = r.out.join(&r.cut).is_file().then_some(r.cut.as_str());
        let html = crate::deliver::assemble::review::page(&r.title, &manifest, &clips, cut, &view);
        Ok::<_, String>((html, r.token.clone()))
    })
    .await;
    match built {
        Ok(Ok((html, token))) => {
            let cookie = format!("storyboard_token={token}; Path=/; HttpOnly; SameSite=Strict");
            (
                [(header::SET_COOKIE, cookie), (header::CACHE_CONTROL, "no-store".into())],
                axum::response::Html(html),
            )
                .into_response()
        }
        Ok(Err(e)) => (StatusCode::NOT_FOUND, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A clip, poster or the cut from the output folder: only those, only regular files reached
/// through no link, only what storyboard wrote; streamed (memory stays flat, and reading stops
/// when the client goes).
async fn media(State(r): State<Arc<Review>>, Path(path): Path<String>) -> Response {
    let allowed = path == r.cut
        || (path.ends_with(".mp4") && !path.contains('/') && !path.starts_with('.'))
        || ["clips/", "posters/", "cast/", "frames/"].iter().any(|d| {
            crate::record::folder::layout::in_state(&path)
                .and_then(|p| p.strip_prefix(d))
                .is_some_and(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        });
    if !allowed || path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let kind = if path.ends_with(".png") {
        "image/png"
    } else {
        "video/mp4"
    };
    let out = r.out.clone();
    let opened = tokio::task::spawn_blocking(move || open_media(&out, &path)).await;
    let Ok(Some((file, len))) = opened else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let chunks = futures::stream::unfold((tokio::fs::File::from_std(file), len), |(mut f, left)| async move {
        if left == 0 {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(left.min(64 * 1024)).unwrap_or(64 * 1024)];
        match tokio::io::AsyncReadExt::read(&mut f, &mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)),
                    (f, left - n as u64),
                ))
            }
            Err(e) => Some((Err(e), (f, 0))),
        }
    });
    (
        [
            (header::CONTENT_TYPE, kind.to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// Opens `rel` in the output folder for serving: every folder on the way a real folder (not a
/// link), the file itself regular and opened without following a link or blocking, and one
/// storyboard wrote (a file in the folder: its record or a clip the journal recorded; a store
/// clip: one the journal recorded).
fn open_media(out: &camino::Utf8Path, rel: &str) -> Option<(std::fs::File, u64)> {
    let rel = camino::Utf8Path::new(rel);
    let mut dir = out.to_owned();
    for part in rel.parent().into_iter().flat_map(|p| p.components()) {
        dir.push(part);
        if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            return None;
        }
    }
    let history = crate::record::folder::Folder::history_now(out);
    let wrote = match rel.parent().map(camino::Utf8Path::as_str) {
        Some("") | None => crate::record::folder::Written::read(out).replaceable(out, rel.as_str(), Some(&history)),
        Some(d) if crate::record::folder::layout::is_clips(d) => {
            rel.file_stem().is_some_and(|sha| history.clip_shas.contains(sha))
        }
        Some(_) => true,
    };
    let path = out.join(rel);
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(&path).ok()?;
    let meta = file.metadata().ok()?;
    (wrote && meta.is_file()).then_some((file, meta.len()))
}

#[derive(Debug, Deserialize)]
struct PickBody {
    shot: String,
    take: u32,
    /// A frame pick's frame: `start` (the default) or `end`.
    #[serde(default)]
    edge: Edge,
}

#[derive(Debug, Deserialize)]
struct ShotBody {
    shot: String,
    /// A frame redo's frame: `start` (the default) or `end`.
    #[serde(default)]
    edge: Edge,
}

#[derive(Debug, Deserialize)]
struct NoteBody {
    shot: String,
    note: String,
    /// The take the note is about (none: the shot's selected take).
    #[serde(default)]
    take: Option<u32>,
}

async fn pick(State(r): State<Arc<Review>>, axum::Json(b): axum::Json<PickBody>) -> Response {
    apply(r, b.shot, Change::Take(b.take)).await
}

async fn redo(State(r): State<Arc<Review>>, axum::Json(b): axum::Json<ShotBody>) -> Response {
    apply(r, b.shot, Change::Redo).await
}

async fn note(State(r): State<Arc<Review>>, axum::Json(b): axum::Json<NoteBody>) -> Response {
    let change = Change::Note {
        take: b.take,
        text: b.note,
    };
    apply(r, b.shot, change).await
}

async fn pick_frame(State(r): State<Arc<Review>>, axum::Json(b): axum::Json<PickBody>) -> Response {
    apply(r, b.shot, Change::Frame(b.edge, b.take)).await
}

async fn redo_frame(State(r): State<Arc<Review>>, axum::Json(b): axum::Json<ShotBody>) -> Response {
    apply(r, b.shot, Change::RedoFrame(b.edge)).await
}

async fn no_redo(State(r): State<Arc<Review>>, axum::Json(b): axum::Json<ShotBody>) -> Response {
    apply(r, b.shot, Change::NoRedo).await
}

/// One change, through the same code as `storyboard pick`.
async fn apply(r: Arc<Review>, shot: String, change: Change) -> Response {
    let done = tokio::task::spawn_blocking(move || {
        super::change(
            &crate::record::folder::Folder::reopen(&r.out),
            &shot,
            change,
            r.team.as_ref().map(|t| &t.0),
        )
    })
    .await;
    match done {
        Ok(Ok(line)) => (StatusCode::OK, line).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Serves until Ctrl-C; `ready` gets the URL to print once the port is bound.
pub(crate) async fn serve(
    out: Utf8PathBuf,
    (title, cut): (String, String),
    team: Option<Team>,
    port: u16,
    ready: impl FnOnce(&str),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let review = Arc::new(Review {
        out,
        cut,
        title,
        token: token(),
        addr,
        team,
    });
    ready(&format!("http://{addr}/?token={}", review.token));
    axum::serve(listener, router(review))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
