//! Expansion: a shot's matrix and takes, its templates compiled and checked once, and one
//! planned shot per combination and take.

use minijinja::Value as TValue;
use minijinja::value::merge_maps;
use serde_json::Value;
use std::collections::BTreeMap;

use super::build::Prompt;
use super::frames::Edge;
use super::resolve::Resolved;
use super::template::{self, Names, Template, Templates};
use super::{Invalid, PlannedShot, Planner, Shootout, ShotCtx};
use crate::storyboard::ShotSpec;

/// What expanding the storyboard carries from shot to shot: the template engine, the names
/// `voice()`/`cast()` take, the storyboard's `vars` as a template context, and the shots
/// planned so far.
pub(super) struct Expansion<'e, 's> {
    pub(super) templates: &'e Templates<'s>,
    pub(super) names: Names,
    pub(super) vars: TValue,
    pub(super) out: Vec<PlannedShot>,
}

/// A shot's compiled templates.
struct ShotTemplates<'e> {
    id: Option<Template<'e>>,
    prompt: Option<Template<'e>>,
    /// The beats' prompt templates (`beats:`), in order.
    beats: Vec<Template<'e>>,
    /// The frame's prompt template (`frame.prompt`, or `defaults.frame.prompt`).
    frame: Option<Template<'e>>,
    /// The end frame's prompt template (`end_frame.prompt`, or `defaults.end_frame.prompt`).
    end_frame: Option<Template<'e>>,
}

/// One model of a shot resolved, with its templates: what each of its takes is built from.
#[derive(Clone, Copy)]
struct Variant<'v, 'e> {
    at: ShotCtx<'v>,
    tmpl: &'v ShotTemplates<'e>,
    resolved: &'v Resolved,
}

/// One combination of a shot's matrix: its template context, and the id a shot without
/// `id:` gets.
struct Combo {
    ctx: TValue,
    fallback_id: String,
}

/// A take of a shot: its number, and how many the shot has.
#[derive(Clone, Copy)]
pub(super) struct Take {
    pub(super) n: u32,
    pub(super) of: u32,
}

/// The axes of a shot's matrix: each variable and its values, in declaration order.
type Axes<'v> = [(&'v str, &'v Vec<Value>)];

