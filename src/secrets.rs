//! Keys never leave the process except to their provider: every line printed, every journal
//! record and every manifest is passed through [`redact`] before it is written, so a key that a
//! server echoes in an error body is never shown or stored. A leaf: it imports nothing.

use std::borrow::Cow;
use std::sync::RwLock;

/// What replaces a key.
pub const MASK: &str = "[redacted key]";

/// Keys shorter than this are not registered (a placeholder like `sandbox` is no secret, and
/// masking a short word would garble ordinary text).
const MIN_LEN: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Registers a key to be masked from now on (the sandbox's placeholder is ignored).
pub fn register(key: &str) {
    let key = key.trim();
    if key.len() < MIN_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == key) {
        secrets.push(key.to_owned());
        // Its JSON-escaped form too, for records written as JSON.
        let escaped = serde_json::to_string(key).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        if escaped != key {
            secrets.push(escaped.to_owned());
        }
    }
}

/// `text` with every registered key masked.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for s in secrets.iter() {
        out = out.replace(s.as_str(), MASK);
    }
    Cow::Owned(out)
}

/// Bytes (UTF-8 JSON) with every registered key masked.
pub fn redact_bytes(bytes: Vec<u8>) -> Vec<u8> {
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
}
