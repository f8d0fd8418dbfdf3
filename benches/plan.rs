//! `storyboard plan FILE --json` as a whole process (the release binary) on generated
//! storyboards of 1,000 and 10,000 shots (one templated prompt per shot): median wall time and
//! peak RSS (`wait4` of the child), against a baseline measured in the same run — a process
//! that only parses the same YAML into an untyped value (this bench binary run again with
//! `PLAN_BENCH_PARSE_ONLY=FILE`: the floor any planner pays). Prints the ratios and the growth
//! from 1,000 to 10,000 shots (linear = 10×).
//!
//! Run: `cargo bench --bench plan`. Under `cargo test` (no `--bench` argument) it runs a small
//! smoke version (100 and 1,000 shots, 3 runs each).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set to a file: this process only parses it (the baseline) and exits.
const PARSE_ONLY: &str = "PLAN_BENCH_PARSE_ONLY";

/// A storyboard of `shots` shots, each with its own templated prompt; a quarter each plain,
/// with voices and a start image, with audio off, with start and end images.
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

/// Runs `cmd` to completion with its output discarded; (wall time, peak RSS in KiB) from
/// `wait4`.
fn measure(cmd: &mut Command) -> (Duration, u64) {
    let t = Instant::now();
    #[expect(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also reads its rusage"
    )]
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("bench child starts");
    let mut status = 0;
    // SAFETY: wait4 writes into the zeroed rusage it is given; the child is ours and unwaited.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = t.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "bench child failed: {cmd:?}"
    );
    (wall, usage.ru_maxrss as u64)
}

/// Median wall time and median peak RSS of `runs` runs.
fn median(runs: usize, mut make: impl FnMut() -> Command) -> (Duration, u64) {
    let (mut times, mut rss): (Vec<Duration>, Vec<u64>) = (0..runs).map(|_| measure(&mut make())).unzip();
    times.sort();
    rss.sort();
    (times[runs / 2], rss[runs / 2])
}

fn plan_cmd(file: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_storyboard"));
    c.arg("plan").arg(file).arg("--json");
    c
}

fn parse_cmd(file: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("bench binary path"));
    c.env(PARSE_ONLY, file);
    c
}

/// The baseline process: parse the YAML, check it holds the shots, exit.
fn parse_only(file: &str) {
    let text = std::fs::read_to_string(file).expect("bench storyboard");
    let v: serde_yaml::Value = serde_yaml::from_str(&text).expect("bench storyboard parses");
    assert!(v["shots"].as_sequence().is_some_and(|s| !s.is_empty()));
}

/// The plan of the storyboard really has `n` shots (checked once, outside the timing). The
/// output goes to a file and is read line by line: a child's peak RSS as `wait4` reports it
/// is never below this process's own peak, so this process stays small.
fn check_plan(file: &Path, n: usize) {
    let json = file.with_extension("json");
    let out = std::fs::File::create(&json).expect("plan output file");
    let status = plan_cmd(file).stdout(out).status().expect("storyboard plan");
    assert!(status.success(), "storyboard plan {} failed", file.display());
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(&json).expect("plan output"),
    ));
    // One `request_key` per shot, at the shots' indentation in the pretty-printed document.
    let keys = lines
        .map(|l| l.expect("plan output is text"))
        .filter(|l| l.starts_with("      \"request_key\": "))
        .count();
    assert_eq!(keys, n, "plan --json of {} lists {keys} shots", file.display());
}

/// This process's own peak RSS in KiB (the floor of every child's figure).
fn own_peak() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|k| k.parse().ok()).unwrap_or(0)
}

fn main() {
    if let Some(file) = std::env::var_os(PARSE_ONLY) {
        return parse_only(&file.to_string_lossy());
    }
    let full = std::env::args().any(|a| a == "--bench");
    let (sizes, runs) = if full { ([1_000, 10_000], 7) } else { ([100, 1_000], 3) };
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut plans = Vec::new();
    for n in sizes {
        let file = dir.path().join(format!("bench{n}.yaml"));
        std::fs::write(&file, storyboard(n)).expect("write bench storyboard");
        check_plan(&file, n);
        let (plan_t, plan_rss) = median(runs, || plan_cmd(&file));
        let (parse_t, parse_rss) = median(runs, || parse_cmd(&file));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mb = |kib: u64| kib as f64 / 1024.0;
        println!(
            "plan --json {n:>6} shots: {:>7.1} ms, {:>6.1} MB peak  |  YAML parse alone {:>6.1} ms, {:>5.1} MB  |  ratio {:.2}× time, {:.2}× RSS",
            ms(plan_t),
            mb(plan_rss),
            ms(parse_t),
            mb(parse_rss),
            plan_t.as_secs_f64() / parse_t.as_secs_f64(),
            plan_rss as f64 / parse_rss as f64,
        );
        plans.push((plan_t, plan_rss));
    }
    println!(
        "(a child's peak RSS as wait4 reports it is at least this bench process's own: {:.1} MB)",
        own_peak() as f64 / 1024.0
    );
    let [(t0, r0), (t1, r1)] = [plans[0], plans[1]];
    println!(
        "growth {} → {} shots: {:.2}× time, {:.2}× peak RSS (linear = {}×)",
        sizes[0],
        sizes[1],
        t1.as_secs_f64() / t0.as_secs_f64(),
        r1 as f64 / r0 as f64,
        sizes[1] / sizes[0]
    );
}
