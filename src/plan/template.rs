//! Prompt and id templates (minijinja, strict undefined). Nothing else knows minijinja.

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

/// Work one template render may do (minijinja fuel: about one unit per instruction). A prompt
/// with a loop over a few hundred items uses a few thousand; nested loops over huge ranges
/// stop here instead of hanging the planner.
pub(crate) const TEMPLATE_FUEL: u64 = 100_000;

/// Kling accepts at most two voices per task (`../shared/reference/protocol.md` §3, `voice_ids`).
pub(crate) const MAX_VOICES: usize = 2;

thread_local! {
    /// Voices used by the template being rendered on this thread (names, in marker order).
    static VOICES: RefCell<Option<VoiceScope>> = const { RefCell::new(None) };
}

struct VoiceScope {
    known: Rc<BTreeSet<String>>,
    used: Vec<String>,
    /// Cast names defined under `cast:`, and those `cast()` was called on (element order).
    cast_known: Rc<BTreeSet<String>>,
    cast_used: Vec<String>,
}

/// The names `voice()` and `cast()` accept: the storyboard's voices and characters.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    /// Under `voices:`.
    pub voices: Rc<BTreeSet<String>>,
    /// Under `cast:`.
    pub cast: Rc<BTreeSet<String>>,
}

/// A rendered template: the text, the voices `voice()` numbered and the characters `cast()`
/// numbered, each in order of first use.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Rendered {
    /// The text.
    pub text: String,
    /// Voice names, in `<<<voice_N>>>` order.
    pub voices: Vec<String>,
    /// Cast names, in `@ElementN` order.
    pub cast: Vec<String>,
}

/// A template problem: the message and the 1-based line within the template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TemplateError {
    /// What is wrong.
    pub message: String,
    /// Line within the template, when known.
    pub line: Option<usize>,
}

/// The template engine with the `voice()` helper, for templates borrowed from a storyboard.
/// Templates are compiled on their own, not kept in the engine: a shot's templates are
/// dropped once the shot is planned, so planning holds one shot's templates at a time.
pub(crate) struct Templates<'s> {
    env: Environment<'s>,
    globals: BTreeSet<String>,
}

/// One compiled template.
#[derive(Debug)]
pub(crate) struct Template<'e>(minijinja::Template<'e, 'e>);

impl Default for Templates<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'s> Templates<'s> {
    /// An engine with strict undefined variables and `voice(name)`.
    pub(crate) fn new() -> Templates<'s> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.add_function("voice", voice);
        env.add_function("cast", cast);
        env.add_filter("slug", slug);
        let globals = env.globals().map(|(name, _)| name.to_owned()).collect();
        Templates { env, globals }
    }

    /// Compiles `source` (never auto-escaped).
    pub(crate) fn compile<'e>(&'e self, source: &'e str) -> Result<Template<'e>, TemplateError> {
        let env: &'e Environment<'e> = &self.env;
        env.template_from_str(source)
            .map(Template)
            .map_err(|e| from_minijinja(&e))
    }

    /// Lists every variable template `t` uses that is not `known` (with the line of its first
    /// use), so all undefined variables are reported in one pass.
    pub(crate) fn check(&self, t: &Template<'_>, known: impl Fn(&str) -> bool) -> Vec<TemplateError> {
        let source = t.0.source();
        let mut missing: Vec<String> =
            t.0.undeclared_variables(false)
                .into_iter()
                .filter(|v| !known(v) && !self.globals.contains(v))
                .collect();
        missing.sort();
        missing
            .into_iter()
            .map(|v| TemplateError {
                line: find_line(source, &v),
                message: format!("undefined variable `{v}`"),
            })
            .collect()
    }
}

impl Template<'_> {
    /// Renders with `ctx`; returns the text and the voices (names) it called `voice()` on.
    pub(crate) fn render(
        &self,
        ctx: &Value,
        voices: &Rc<BTreeSet<String>>,
    ) -> Result<(String, Vec<String>), TemplateError> {
        let names = Names {
            voices: Rc::clone(voices),
            cast: Rc::default(),
        };
        self.render_with_cast(ctx, &names, Rendered::default())
            .map(|r| (r.text, r.voices))
    }

    /// Renders with `voice()` and `cast()`, numbering on from what `before` used (the prompt and
    /// beats of one shot share the numbers).
    pub(crate) fn render_with_cast(
        &self,
        ctx: &Value,
        names: &Names,
        before: Rendered,
    ) -> Result<Rendered, TemplateError> {
        VOICES.with(|v| {
            *v.borrow_mut() = Some(VoiceScope {
                known: Rc::clone(&names.voices),
                used: before.voices,
                cast_known: Rc::clone(&names.cast),
                cast_used: before.cast,
            });
        });
        let out = self.0.render(ctx);
        let scope = VOICES.with(|v| v.borrow_mut().take());
        let (voices, cast) = scope.map(|s| (s.used, s.cast_used)).unwrap_or_default();
        match out {
            Ok(text) => Ok(Rendered { text, voices, cast }),
            Err(e) => Err(from_minijinja(&e)),
        }
    }
}

