//! Chained frames (`start_image: { after: … }`): every reference names one existing shot, not
//! itself, inside its clip, and the shots do not wait on each other in a cycle.

use std::collections::HashMap;

use super::{Chain, PlannedShot, Planner};

impl Planner<'_> {
    /// Chained frames: every reference names one existing shot, not itself, with no cycles.
    pub(super) fn check_chains(&mut self, shots: &mut [PlannedShot]) {
        let index: HashMap<String, usize> = shots.iter().enumerate().map(|(i, s)| (s.id.clone(), i)).collect();
        for shot in shots.iter_mut() {
            for c in &mut shot.chain {
                c.upstream_index = index.get(&c.upstream).copied().unwrap_or(usize::MAX);
            }
        }
        if self.check_refs(shots, &index) {
            self.check_cycles(shots, &index);
        }
    }

    /// Each reference names another existing shot, and a frame inside its clip; `false` when
    /// one does not.
    fn check_refs(&mut self, shots: &[PlannedShot], index: &HashMap<String, usize>) -> bool {
        let mut ok = true;
        for shot in shots {
            for c in &shot.chain {
                ok &= self.check_ref(shots, index, shot, c);
            }
        }
        ok
    }

    /// One reference: another existing shot, and a frame inside its clip.
    fn check_ref(
        &mut self,
        shots: &[PlannedShot],
        index: &HashMap<String, usize>,
        shot: &PlannedShot,
        c: &Chain,
    ) -> bool {
        let (me, spec, field, upstream) = (&shot.id, shot.spec_index, c.shot_field.as_str(), &c.upstream);
        match index.get(upstream.as_str()) {
            Some(&u) if shots[u].id == *me => {
                self.shot_problem(
                    spec,
                    me,
                    field,
                    format!("`{upstream}` is this shot itself: a shot cannot start from its own clip"),
                );
                false
            }
            Some(&u) => match c.at {
                Some(t) if t < 0.0 || t > shots[u].seconds => {
                    let msg = format!("at {t} s is outside `{upstream}` (0–{} s)", shots[u].seconds);
                    self.shot_problem(spec, me, field, msg);
                    false
                }
                _ => true,
            },
            None if self.failed(shots, upstream) => false,
            None => {
                let msg = self.no_such_shot(shots, upstream);
                self.shot_problem(spec, me, field, msg);
                false
            }
        }
    }

    /// Whether `upstream` names a shot of the storyboard that failed to plan (its problem is
    /// reported at its own definition; saying "no shot" here would only echo it).
    fn failed(&self, shots: &[PlannedShot], upstream: &str) -> bool {
        let named = |id: &str| upstream == id || upstream.starts_with(&format!("{id}-"));
        self.sb.shots.iter().enumerate().any(|(i, spec)| {
            spec.id.as_deref().is_some_and(named)
                && (self.problems.iter().any(|p| p.spec == Some(i)) || !shots.iter().any(|s| s.spec_index == i))
        })
    }

    /// Why `upstream` names no shot: it expands to several, or it is misspelt.
    fn no_such_shot(&self, shots: &[PlannedShot], upstream: &str) -> String {
        let family: Vec<&str> = shots
            .iter()
            .filter(|s| {
                self.sb.shots[s.spec_index].id.as_deref() == Some(upstream) || s.id.starts_with(&format!("{upstream}-"))
            })
            .map(|s| s.id.as_str())
            .collect();
        if family.len() > 1 {
            format!(
                "`{upstream}` expands to several shots ({}): name one of them, e.g. `after: {}`",
                family.join(", "),
                family[0]
            )
        } else {
            let ids: Vec<&str> = shots.iter().map(|s| s.id.as_str()).collect();
            let hint = crate::problem::did_you_mean(upstream, ids.iter().copied());
            format!("no shot `{upstream}`{hint}")
        }
    }

    /// The shots must not wait on each other in a cycle (reported once, at its first shot).
    fn check_cycles(&mut self, shots: &[PlannedShot], index: &HashMap<String, usize>) {
        // Cycles: depth-first search over the references.
        let deps: Vec<Vec<usize>> = shots
            .iter()
            .map(|s| {
                s.chain
                    .iter()
                    .filter_map(|c| index.get(c.upstream.as_str()).copied())
                    .collect()
            })
            .collect();
        let mut state = vec![0u8; shots.len()];
        let mut stack = Vec::new();
        fn visit(n: usize, deps: &[Vec<usize>], state: &mut [u8], stack: &mut Vec<usize>) -> Option<Vec<usize>> {
            state[n] = 1;
            stack.push(n);
            for &d in &deps[n] {
                if state[d] == 1 {
                    let from = stack.iter().position(|&x| x == d).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(d);
                    return Some(cycle);
                }
                if state[d] == 0
                    && let Some(c) = visit(d, deps, state, stack)
                {
                    return Some(c);
                }
            }
            stack.pop();
            state[n] = 2;
            None
        }
        for n in 0..shots.len() {
            if state[n] == 0
                && let Some(cycle) = visit(n, &deps, &mut state, &mut stack)
            {
                let names: Vec<&str> = cycle.iter().map(|&i| shots[i].id.as_str()).collect();
                let first = &shots[cycle[0]];
                let field = first
                    .chain
                    .first()
                    .map_or("start_image", |c| c.shot_field.as_str())
                    .to_owned();
                self.shot_problem(
                    first.spec_index,
                    &first.id,
                    &field,
                    format!("the shots wait on each other in a cycle: {}", names.join(" → ")),
                );
                return;
            }
        }
    }
}
