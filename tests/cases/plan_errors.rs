//! Bad input: exit 2, one clear message per problem naming the file and line or the shot and
//! field, nothing written. One test per case.

use crate::common::{Test, files_below, storyboard};

/// Plans `yaml` from a fresh folder and asserts exit 2, that stderr names the file and holds
/// every `expect`ed fragment, and that nothing was written.
fn refuses(yaml: &str, expect: &[&str]) -> String {
    let t = Test::new();
    let file = t.write("shots.yaml", yaml);
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(stderr.contains("shots.yaml"), "no file name in: {stderr}");
    for e in expect {
        assert!(stderr.contains(e), "expected {e:?} in: {stderr}");
    }
    assert_eq!(files_below(t.path()), ["shots.yaml"], "plan wrote files");
    stderr
}

const HEAD: &str = "version: 1\nvoices:\n  mara: vc_1\n  tomas: vc_2\n  ines: vc_3\nshots:\n";

fn shots(body: &str) -> String {
    format!("{HEAD}{body}")
}

#[test]
fn invalid_yaml_names_line_and_column() {
    refuses(
        "version: 1\nshots:\n  - prompt: hi\n   bad: x\n",
        &["shots.yaml:4:4", "did not find expected"],
    );
}

#[test]
fn wrong_type_names_the_field_and_line() {
    refuses(
        &shots("  - prompt: hi\n    generate_audio: loud\n"),
        &["shots.yaml:8:", "generate_audio", "boolean"],
    );
}

#[test]
fn unknown_field_suggests_the_closest() {
    refuses(
        &shots("  - id: a\n    promt: hi\n"),
        &["shots.yaml:8:", "unknown field `promt`", "did you mean `prompt`"],
    );
}

#[test]
fn unknown_top_level_field_suggests_the_closest() {
    refuses(
        "version: 1\ndefualts: {}\nshots:\n  - prompt: hi\n",
        &["shots.yaml:2:", "did you mean `defaults`"],
    );
}

#[test]
fn missing_prompt() {
    refuses(
        &shots("  - id: silent\n"),
        &["shot `silent`, field `prompt`", "missing"],
    );
}

#[test]
fn undefined_template_variables_are_all_reported() {
    let err = refuses(
        &shots("  - id: a\n    prompt: \"{{ place }} at {{ time }}\"\n  - id: b\n    prompt: \"{{ mood }}\"\n"),
        &[
            "undefined variable `place`",
            "undefined variable `time`",
            "shot `b`",
            "undefined variable `mood`",
            "template line 1",
        ],
    );
    assert_eq!(err.matches("undefined variable").count(), 3, "{err}");
}

#[test]
fn template_syntax_error() {
    refuses(
        &shots("  - id: a\n    prompt: \"{{ broken \"\n"),
        &["shot `a`, field `prompt`", "syntax error"],
    );
}

#[test]
fn duration_seven() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    duration: 7\n"),
        &["shot `a`, field `duration`", "5 or 10"],
    );
}

#[test]
fn aspect_ratio_four_three() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    aspect_ratio: \"4:3\"\n"),
        &["field `aspect_ratio`", "`4:3` is not allowed", "16:9, 9:16, 1:1"],
    );
}

#[test]
fn cfg_scale_out_of_range() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    cfg_scale: 1.5\n"),
        &["field `cfg_scale`", "1.5 is outside 0..1"],
    );
}

#[test]
fn three_voices_in_one_shot() {
    refuses(
        &shots(
            "  - id: a\n    prompt: \"{{ voice('mara') }} {{ voice('tomas') }} {{ voice('ines') }}\"\n    start_image: https://example.com/a.png\n",
        ),
        &["shot `a`, field `voices`", "at most 2"],
    );
}

#[test]
fn unknown_voice_name() {
    refuses(
        &shots("  - id: a\n    prompt: \"{{ voice('marra') }}\"\n    start_image: https://example.com/a.png\n"),
        &["shot `a`", "unknown voice `marra`", "did you mean `mara`"],
    );
}

#[test]
fn unknown_voice_in_voices_list() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    voices: [bob]\n    start_image: https://example.com/a.png\n"),
        &["field `voices`", "unknown voice `bob`"],
    );
}