impl<'a> Planner<'a> {
    /// One storyboard shot expanded into planned shots (matrix × takes), appended to `ex.out`.
    pub(super) fn expand<'e>(&mut self, ex: &mut Expansion<'e, 'a>, i: usize, spec: &'a ShotSpec) {
        let name = spec.id.clone().unwrap_or_else(|| format!("shots[{i}]"));
        let at = ShotCtx {
            i,
            name: &name,
            spec,
            shootout: None,
        };
        let before = self.problems.len();
        let axes = self.matrix_axes(at);
        let tmpl = self.shot_templates(ex.templates, at, spec);
        let models = self.shootout_models(at);
        if models.is_empty() {
            self.expand_model(ex, at, (&axes, &tmpl), before);
        }
        let of = models.len() as u32;
        for (take, model) in (1..).zip(models) {
            let shootout = Shootout { model, take, of };
            let at = ShotCtx {
                shootout: Some(&shootout),
                ..at
            };
            self.expand_model(ex, at, (&axes, &tmpl), before);
        }
        self.drop_echoes(before);
    }

    /// The shot's problems from `from` on, each once: the same problem met by several of its
    /// matrix combinations (or shoot-out models) is reported at the first.
    fn drop_echoes(&mut self, from: usize) {
        let mut seen = std::collections::HashSet::new();
        let mut k = 0;
        self.problems.retain(|p| {
            k += 1;
            k <= from || seen.insert((p.field.clone(), p.message.clone()))
        });
    }

    /// A shoot-out's models: the shot's `models:`, or `--compare`'s for a shot it names; empty
    /// for an ordinary shot. `models` with `model` or `takes` is a problem.
    fn shootout_models(&mut self, at: ShotCtx<'_>) -> Vec<String> {
        let (name, spec) = (at.name, at.spec);
        let named = |s: &String| glob::Pattern::new(s).is_ok_and(|p| p.matches(name));
        let compare = &self.overrides.compare;
        let compared = compare.as_ref().filter(|(_, shots)| shots.iter().any(named));
        let models = match (compared, &spec.models) {
            (Some((m, _)), _) => m.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => return Vec::new(),
        };
        let problem = if models.len() < 2 {
            Some("a shoot-out names at least two models (one is `model:`)")
        } else if (1..models.len()).any(|k| models[k..].contains(&models[k - 1])) {
            Some("a model is named twice: each model renders one take")
        } else if spec.takes.is_some() {
            Some("`models:` makes one take per model: remove `takes`")
        } else if spec.model.is_some() && compared.is_none() {
            Some("`models:` names every model of the shoot-out: remove `model`")
        } else {
            None
        };
        match problem {
            Some(m) => {
                self.problem(at, "models", m);
                Vec::new()
            }
            None => models,
        }
    }

    /// The shot (or one shoot-out model's take of it) resolved and expanded over its matrix.
    fn expand_model(
        &mut self,
        ex: &mut Expansion<'_, 'a>,
        at: ShotCtx<'_>,
        (axes, tmpl): (&Axes<'_>, &ShotTemplates<'_>),
        before: usize,
    ) {
        let resolved = self.resolve(at);
        if self.problems.len() > before {
            return;
        }
        let Some(resolved) = resolved else { return };
        let variant = Variant {
            at,
            tmpl,
            resolved: &resolved,
        };
        let combos = cartesian(axes);
        for (c, combo) in combos.iter().enumerate() {
            let ctx = match combo.is_empty() {
                true => ex.vars.clone(),
                false => {
                    let values = combo
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), TValue::from(minijinja::value::Serde(v))));
                    merge_maps([ex.vars.clone(), TValue::from(values.collect::<BTreeMap<_, _>>())])
                }
            };
            let fallback_id = match combos.len() {
                1 => format!("shot-{}", at.i + 1),
                _ => format!("shot-{}-{}", at.i + 1, c + 1),
            };
            self.takes(ex, variant, &Combo { ctx, fallback_id });
        }
    }

    /// The matrix's axes: every value a non-empty list, in declaration order.
    fn matrix_axes<'s>(&mut self, at: ShotCtx<'s>) -> Vec<(&'s str, &'s Vec<Value>)> {
        let mut axes: Vec<(&str, &Vec<Value>)> = Vec::new();
        for (k, v) in &at.spec.matrix {
            match v.as_array() {
                Some(list) if !list.is_empty() => axes.push((k, list)),
                Some(_) => self.problem(at, &format!("matrix.{k}"), "the list is empty: give at least one value"),
                None => self.problem(
                    at,
                    &format!("matrix.{k}"),
                    format!("must be a list of values, e.g. `{k}: [a, b]` (got {})", kind_of(v)),
                ),
            }
        }
        match at.spec.takes {
            Some(0) => self.problem(at, "takes", "must be at least 1"),
            Some(n) if n > super::MAX_TAKES => self.problem(
                at,
                "takes",
                format!("{n} takes: at most {} takes of one shot per render", super::MAX_TAKES),
            ),
            _ => {}
        }
        axes
    }

    /// The shot's id and prompt templates, compiled and checked for undefined variables once.
    fn shot_templates<'e>(
        &mut self,
        templates: &'e Templates<'a>,
        at: ShotCtx<'_>,
        spec: &'a ShotSpec,
    ) -> ShotTemplates<'e> {
        let id = spec.id.as_ref().and_then(|src| self.compile(templates, at, "id", src));
        let mut beats = Vec::new();
        for (n, b) in spec.beats.iter().flatten().enumerate() {
            let field: &'static str = super::BEAT_FIELDS.get(n).copied().unwrap_or("beats");
            beats.extend(self.compile(templates, at, field, &b.prompt));
        }
        let prompt = spec
            .prompt
            .as_ref()
            .and_then(|src| self.compile(templates, at, "prompt", src));
        if spec.prompt.is_none() && spec.motion.is_none() && spec.beats.is_none() {
            self.problem(
                at,
                "prompt",
                "missing: every shot needs a prompt (motion-control shots may omit it)",
            );
        }
        for v in &spec.voices {
            if !self.voice_names.contains(v) {
                self.unknown_voice(at, v);
            }
        }
        let frame_src = spec.frame.as_ref().and_then(|f| f.prompt.as_ref()).or_else(|| {
            let own = spec.frame.is_none() && (spec.start_image.is_some() || spec.motion.is_some());
            let d = self.sb.defaults.frame.as_ref();
            d.and_then(|f| f.prompt.as_ref())
                .filter(|_| !own && spec.references.is_empty())
        });
        let frame = frame_src.and_then(|src| self.compile(templates, at, "frame.prompt", src));
        let end_src = spec.end_frame.as_ref().and_then(|f| {
            let d = self.sb.defaults.end_frame.as_ref();
            f.prompt.as_ref().or_else(|| d.and_then(|d| d.prompt.as_ref()))
        });
        let end_frame = end_src.and_then(|src| self.compile(templates, at, "end_frame.prompt", src));
        ShotTemplates {
            id,
            prompt,
            beats,
            frame,
            end_frame,
        }
    }

    /// One combination's takes: ids and prompts rendered, each take built. The takes differ
    /// only in their number: a problem in one is reported once, not once per take.
    fn takes(&mut self, ex: &mut Expansion<'_, 'a>, v: Variant<'_, '_>, combo: &Combo) {
        let (first, last, of) = match v.at.shootout {
            Some(s) => (s.take, s.take, s.of),
            None => {
                let n = v.at.spec.takes.unwrap_or(1).max(1);
                (1, n, n)
            }
        };
        let before = self.problems.len();
        for n in first..=last {
            self.take(ex, v, combo, Take { n, of });
            if self.problems.len() > before {
                if v.at.shootout.is_none() {
                    self.name_by_shot(before, n);
                }
                return;
            }
        }
    }

    /// Problems from `from` on, met by take `n` of a shot whose takes differ only in their
    /// number, are the shot's: `sip`, not `sip-take1` (a problem with the take's id excepted).
    fn name_by_shot(&mut self, from: usize, n: u32) {
        let suffix = format!("-take{n}");
        for p in &mut self.problems[from..] {
            if p.field.as_deref() == Some("id") {
                continue;
            }
            if let Some(base) = p.shot.as_deref().and_then(|s| s.strip_suffix(&suffix)) {
                p.shot = Some(base.to_owned());
            }
        }
    }

    /// One take: its id and prompt rendered, its request built into `ex.out`.
    fn take(&mut self, ex: &mut Expansion<'_, 'a>, v: Variant<'_, '_>, combo: &Combo, take: Take) {
        let index = ex.out.len();
        let base = match &v.tmpl.id {
            Some(t) => {
                let ctx = merge_maps([
                    combo.ctx.clone(),
                    minijinja::context! { shot => minijinja::context! { index } },
                ]);
                match t.render(&ctx, &ex.names.voices) {
                    Ok((text, _)) => text.trim().to_owned(),
                    Err(e) => return self.template_problem(v.at, "id", &e),
                }
            }
            None => combo.fallback_id.clone(),
        };
        let id = match take.of > 1 {
            true => format!("{base}-take{}", take.n),
            false => base.clone(),
        };
        if let Err(m) = check_id(&id) {
            return self.problem(v.at.named(&id), "id", m);
        }
        let at = v.at.named(&id);
        let shot = minijinja::context! { index, id => id.as_str() };
        let ctx = merge_maps([combo.ctx.clone(), minijinja::context! { shot }]);
        // A prompt's problem is the shot's, whichever take met it: named by the shot's id.
        let said = Variant {
            at: v.at.named(&base),
            ..v
        };
        let Some(prompt) = self.render_prompt(ex, said, &ctx) else {
            return;
        };
        let mut prompts = Vec::new();
        for f in &v.resolved.frames {
            match self.frame_prompt(ex, said, &ctx, &prompt, f.edge) {
                Some(p) => prompts.push(p),
                None => return,
            }
        }
        let Some(mut shot) = self.build(at, &base, v.resolved, prompt, take) else {
            return;
        };
        for (f, (text, cast)) in v.resolved.frames.iter().zip(prompts) {
            let Some(frame) = self.frame(at, f, &text, &cast) else {
                return;
            };
            let n = f.spec.takes.unwrap_or(1);
            shot.more_frames.extend((2..=n).map(|k| frame.taken(k)));
            shot.with_frame(frame);
        }
        ex.out.push(shot);
    }

    /// The frame's prompt rendered (its own template, else — a first frame — the shot's prompt)
    /// and the characters it names, in order.
    fn frame_prompt(
        &mut self,
        ex: &Expansion<'_, 'a>,
        v: Variant<'_, '_>,
        ctx: &TValue,
        prompt: &Prompt,
        edge: Edge,
    ) -> Option<(String, Vec<String>)> {
        let own = match edge {
            Edge::Start => &v.tmpl.frame,
            // Without a template, `shot_end_frame` reported the missing prompt.
            Edge::End => match &v.tmpl.end_frame {
                None => return None,
                t => t,
            },
        };
        match (own, &prompt.text) {
            (Some(t), _) => match t.render_with_cast(ctx, &ex.names, template::Rendered::default()) {
                Ok(r) => Some((r.text, r.cast)),
                Err(e) => {
                    self.template_problem(v.at, &format!("{}.prompt", edge.field()), &e);
                    None
                }
            },
            (None, Some(text)) => Some((text.clone(), prompt.cast.clone())),
            (None, None) => {
                self.problem(
                    v.at,
                    "frame.prompt",
                    "the shot has no single prompt: write the frame's `prompt:`",
                );
                None
            }
        }
    }

    /// The shot's prompt (or beats) rendered: `voice()` and `cast()` numbered across them.
    fn render_prompt(&mut self, ex: &Expansion<'_, 'a>, v: Variant<'_, '_>, ctx: &TValue) -> Option<Prompt> {
        let mut state = template::Rendered {
            voices: v.at.spec.voices.clone(),
            ..template::Rendered::default()
        };
        let mut text = None;
        let mut beats = Vec::new();
        let parts = v
            .tmpl
            .prompt
            .iter()
            .map(|t| (t, "prompt"))
            .chain(v.tmpl.beats.iter().map(|t| (t, "beats")));
        for (t, field) in parts {
            match t.render_with_cast(ctx, &ex.names, state) {
                Ok(r) => {
                    state = template::Rendered {
                        text: String::new(),
                        ..r
                    };
                    match field {
                        "prompt" => text = Some(r.text),
                        _ => beats.push(r.text),
                    }
                }
                Err(e) => {
                    self.template_problem(v.at, field, &e);
                    return None;
                }
            }
        }
        Some(Prompt {
            text,
            beats,
            cast: state.cast,
            voices: state.voices,
        })
    }

    /// Compiles one of the shot's templates (written at `field`) and checks that it uses only
    /// variables `vars:`, the matrix or `shot` define; the template, when it has no problems.
    fn compile<'e>(
        &mut self,
        templates: &'e Templates<'a>,
        at: ShotCtx<'_>,
        field: &'static str,
        src: &'a str,
    ) -> Option<Template<'e>> {
        let sb = self.sb;
        let known = |v: &str| v == "shot" || sb.vars.contains_key(v) || at.spec.matrix.contains_key(v);
        match templates.compile(src) {
            Ok(t) => {
                let missing = templates.check(&t, known);
                for e in &missing {
                    self.template_problem(at, field, e);
                }
                missing.is_empty().then_some(t)
            }
            Err(e) => {
                self.template_problem(at, field, &e);
                None
            }
        }
    }

    /// A template's problem: at its own line when the template is a literal block
    /// (`prompt: |`), else at its field, naming the template's line.
    pub(super) fn template_problem(&mut self, at: ShotCtx<'_>, field: &str, e: &template::TemplateError) {
        let path = format!("shots[{}].{field}", at.i);
        let exact = e.line.and_then(|l| self.src.locate_text_line(&path, l));
        let line = match (exact, e.line) {
            (None, Some(l)) => format!(" (template line {l})"),
            _ => String::new(),
        };
        let mut msg = format!("{}{line}", e.message);
        if e.message.starts_with("undefined variable") {
            let mut names: Vec<&str> = self.sb.vars.keys().map(String::as_str).collect();
            names.extend(self.sb.shots[at.i].matrix.keys().map(String::as_str));
            msg.push_str(&format!(
                "; define it under `vars:` or the shot's `matrix:` (defined: {})",
                crate::problem::listed(&names)
            ));
        }
        match exact {
            Some(place) => {
                let p = crate::problem::Problem::in_shot(&self.src.name, Some(place), at.i, at.name, field, msg);
                if !self.problems.contains(&p) {
                    self.problems.push(p);
                }
            }
            None => self.problem(at, field, msg),
        }
    }

    pub(super) fn unknown_voice(&mut self, at: ShotCtx<'_>, v: &str) {
        let names: Vec<&str> = self.voice_names.iter().map(String::as_str).collect();
        let hint = crate::problem::did_you_mean(v, names.iter().copied());
        let msg = format!(
            "unknown voice `{v}`{hint}; define it under `voices:` (defined: {})",
            crate::problem::listed(&names)
        );
        self.problem(at, "voices", msg);
    }
}

