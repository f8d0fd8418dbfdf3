//! Expansion: a shot's matrix and takes, its templates compiled and checked once, and one
//! planned shot per combination and take.

use minijinja::Value as TValue;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::resolve::Resolved;
use super::template::{self, Templates};
use super::{Invalid, PlannedShot, Planner};
use crate::storyboard::ShotSpec;

/// A shot's compiled templates, by name.
struct ShotTemplates {
    id: Option<String>,
    prompt: Option<String>,
    /// The beats' prompt templates (`beats:`), in order.
    beats: Vec<String>,
}

impl<'a> Planner<'a> {
    /// One storyboard shot expanded into planned shots (matrix × takes), appended to `out`.
    pub(super) fn expand(
        &mut self,
        templates: &mut Templates<'a>,
        vars: &BTreeMap<String, TValue>,
        i: usize,
        spec: &'a ShotSpec,
        out: &mut Vec<PlannedShot>,
    ) {
        let name = spec.id.clone().unwrap_or_else(|| format!("shots[{i}]"));
        let before = self.problems.len();
        let axes = self.matrix_axes(i, &name, spec);
        let tmpl = self.shot_templates(templates, i, &name, spec);
        let models = self.shootout_models(i, &name, spec);
        if models.is_empty() {
            self.expand_model(templates, vars, (i, &name, spec), (&axes, &tmpl), before, out);
        }
        let n = models.len() as u32;
        for (take, m) in (1..).zip(models) {
            self.shootout = Some((m, take, n));
            self.expand_model(templates, vars, (i, &name, spec), (&axes, &tmpl), before, out);
        }
        self.shootout = None;
    }