#[test]
fn end_image_without_start_image() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    end_image: https://example.com/b.png\n"),
        &["field `end_image`", "needs a start image"],
    );
}

#[test]
fn voices_on_an_endpoint_without_voice_support() {
    refuses(
        &shots("  - id: a\n    prompt: \"{{ voice('mara') }} speaks\"\n"),
        &["field `voices`", "text-to-video` takes no voices", "image-to-video"],
    );
}

#[test]
fn voices_on_v25_turbo() {
    refuses(
        &format!(
            "model: kling-v2.5-turbo-pro\n{}",
            shots("  - id: a\n    prompt: \"{{ voice('mara') }}\"\n    start_image: https://example.com/a.png\n")
        ),
        &["field `voices`", "takes no voices"],
    );
}

#[test]
fn image_inputs_on_eachlabs() {
    refuses(
        &format!(
            "provider: eachlabs\n{}",
            shots("  - id: a\n    prompt: hi\n    start_image: https://example.com/a.png\n")
        ),
        &[
            "shot `a`, field `start_image`",
            "Eachlabs has no image-to-video",
            "provider: fal",
        ],
    );
}

#[test]
fn duplicate_ids_after_expansion() {
    refuses(
        &shots("  - id: same\n    prompt: \"{{ m }}\"\n    matrix:\n      m: [a, b]\n"),
        &["shot `same`, field `id`", "duplicate id"],
    );
}

#[test]
fn id_with_a_slash() {
    refuses(
        &shots("  - id: a/b\n    prompt: hi\n"),
        &["field `id`", "leave the output folder"],
    );
}

#[test]
fn id_with_dot_dot() {
    refuses(
        &shots("  - id: ../x\n    prompt: hi\n"),
        &["field `id`", "leave the output folder"],
    );
}

#[test]
fn empty_shots() {
    refuses("version: 1\nshots: []\n", &["`shots`", "no shots"]);
}

#[test]
fn matrix_value_that_is_not_a_list() {
    refuses(
        &shots("  - id: \"a-{{ m }}\"\n    prompt: hi\n    matrix:\n      m: single\n"),
        &["field `matrix.m`", "must be a list"],
    );
}

#[test]
fn unknown_model() {
    refuses(
        "version: 1\nmodel: kling-v2.6-por\nshots:\n  - prompt: hi\n",
        &["shots.yaml:2", "unknown model", "did you mean `kling-v2.6-pro`"],
    );
}

#[test]
fn unknown_provider() {
    refuses(
        "version: 1\nprovider: replicate\nshots:\n  - prompt: hi\n",
        &["shots.yaml:2", "unknown provider `replicate`", "fal, eachlabs"],
    );
}

#[test]
fn non_http_image_url() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    start_image: ftp://example.com/a.png\n"),
        &["field `start_image`", "only https URLs or local paths"],
    );
}

#[test]
fn local_image_that_does_not_exist() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    start_image: ./frames/missing.png\n"),
        &["field `start_image`", "does not exist"],
    );
}

#[test]
fn version_two() {
    refuses(
        "version: 2\nshots:\n  - prompt: hi\n",
        &["shots.yaml:1", "version 2 is not supported"],
    );
}

#[test]
fn parameter_an_endpoint_does_not_take_set_on_the_shot() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    start_image: https://example.com/a.png\n    aspect_ratio: \"9:16\"\n"),
        &["field `aspect_ratio`", "does not take `aspect_ratio`"],
    );
}

#[test]
fn every_problem_of_a_file_is_reported_in_one_run() {
    let err = refuses(
        &shots(
            "  - id: a\n    prompt: hi\n    duration: 7\n  - id: b\n    prompt: hi\n    cfg_scale: 3\n  - id: c/d\n    prompt: hi\n",
        ),
        &["duration", "cfg_scale", "c/d"],
    );
    assert!(err.contains("3 problems"), "{err}");
}

#[test]
fn unknown_endpoint_needs_a_price() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    endpoint: fal-ai/some/new-model\n"),
        &["field `price_usd`", "not in the catalog"],
    );
}