/// `{{ cast("mara") }}`: `@ElementN`, N the character's place among the shot's elements.
fn cast(name: String) -> Result<String, minijinja::Error> {
    let n = numbered(name, Marker::Cast)?;
    Ok(format!("@Element{n}"))
}

/// `{{ voice("mara") }}`: `<<<voice_N>>>`, N the voice's place among the shot's voices.
fn voice(name: String) -> Result<String, minijinja::Error> {
    let n = numbered(name, Marker::Voice)?;
    Ok(format!("<<<voice_{n}>>>"))
}

/// What a template helper numbers.
#[derive(Clone, Copy)]
enum Marker {
    Voice,
    Cast,
}

/// The 1-based place of `name` among the shot's voices or characters, in order of first use;
/// an unknown name is an error naming the ones defined.
fn numbered(name: String, marker: Marker) -> Result<usize, minijinja::Error> {
    VOICES.with(|v| {
        let mut guard = v.borrow_mut();
        let scope = guard
            .as_mut()
            .ok_or_else(|| minijinja::Error::new(ErrorKind::InvalidOperation, "outside a prompt"))?;
        let (known, used, kind, under) = match marker {
            Marker::Voice => (&scope.known, &mut scope.used, "voice", "voices defined under `voices:`"),
            Marker::Cast => (
                &scope.cast_known,
                &mut scope.cast_used,
                "cast member",
                "characters defined under `cast:`",
            ),
        };
        if !known.contains(&name) {
            let listed: Vec<&str> = known.iter().map(String::as_str).collect();
            let hint = crate::problem::did_you_mean(&name, listed.iter().copied());
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "unknown {kind} `{name}`{hint} ({under}: {})",
                    crate::problem::listed(&listed)
                ),
            ));
        }
        Ok(match used.iter().position(|u| *u == name) {
            Some(i) => i + 1,
            None => {
                used.push(name);
                used.len()
            }
        })
    })
}

/// `{{ place | slug }}`: lower-case letters and digits joined by `-`, safe in an id.
pub(crate) fn slug(text: String) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn from_minijinja(e: &minijinja::Error) -> TemplateError {
    let message = match (e.kind(), e.detail()) {
        (ErrorKind::SyntaxError, Some(d)) => format!("template syntax error: {d}"),
        (ErrorKind::UndefinedError, _) => "undefined value in template".to_owned(),
        (ErrorKind::OutOfFuel, _) => format!(
            "the template does too much work (more than {TEMPLATE_FUEL} steps, e.g. loops over huge ranges): a prompt is a short text"
        ),
        (_, Some(d)) => d.to_owned(),
        (k, None) => k.to_string(),
    };
    TemplateError {
        message,
        line: e.line(),
    }
}

/// The first line of `source` that mentions `word` as a whole identifier.
fn find_line(source: &str, word: &str) -> Option<usize> {
    source
        .lines()
        .position(|line| {
            line.match_indices(word).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + word.len()..].chars().next();
                let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !ident(before) && !ident(after)
            })
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn check_reports_every_undefined_variable_with_its_line() {
        let t = Templates::new();
        let src = "hello {{ a }}\n{{ b }} and {{ c.x }} {{ voice('m') }}";
        let p = t.compile(src).unwrap();
        let defined = known(&["a"]);
        let errs = t.check(&p, |v| defined.contains(v));
        assert_eq!(
            errs,
            vec![
                TemplateError {
                    message: "undefined variable `b`".into(),
                    line: Some(2)
                },
                TemplateError {
                    message: "undefined variable `c`".into(),
                    line: Some(2)
                },
            ]
        );
    }

    #[test]
    fn voice_markers_number_voices_in_order_of_use() {
        let t = Templates::new();
        let voices = Rc::new(known(&["mara", "tomas"]));
        let p = t
            .compile("{{ voice('tomas') }} hi {{ voice('mara') }} {{ voice('tomas') }}")
            .unwrap();
        let empty = minijinja::context! {};
        let (text, used) = p.render(&empty, &voices).unwrap();
        assert_eq!(text, "<<<voice_1>>> hi <<<voice_2>>> <<<voice_1>>>");
        assert_eq!(used, ["tomas", "mara"]);
        let bad = t.compile("{{ voice('mra') }}").unwrap();
        let err = bad.render(&empty, &voices).unwrap_err();
        assert!(err.message.contains("did you mean `mara`"), "{}", err.message);
    }

    #[test]
    fn slug_makes_ids_file_name_safe() {
        assert_eq!(slug("A city crosswalk!".into()), "a-city-crosswalk");
        assert_eq!(slug("  Ümlaut & co ".into()), "mlaut-co");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let t = Templates::new();
        let err = t.compile("ok\n{{ broken").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("syntax"), "{}", err.message);
    }
}
