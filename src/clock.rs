//! The wall clock as the journal, the manifest and the claims write it (a leaf).

/// Now, RFC 3339 UTC to the second.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
