//! A problem with the user's input: where it is and what to do about it. Bad input is
//! reported as a list of these (all of a file's problems in one run), never one at a time.

use std::fmt;

/// One problem in a storyboard, with the place it was found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// The file (or `<stdin>`).
    pub file: String,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// The shot id (or `shots[i]` before the id is known), when the problem is in a shot.
    pub shot: Option<String>,
    /// The field, when the problem is in one.
    pub field: Option<String>,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The index in `shots` of the shot it is in, when it is in one.
    pub spec: Option<usize>,
}

impl Problem {
    /// A problem at a place in the file.
    pub(crate) fn in_file(file: &str, location: Option<(usize, usize)>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_owned(),
            location,
            shot: None,
            field: None,
            message: message.into(),
            spec: None,
        }
    }

    /// A problem in a field of shot `spec` (its index in `shots`), at the field's line and column.
    pub(crate) fn in_shot(
        file: &str,
        location: Option<(usize, usize)>,
        spec: usize,
        shot: &str,
        field: &str,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.to_owned(),
            location,
            shot: Some(shot.to_owned()),
            field: (!field.is_empty()).then(|| field.to_owned()),
            message: message.into(),
            spec: Some(spec),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        match (&self.shot, &self.field) {
            (Some(s), Some(fl)) => write!(f, "shot `{s}`, field `{fl}`: ")?,
            (Some(s), None) => write!(f, "shot `{s}`: ")?,
            (None, Some(fl)) => write!(f, "field `{fl}`: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.message)
    }
}

/// `` — did you mean `x`?`` for the candidate closest to `word`, or nothing when none is close.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" — did you mean `{c}`?"))
        .unwrap_or_default()
}

/// Names as a message lists them: `a, b, c`, or `none`.
pub(crate) fn listed(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The candidate closest to `word` (for "did you mean"), if any is close enough.
pub(crate) fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_picks_the_nearest_known_word() {
        assert_eq!(closest("promt", ["id", "prompt", "params"]), Some("prompt"));
        assert_eq!(closest("zzz", ["id", "prompt"]), None);
    }
}