pub(super) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

pub(super) fn cartesian<'v>(axes: &Axes<'v>) -> Vec<Vec<(&'v str, &'v Value)>> {
    let mut out: Vec<Vec<(&str, &Value)>> = vec![Vec::new()];
    for (k, values) in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((*k, v));
                    p
                })
            })
            .collect();
    }
    out
}

/// Shot ids become file names: `[A-Za-z0-9][A-Za-z0-9._-]{0,99}` (the rule is a leaf's, so
/// ids read back from the output folder are checked by the same one).
pub(crate) fn check_id(id: &str) -> Result<(), Invalid> {
    crate::files::check_id(id).map_err(Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cartesian_product_keeps_declaration_order() {
        let a = vec![json!(1), json!(2)];
        let b = vec![json!("x"), json!("y")];
        let out = cartesian(&[("a", &a), ("b", &b)]);
        let flat: Vec<String> = out.iter().map(|c| format!("{}{}", c[0].1, c[1].1)).collect();
        assert_eq!(flat, ["1\"x\"", "1\"y\"", "2\"x\"", "2\"y\""]);
    }

    #[test]
    fn ids_must_be_safe_file_names() {
        assert!(check_id("portrait-smiling-take1").is_ok());
        assert!(check_id("../x").unwrap_err().0.contains("leave the output folder"));
        assert!(check_id("a/b").is_err());
        assert!(check_id("-a").is_err());
        assert!(check_id(&"a".repeat(101)).is_err());
    }
}
