//! Plans generated storyboards of 1,000 and 10,000 shots in-process and prints the median
//! time of each, the growth ratio (linear = 10×), and the ratio to a baseline measured in
//! the same run: parsing the same YAML into an untyped value (the floor any planner pays).
//!
//! Run: `cargo bench --bench plan`

use std::time::{Duration, Instant};

fn storyboard(shots: usize) -> String {
    let mut s = String::from(
        "version: 1\nbudget_usd: 100000\nvars:\n  place: a harbour at dawn\nvoices:\n  mara: vc_1\n  tomas: vc_2\ndefaults:\n  duration: 5\n  aspect_ratio: \"16:9\"\nshots:\n",
    );
    for i in 0..shots {
        match i % 4 {
            0 => s.push_str(&format!("  - id: s{i}\n    prompt: \"Wide shot {i} of {{{{ place }}}}, gulls\"\n")),
            1 => s.push_str(&format!(
                "  - id: s{i}\n    prompt: '{{{{ voice(\"mara\") }}}} says hello {i} to {{{{ voice(\"tomas\") }}}}'\n    start_image: https://example.com/{i}.png\n    duration: 10\n"
            )),
            2 => s.push_str(&format!("  - id: s{i}\n    prompt: \"Close-up {i}, {{{{ place }}}}\"\n    generate_audio: false\n")),
            _ => s.push_str(&format!(
                "  - id: s{i}\n    prompt: \"Tracking shot {i}\"\n    start_image: https://example.com/a{i}.png\n    end_image: https://example.com/b{i}.png\n"
            )),
        }
    }
    s
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let mut results = Vec::new();
    for n in [1_000, 10_000] {
        let text = storyboard(n);
        let runs = if n > 5_000 { 5 } else { 11 };
        let plan_t = median(
            || {
                let shots = storyboard::bench::plan_shots("bench.yaml", text.clone()).expect("bench storyboard plans");
                assert_eq!(shots, n);
            },
            runs,
        );
        let parse_t = median(
            || {
                let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
                assert!(v.is_mapping());
            },
            runs,
        );
        println!(
            "plan {n:>6} shots: {:>8.1} ms  (YAML parse alone {:>7.1} ms; plan/parse = {:.2}×)",
            plan_t.as_secs_f64() * 1e3,
            parse_t.as_secs_f64() * 1e3,
            plan_t.as_secs_f64() / parse_t.as_secs_f64()
        );
        results.push(plan_t);
    }
    println!(
        "growth 1,000 → 10,000 shots: {:.2}× (linear = 10×)",
        results[1].as_secs_f64() / results[0].as_secs_f64()
    );
}
