//! Prompt and id templates (minijinja, strict undefined). Nothing else knows minijinja.

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Work one template render may do (minijinja fuel: about one unit per instruction). A prompt
/// with a loop over a few hundred items uses a few thousand; nested loops over huge ranges
/// stop here instead of hanging the planner.
pub(crate) const TEMPLATE_FUEL: u64 = 100_000;

/// Kling accepts at most two voices per task (protocol.md §3, `voice_ids`).
pub(crate) const MAX_VOICES: usize = 2;

thread_local! {
    /// Voices used by the template being rendered on this thread (names, in marker order).
    static VOICES: RefCell<Option<VoiceScope>> = const { RefCell::new(None) };
}

struct VoiceScope {
    known: BTreeSet<String>,
    used: Vec<String>,
    /// Cast names defined under `cast:`, and those `cast()` was called on (element order).
    cast_known: BTreeSet<String>,
    cast_used: Vec<String>,
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
pub(crate) struct Templates<'s> {
    env: Environment<'s>,
    globals: BTreeSet<String>,
}

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

    /// Compiles `source` under `name` (never ending in `.html`/`.json`, which would auto-escape).
    pub(crate) fn compile(&mut self, name: String, source: &'s str) -> Result<(), TemplateError> {
        self.env
            .add_template_owned(name, source)
            .map_err(|e| from_minijinja(&e))
    }

    /// Lists every variable template `name` uses that `known` does not define (with the line
    /// of its first use), so all undefined variables are reported in one pass.
    pub(crate) fn check(&self, name: &str, known: &BTreeSet<String>) -> Vec<TemplateError> {
        let Ok(tmpl) = self.env.get_template(name) else {
            return Vec::new();
        };
        let source = tmpl.source();
        let mut missing: Vec<String> = tmpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !known.contains(v) && !self.globals.contains(v))
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

    /// Renders `source` with `ctx`; returns the text and the voices (names) it called `voice()` on.
    pub(crate) fn render(
        &self,
        name: &str,
        ctx: &BTreeMap<String, Value>,
        voices: &BTreeSet<String>,
        preset: &[String],
    ) -> Result<(String, Vec<String>), TemplateError> {
        let none = Rendered::default();
        self.render_with_cast(
            name,
            ctx,
            voices,
            &BTreeSet::new(),
            &Rendered {
                voices: preset.to_vec(),
                ..none
            },
        )
        .map(|r| (r.text, r.voices))
    }

    /// Renders with `voice()` and `cast()`, numbering on from what `before` used (the prompt and
    /// beats of one shot share the numbers).
    pub(crate) fn render_with_cast(
        &self,
        name: &str,
        ctx: &BTreeMap<String, Value>,
        voices: &BTreeSet<String>,
        cast: &BTreeSet<String>,
        before: &Rendered,
    ) -> Result<Rendered, TemplateError> {
        VOICES.with(|v| {
            *v.borrow_mut() = Some(VoiceScope {
                known: voices.clone(),
                used: before.voices.clone(),
                cast_known: cast.clone(),
                cast_used: before.cast.clone(),
            });
        });
        let out = self
            .env
            .get_template(name)
            .and_then(|t| t.render(Value::from(minijinja::value::Serde(ctx))));
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
        let mut t = t;
        t.compile("p".into(), src).unwrap();
        let errs = t.check("p", &known(&["a"]));
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
        let voices = known(&["mara", "tomas"]);
        let mut t = t;
        t.compile(
            "p".into(),
            "{{ voice('tomas') }} hi {{ voice('mara') }} {{ voice('tomas') }}",
        )
        .unwrap();
        let (text, used) = t.render("p", &BTreeMap::new(), &voices, &[]).unwrap();
        assert_eq!(text, "<<<voice_1>>> hi <<<voice_2>>> <<<voice_1>>>");
        assert_eq!(used, ["tomas", "mara"]);
        t.compile("bad".into(), "{{ voice('mra') }}").unwrap();
        let err = t.render("bad", &BTreeMap::new(), &voices, &[]).unwrap_err();
        assert!(err.message.contains("did you mean `mara`"), "{}", err.message);
    }

    #[test]
    fn slug_makes_ids_file_name_safe() {
        assert_eq!(slug("A city crosswalk!".into()), "a-city-crosswalk");
        assert_eq!(slug("  Ümlaut & co ".into()), "mlaut-co");
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let mut t = Templates::new();
        let err = t.compile("p".into(), "ok\n{{ broken").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("syntax"), "{}", err.message);
    }
}