    /// A shoot-out's models: the shot's `models:`, or `--compare`'s for a shot it names; empty
    /// for an ordinary shot. `models` with `model` or `takes` is a problem.
    fn shootout_models(&mut self, i: usize, name: &str, spec: &ShotSpec) -> Vec<String> {
        let named = |s: &String| glob::Pattern::new(s).is_ok_and(|p| p.matches(name));
        let compared = self.compare.as_ref().filter(|(_, shots)| shots.iter().any(named));
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
                self.shot_problem(i, name, "models", m);
                Vec::new()
            }
            None => models,
        }
    }

    /// The shot (or one shoot-out model's take of it) resolved and expanded over its matrix.
    fn expand_model(
        &mut self,
        templates: &mut Templates<'a>,
        vars: &BTreeMap<String, TValue>,
        (i, name, spec): (usize, &str, &'a ShotSpec),
        (axes, tmpl): (&[(&'a str, &'a Vec<Value>)], &ShotTemplates),
        before: usize,
        out: &mut Vec<PlannedShot>,
    ) {
        let resolved = self.resolve(i, name, spec);
        if self.problems.len() > before {
            return;
        }
        let Some(resolved) = resolved else { return };
        let combos = cartesian(axes);
        for (c, combo) in combos.iter().enumerate() {
            let mut ctx = vars.clone();
            for (k, v) in combo {
                ctx.insert((*k).to_owned(), TValue::from(minijinja::value::Serde(v)));
            }
            let fallback_id = match combos.len() {
                1 => format!("shot-{}", i + 1),
                _ => format!("shot-{}-{}", i + 1, c + 1),
            };
            self.takes(templates, &mut ctx, i, spec, tmpl, &resolved, fallback_id, out);
        }
    }

    /// The matrix's axes: every value a non-empty list, in declaration order.
    fn matrix_axes(&mut self, i: usize, name: &str, spec: &'a ShotSpec) -> Vec<(&'a str, &'a Vec<Value>)> {
        let mut axes: Vec<(&str, &Vec<Value>)> = Vec::new();
        for (k, v) in &spec.matrix {
            match v.as_array() {
                Some(list) if !list.is_empty() => axes.push((k, list)),
                Some(_) => self.shot_problem(
                    i,
                    name,
                    &format!("matrix.{k}"),
                    "the list is empty: give at least one value",
                ),
                None => self.shot_problem(
                    i,
                    name,
                    &format!("matrix.{k}"),
                    format!("must be a list of values, e.g. `{k}: [a, b]` (got {})", kind_of(v)),
                ),
            }
        }
        match spec.takes {
            Some(0) => self.shot_problem(i, name, "takes", "must be at least 1"),
            Some(n) if n > super::MAX_TAKES => self.shot_problem(
                i,
                name,
                "takes",
                format!("{n} takes: at most {} takes of one shot per render", super::MAX_TAKES),
            ),
            _ => {}
        }

        axes
    }

    /// The shot's id and prompt templates, compiled and checked for undefined variables once.
    fn shot_templates(
        &mut self,
        templates: &mut Templates<'a>,
        i: usize,
        name: &str,
        spec: &'a ShotSpec,
    ) -> ShotTemplates {
        let mut known: BTreeSet<String> = self.sb.vars.keys().cloned().collect();
        known.extend(spec.matrix.keys().cloned());
        known.insert("shot".into());
        let id_tmpl = match &spec.id {
            Some(src) => self.compile(templates, "id", src, &known, i, name),
            None => None,
        };
        let mut beats = Vec::new();
        for (n, b) in spec.beats.iter().flatten().enumerate() {
            let field: &'static str = super::BEAT_FIELDS.get(n).copied().unwrap_or("beats");
            if let Some(t) = self.compile(templates, field, &b.prompt, &known, i, name) {
                beats.push(t);
            }
        }
        let prompt_tmpl = match &spec.prompt {
            Some(src) => self.compile(templates, "prompt", src, &known, i, name),
            None => {
                if spec.motion.is_none() && spec.beats.is_none() {
                    self.shot_problem(
                        i,
                        name,
                        "prompt",
                        "missing: every shot needs a prompt (motion-control shots may omit it)",
                    );
                }
                None
            }
        };
        for v in &spec.voices {
            if !self.voice_names.contains(v) {
                self.unknown_voice(i, name, v);
            }
        }

        ShotTemplates {
            id: id_tmpl,
            prompt: prompt_tmpl,
            beats,
        }
    }

    /// One combination's takes: ids and prompts rendered, each take built.
    #[allow(clippy::too_many_arguments)]
    fn takes(
        &mut self,
        templates: &Templates<'a>,
        ctx: &mut BTreeMap<String, TValue>,
        i: usize,
        spec: &'a ShotSpec,
        tmpl: &ShotTemplates,
        resolved: &Resolved,
        fallback_id: String,
        out: &mut Vec<PlannedShot>,
    ) {
        let name = spec.id.clone().unwrap_or_else(|| format!("shots[{i}]"));
        let (first, takes) = match &self.shootout {
            Some((_, take, n)) => (*take, *n),
            None => (1, spec.takes.unwrap_or(1).max(1)),
        };
        let last = if self.shootout.is_some() { first } else { takes };
        for take in first..=last {
            let index = out.len();
            ctx.insert(
                "shot".into(),
                TValue::from(minijinja::value::Serde(json!({ "index": index }))),
            );
            let base = match &tmpl.id {
                Some(t) => match templates.render(t, ctx, &self.voice_names, &[]) {
                    Ok((text, _)) => text.trim().to_owned(),
                    Err(e) => {
                        self.template_problem(i, &name, "id", &e);
                        continue;
                    }
                },
                None => fallback_id.clone(),
            };
            let id = if takes > 1 {
                format!("{base}-take{take}")
            } else {
                base.clone()
            };
            if let Err(m) = check_id(&id) {
                self.shot_problem(i, &id, "id", m);
                continue;
            }
            ctx.insert(
                "shot".into(),
                TValue::from(minijinja::value::Serde(json!({ "index": index, "id": id }))),
            );
            let Some((prompt, voices)) = self.render_prompt(templates, ctx, i, &id, spec, tmpl) else {
                continue;
            };
            if let Some(shot) = self.build(i, (&id, &base), spec, resolved, prompt, voices, take, takes) {
                out.push(shot);
            }
        }
    }

    /// The shot's prompt (or beats) rendered: `voice()` and `cast()` numbered across them.
    fn render_prompt(
        &mut self,
        templates: &Templates<'a>,
        ctx: &BTreeMap<String, TValue>,
        i: usize,
        id: &str,
        spec: &ShotSpec,
        tmpl: &ShotTemplates,
    ) -> Option<(super::build::Prompt, Vec<String>)> {
        let mut state = template::Rendered {
            voices: spec.voices.clone(),
            ..template::Rendered::default()
        };
        let mut text = None;
        if let Some(t) = &tmpl.prompt {
            match templates.render_with_cast(t, ctx, &self.voice_names, &self.cast_names, &state) {
                Ok(r) => {
                    text = Some(r.text.clone());
                    state = r;
                }
                Err(e) => {
                    self.template_problem(i, id, "prompt", &e);
                    return None;
                }
            }
        }
        let mut beats = Vec::new();
        for t in &tmpl.beats {
            match templates.render_with_cast(t, ctx, &self.voice_names, &self.cast_names, &state) {
                Ok(r) => {
                    beats.push(r.text.clone());
                    state = r;
                }
                Err(e) => {
                    self.template_problem(i, id, "beats", &e);
                    return None;
                }
            }
        }
        let prompt = super::build::Prompt {
            text,
            beats,
            cast: state.cast,
        };
        Some((prompt, state.voices))
    }

    /// Compiles a shot's template as `<field><i>`; its name, when it has no problems.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn compile(
        &mut self,
        templates: &mut Templates<'a>,
        field: &'static str,
        src: &'a str,
        known: &BTreeSet<String>,
        i: usize,
        name: &str,
    ) -> Option<String> {
        let tname = format!("{field}{i}");
        match templates.compile(tname.clone(), src) {
            Ok(()) => {
                let missing = templates.check(&tname, known);
                for e in &missing {
                    self.template_problem(i, name, field, e);
                }
                missing.is_empty().then_some(tname)
            }
            Err(e) => {
                self.template_problem(i, name, field, &e);
                None
            }
        }
    }

    pub(super) fn template_problem(&mut self, i: usize, shot: &str, field: &str, e: &template::TemplateError) {
        let at = e.line.map(|l| format!(" (template line {l})")).unwrap_or_default();
        let mut msg = format!("{}{at}", e.message);
        if e.message.starts_with("undefined variable") {
            let mut names: Vec<&str> = self.sb.vars.keys().map(String::as_str).collect();
            names.extend(self.sb.shots[i].matrix.keys().map(String::as_str));
            msg.push_str(&format!(
                "; define it under `vars:` or the shot's `matrix:` (defined: {})",
                crate::problem::listed(&names)
            ));
        }
        self.shot_problem(i, shot, field, msg);
    }

    pub(super) fn unknown_voice(&mut self, i: usize, shot: &str, v: &str) {
        let names: Vec<&str> = self.voice_names.iter().map(String::as_str).collect();
        let hint = crate::problem::did_you_mean(v, names.iter().copied());
        self.shot_problem(
            i,
            shot,
            "voices",
            format!(
                "unknown voice `{v}`{hint}; define it under `voices:` (defined: {})",
                crate::problem::listed(&names)
            ),
        );
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

pub(super) fn cartesian<'v>(axes: &[(&'v str, &'v Vec<Value>)]) -> Vec<Vec<(&'v str, &'v Value)>> {
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