#[test]
fn missing_file_is_bad_input() {
    let out = storyboard().args(["plan", "/nonexistent/shots.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/shots.yaml"));
}

#[test]
fn local_image_with_a_wrong_extension() {
    let t = Test::new();
    t.write("frames/a.gif", "GIF89a");
    let file = t.write(
        "shots.yaml",
        &shots("  - id: a\n    prompt: hi\n    start_image: ./frames/a.gif\n"),
    );
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("shot `a`, field `start_image`") && err.contains("jpg/jpeg/png/webp"),
        "{err}"
    );
}

#[test]
fn local_image_that_is_a_folder_or_too_big() {
    let t = Test::new();
    std::fs::create_dir_all(t.path().join("frames/dir.png")).unwrap();
    let big = std::fs::File::create(t.path().join("frames/big.png")).unwrap();
    big.set_len(11 * 1024 * 1024).unwrap();
    let file = t.write("shots.yaml",
        &shots(
            "  - id: a\n    prompt: hi\n    start_image: ./frames/dir.png\n  - id: b\n    prompt: hi\n    start_image: ./frames/big.png\n",
        ),
    );
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`./frames/dir.png` is not a regular file"), "{err}");
    assert!(err.contains("shot `b`") && err.contains("10 MB"), "{err}");
}

#[test]
fn motion_reference_video_must_be_mp4_or_mov() {
    refuses(
        &shots(
            "  - id: m\n    motion:\n      image: https://x.test/a.png\n      video: ./dance.avi\n      orientation: video\n",
        ),
        &["field `motion.video`", "mp4/mov"],
    );
}

// Hostile and careless input (red-team reproductions): each refused quickly, exit 2.

#[test]
fn plain_http_image_url() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    start_image: http://example.com/a.png\n"),
        &["field `start_image`", "use an https:// URL"],
    );
}

#[test]
fn credentials_in_an_image_url() {
    let err = refuses(
        &shots("  - id: a\n    prompt: hi\n    start_image: https://user:s3cret@example.com/a.png\n"),
        &["field `start_image`", "user name or password is refused"],
    );
    assert!(!err.contains("s3cret"), "the password is echoed: {err}");
}

#[test]
fn negative_price() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    endpoint: fal-ai/x/y\n    price_usd: -100\n"),
        &["field `price_usd`", "-100 is not an amount of dollars"],
    );
}

#[test]
fn endpoint_that_climbs_out_of_the_queue_url() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    endpoint: 'fal-ai/../../../admin?x=1#'\n    price_usd: 1\n"),
        &["field `endpoint`", "is not an endpoint id", "owner/app/path"],
    );
}

#[test]
fn duplicate_keys_under_vars() {
    refuses(
        "version: 1\nvars:\n  place: a station\n  place: a harbour\nshots:\n  - prompt: hi\n",
        &["shots.yaml:3:", "vars", "duplicate key `place`"],
    );
}

#[test]
fn ids_that_are_reserved_file_names_on_windows() {
    for id in ["CON", "nul.txt", "COM1"] {
        refuses(
            &shots(&format!("  - id: {id}\n    prompt: hi\n")),
            &["field `id`", "reserved file name on Windows"],
        );
    }
}

#[test]
fn ids_that_differ_only_by_case() {
    refuses(
        &shots("  - id: Arrival\n    prompt: hi\n  - id: arrival\n    prompt: ho\n"),
        &["field `id`", "differ only by case"],
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let t = Test::new();
    let file = t.write("shots.yaml", "\u{feff}version: 1\nshots:\n  - prompt: hi\n");
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn negative_or_fractional_duration_names_the_field_line() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    duration: -5\n  - id: b\n    prompt: hi\n    duration: 5.5\n"),
        &[
            "shots.yaml:9:",
            "shots.yaml:12:",
            "duration `-5` is not allowed",
            "duration `5.5`",
            "whole number of seconds",
        ],
    );
}

#[test]
fn a_huge_integer_says_too_large() {
    let err = refuses(
        &shots("  - id: a\n    prompt: hi\n    takes: 99999999999999999999999\n"),
        &["shots.yaml:9:", "takes", "too large"],
    );
    assert!(!err.contains("u128"), "{err}");
}

