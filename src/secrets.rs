//! Keys never leave the process except to their provider: every line printed, every journal
//! record and every manifest is passed through [`redact`] before it is written, so a key that a
//! server echoes in an error body is never shown or stored. A leaf: it imports nothing.

use std::borrow::Cow;
use std::sync::RwLock;

/// What replaces a key.
pub(crate) const MASK: &str = "[redacted key]";

/// Keys shorter than this are not registered (a placeholder like `sandbox` is no secret, and
/// masking a short word would garble ordinary text).
const MIN_LEN: usize = 8;

/// Any run of this many bytes of a key (or of one of its encodings) is masked: the secret half
/// of `ID:SECRET`, a key cut short by a server, a key inside a longer encoded value.
const FRAGMENT: usize = 12;

/// What is masked: forms shorter than [`FRAGMENT`] whole, and every [`FRAGMENT`]-byte run of
/// the longer ones (looked up once per position of a text: one pass, whatever the number of
/// keys).
struct Masks {
    short: Vec<String>,
    runs: Option<std::collections::HashSet<[u8; FRAGMENT], std::hash::BuildHasherDefault<Quick>>>,
}

/// A fast hash for the runs (not an attacker-facing table: only the keys' own runs are in it).
#[derive(Default)]
struct Quick(u64);

impl std::hash::Hasher for Quick {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

static SECRETS: RwLock<Masks> = RwLock::new(Masks {
    short: Vec::new(),
    runs: None,
});

/// Registers a key to be masked from now on, with its common encodings: JSON-escaped,
/// URL-encoded and base64 (standard and URL-safe, at each alignment inside a longer value).
pub(crate) fn register(key: &str) {
    let key = key.trim();
    if key.len() < MIN_LEN {
        return;
    }
    let mut masks = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for form in forms(key).into_iter().filter(|f| f.len() >= MIN_LEN) {
        if form.len() < FRAGMENT {
            if !masks.short.contains(&form) {
                masks.short.push(form);
            }
            continue;
        }
        let runs = masks.runs.get_or_insert_with(Default::default);
        for start in
            (0..=form.len() - FRAGMENT).filter(|&i| form.is_char_boundary(i) && form.is_char_boundary(i + FRAGMENT))
        {
            let mut run = [0u8; FRAGMENT];
            run.copy_from_slice(&form.as_bytes()[start..start + FRAGMENT]);
            runs.insert(run);
        }
    }
}

/// A key's forms as a server may echo it.
fn forms(key: &str) -> Vec<String> {
    let json = serde_json::to_string(key).unwrap_or_default();
    let percent: String = key
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut out = vec![
        key.to_owned(),
        json.trim_matches('"').to_owned(),
        percent.to_lowercase(),
        percent,
    ];
    // Inside a longer value (`Basic base64(id:key)`), the key's base64 depends on its offset:
    // each of the three, without the characters the prefix touches.
    for pad in 0..3 {
        let mut bytes = vec![0u8; pad];
        bytes.extend_from_slice(key.as_bytes());
        let skip = (pad * 4).div_ceil(3);
        for encoded in [base64(&bytes, false), base64(&bytes, true)] {
            out.push(encoded.trim_end_matches('=').get(skip..).unwrap_or("").to_owned());
        }
    }
    out
}

/// Base64 (RFC 4648; `url`: the URL-safe alphabet).
fn base64(bytes: &[u8], url: bool) -> String {
    let table: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(table[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
        out.push_str(&"=".repeat(3 - chunk.len()));
    }
    out
}

/// The byte ranges of `text` holding a registered key, or a run of [`FRAGMENT`] bytes of one.
fn spans(text: &str, masks: &Masks) -> Vec<(usize, usize)> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for s in &masks.short {
        spans.extend(text.match_indices(s.as_str()).map(|(at, _)| (at, at + s.len())));
    }
    if let Some(runs) = &masks.runs {
        let bytes = text.as_bytes();
        for (at, w) in bytes.windows(FRAGMENT).enumerate() {
            if runs.contains(<&[u8; FRAGMENT]>::try_from(w).unwrap_or(&[0; FRAGMENT])) {
                spans.push((at, at + FRAGMENT));
            }
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// `text` with every registered key, and every part of one long enough to matter, masked.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let masks = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    let spans = spans(text, &masks);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (a, b) in spans {
        out.push_str(&text[at..a]);
        out.push_str(MASK);
        at = b;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// Bytes (UTF-8 JSON) with every registered key masked.
pub(crate) fn redact_bytes(bytes: Vec<u8>) -> Vec<u8> {
    match std::str::from_utf8(&bytes) {
        Ok(text) => match redact(text) {
            Cow::Borrowed(_) => bytes,
            Cow::Owned(masked) => masked.into_bytes(),
        },
        Err(_) => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_keys_are_masked_in_plain_and_json_text() {
        register("sk-test-0123456789");
        register("short");
        let line = "HTTP 401: bad key sk-test-0123456789 (short)";
        assert_eq!(redact(line), format!("HTTP 401: bad key {MASK} (short)"));
        let json = serde_json::to_vec(&serde_json::json!({"error": line})).unwrap();
        assert!(!String::from_utf8(redact_bytes(json)).unwrap().contains("0123456789"));
        assert!(matches!(redact("nothing secret"), Cow::Borrowed(_)));
    }

    #[test]
    fn parts_and_encodings_of_a_key_are_masked() {
        let key = "5f1c2a9e-0d7b-4c3e:8a6d4f2b9c1e7a3d5b0f";
        register(key);
        let basic = base64(format!("user:{key}").as_bytes(), false);
        for echoed in [
            "8a6d4f2b9c1e7a3d5b0f".to_owned(),
            "5f1c2a9e-0d7b-4c3e%3A8a6d4f2b9c1e7a3d5b0f".to_owned(),
            base64(key.as_bytes(), false),
            base64(key.as_bytes(), true),
            format!("Basic {basic}"),
            key[3..20].to_owned(),
        ] {
            let line = format!("the server said: {echoed}!");
            let masked = redact(&line);
            assert!(
                masked.starts_with("the server said: ") && masked.ends_with('!'),
                "{masked}"
            );
            assert!(masked.contains(MASK), "{echoed} was not masked: {masked}");
            let tail = echoed.trim_end_matches('=');
            assert!(!masked.contains(&tail[tail.len() - 8..]), "{echoed}: {masked}");
        }
        assert!(matches!(redact("a line with 8a6d4f nothing long"), Cow::Borrowed(_)));
    }
}
