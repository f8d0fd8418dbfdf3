//! Where each node of the storyboard is written: an index from a node's path
//! (`cast.sam.references`, `shots[3].prompt`, `defaults.frame.model`) to the line and column
//! of its key (or, for a list item, of the item), built from the event stream of a YAML 1.2
//! parser that keeps every node's position (`saphyr-parser`). Problems found in the values
//! are reported at their own node with it, never at a line found by searching the text.

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// A 1-based line and column.
pub(crate) type At = (usize, usize);

/// The position of every key and list item of a document, by path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spans {
    at: HashMap<String, At>,
    /// Where the text of each literal block scalar (`prompt: |`) starts: its lines are the
    /// file's lines, so a template's line N is the file's line there + N - 1.
    literal: HashMap<String, At>,
}

/// A collection being read: its path, and the key awaiting its value (a mapping) or the
/// index of the next item (a list). `is_key`: the collection is itself a (complex) key.
enum Frame {
    Map {
        path: String,
        key: Option<String>,
        is_key: bool,
    },
    Seq {
        path: String,
        next: usize,
        is_key: bool,
    },
}

/// What a node is to its parent: a key (its value comes next) or a value at a path.
enum Role {
    Key,
    Value(String),
}

impl Spans {
    /// The index of `text`; empty when the parser refuses it (the caller reports that).
    pub(crate) fn of(text: &str) -> Spans {
        let mut b = Builder::default();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            b.event(event, (span.start.line(), span.start.col() + 1));
        }
        Spans {
            at: b.at,
            literal: b.literal,
        }
    }

    /// Where line `line` (1-based) of the text at `path` is written, when that text is a
    /// literal block (`prompt: |`), whose lines are the file's; `None` otherwise.
    pub(crate) fn text_line(&self, path: &str, line: usize) -> Option<At> {
        let (first, col) = *self.literal.get(path)?;
        Some((first + line.checked_sub(1)?, col))
    }

    /// Where `path` is written: its own node, else its closest written ancestor (a field the
    /// storyboard does not set is reported at the mapping it would go in).
    pub(crate) fn locate(&self, path: &str) -> Option<At> {
        let mut path = path;
        loop {
            if let Some(at) = self.at.get(path) {
                return Some(*at);
            }
            path = parent(path)?;
        }
    }
}

/// `shots[3].prompt` → `shots[3]` → `shots` → none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

#[derive(Default)]
struct Builder {
    at: HashMap<String, At>,
    literal: HashMap<String, At>,
    stack: Vec<Frame>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, at: At) {
        match event {
            Event::Scalar(v, style, ..) => {
                if let Role::Value(path) = self.node(Some(&v), at) {
                    if style == ScalarStyle::Literal {
                        self.literal.insert(path, at);
                    }
                    self.value_done();
                }
            }
            Event::Alias(_) => {
                if let Role::Value(_) = self.node(None, at) {
                    self.value_done();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let (path, is_key) = match self.node(None, at) {
                    Role::Key => (String::new(), true),
                    Role::Value(p) => (p, false),
                };
                self.stack.push(match event {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        key: None,
                        is_key,
                    },
                    _ => Frame::Seq { path, next: 0, is_key },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let was_key = matches!(
                    self.stack.pop(),
                    Some(Frame::Map { is_key: true, .. } | Frame::Seq { is_key: true, .. })
                );
                if !was_key {
                    self.value_done();
                }
            }
            _ => {}
        }
    }

    /// A node starts at `at` (`scalar`: its text, for a key): its role, its position recorded.
    fn node(&mut self, scalar: Option<&str>, at: At) -> Role {
        let (role, path) = match self.stack.last_mut() {
            None => (Role::Value(String::new()), String::new()),
            Some(Frame::Map {
                path, key: key @ None, ..
            }) => {
                let name = scalar.unwrap_or("?").to_owned();
                let full = join(path, &name);
                *key = Some(name);
                (Role::Key, full)
            }
            Some(Frame::Map { path, key: Some(k), .. }) => {
                let full = join(path, k);
                (Role::Value(full.clone()), full)
            }
            Some(Frame::Seq { path, next, .. }) => {
                let full = format!("{path}[{next}]");
                *next += 1;
                (Role::Value(full.clone()), full)
            }
        };
        // A key's position wins over its value's; the first of two equal keys wins.
        self.at.entry(path).or_insert(at);
        role
    }

    /// A value is complete: its mapping awaits the next key.
    fn value_done(&mut self) {
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = None;
        }
    }
}

fn join(path: &str, key: &str) -> String {
    match path {
        "" => key.to_owned(),
        _ => format!("{path}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "version: 1
defaults:
  frame: { model: nano, resolution: 1K }
cast:
  mara:
    frontal: a.png
  sam:
    frontal: b.png
    references: []
shots:
  - id: a
    prompt: x
  -   id: b
      references:
        - one.png
        - two.png
      prompt: |
        y
";

    #[test]
    fn every_key_and_item_is_found_at_its_own_line() {
        let s = Spans::of(TEXT);
        assert_eq!(s.locate("version"), Some((1, 1)));
        assert_eq!(s.locate("defaults.frame.model"), Some((3, 12)));
        assert_eq!(s.locate("cast.sam.references"), Some((9, 5)));
        assert_eq!(s.locate("cast.mara.frontal"), Some((6, 5)));
        assert_eq!(s.locate("shots[0].prompt"), Some((12, 5)));
        assert_eq!(s.locate("shots[1].id"), Some((13, 7)));
        assert_eq!(s.locate("shots[1].references[1]"), Some((16, 11)));
        assert_eq!(s.locate("shots[1].prompt"), Some((17, 7)));
    }

    #[test]
    fn a_literal_blocks_lines_are_the_files() {
        let s = Spans::of(TEXT);
        assert_eq!(s.text_line("shots[1].prompt", 1), Some((18, 9)));
        assert_eq!(s.text_line("shots[1].prompt", 2), Some((19, 9)));
        assert_eq!(s.text_line("shots[0].prompt", 1), None, "a plain scalar");
    }

    #[test]
    fn an_unwritten_field_is_found_at_its_closest_ancestor() {
        let s = Spans::of(TEXT);
        assert_eq!(s.locate("shots[0].duration"), s.locate("shots[0]"));
        assert_eq!(s.locate("shots[0]").map(|a| a.0), Some(11));
        assert_eq!(s.locate("cast.sam.voice"), Some((7, 3)));
        assert_eq!(s.locate("nothing"), None);
    }
}