#[test]
fn a_matrix_of_ten_billion_shots_is_refused_before_expanding() {
    let axis = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]";
    let axes: String = (0..10).map(|k| format!("      a{k}: {axis}\n")).collect();
    refuses(
        &shots(&format!(
            "  - id: \"s-{{{{ a0 }}}}\"\n    prompt: hi\n    matrix:\n{axes}"
        )),
        &["`shots`", "expands to 10000000000 shots", "at most 10000"],
    );
}

#[test]
fn four_billion_takes() {
    refuses(
        &shots("  - id: a\n    prompt: hi\n    takes: 4000000000\n"),
        &["expands to 4000000000 shots"],
    );
    refuses(
        &shots("  - id: a\n    prompt: hi\n    takes: 101\n"),
        &["field `takes`", "at most 100 takes"],
    );
}

#[test]
fn a_template_that_loops_forever_runs_out_of_fuel() {
    refuses(
        &shots(
            "  - id: a\n    prompt: \"{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\"\n",
        ),
        &["field `prompt`", "does too much work"],
    );
}

#[test]
fn deeply_nested_yaml_is_refused_at_once() {
    let deep = format!(
        "version: 1\nshots:\n  - prompt: hi\nvars:\n  x: {}{}\n",
        "[".repeat(64_000),
        "]".repeat(64_000)
    );
    refuses(&deep, &["shots.yaml:5:", "nest deeper than 64 levels"]);
}

#[test]
fn a_prompt_longer_than_kling_takes() {
    let long = "a".repeat(2_501);
    refuses(
        &shots(&format!("  - id: a\n    prompt: {long}\n")),
        &["field `prompt`", "2501 characters", "at most 2500"],
    );
}

#[test]
fn endless_or_huge_inputs_are_not_read_to_the_end() {
    for dev in ["/dev/zero", "/dev/urandom"] {
        if !std::path::Path::new(dev).exists() {
            continue;
        }
        let out = storyboard().arg("plan").arg(dev).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{dev}: {err}");
        assert!(err.contains("larger than 8 MiB"), "{dev}: {err}");
    }
}

#[test]
fn a_text_file_named_png_is_not_uploaded() {
    let t = Test::new();
    t.write("frame.png", "not an image at all\n");
    let file = t.write(
        "shots.yaml",
        &shots("  - id: a\n    prompt: hi\n    start_image: ./frame.png\n"),
    );
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is not a PNG, JPEG or WebP image"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_storyboard_folder_is_not_uploaded() {
    let t = Test::new();
    let outside = tempfile::tempdir().unwrap();
    // A real PNG outside the folder, and a link to it (and one to /etc/passwd) inside.
    let png = outside.path().join("secret.png");
    std::fs::copy(crate::common::example("frames/boots.png"), &png).unwrap();
    std::os::unix::fs::symlink(&png, t.path().join("frame.png")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", t.path().join("passwd.png")).unwrap();
    let file = t.write("shots.yaml",
        &shots(
            "  - id: a\n    prompt: hi\n    start_image: ./frame.png\n  - id: b\n    prompt: hi\n    start_image: ./passwd.png\n",
        ),
    );
    let out = storyboard().arg("plan").arg(&file).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.matches("outside the storyboard's folder").count(), 2, "{err}");
    assert!(err.contains("write the real path"), "{err}");
    // The escape hatch: the real path, written out, is used.
    let ok = t.write(
        "ok.yaml",
        &format!(
            "version: 1\nshots:\n  - id: a\n    prompt: hi\n    start_image: {}\n",
            png.display()
        ),
    );
    let out = storyboard().arg("plan").arg(&ok).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn ten_thousand_broken_shots_are_reported_without_reading_the_file_ten_thousand_times() {
    let body: String = (0..10_000)
        .map(|i| format!("  - id: s{i}\n    promt: hello {i}\n"))
        .collect();
    let err = refuses(
        &format!("version: 1\nshots:\n{body}"),
        &["unknown field `promt` in shots[0]"],
    );
    assert_eq!(err.matches("unknown field `promt`").count(), 20, "the first 20 located");
    assert!(
        err.contains("9980 more shots have problems (shots[20], shots[21]"),
        "{err}"
    );
}
