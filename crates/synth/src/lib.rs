//! Clips an editor can use, made on the spot without an encoder: standard MP4 files with an
//! H.264 Constrained Baseline video track at 24 fps of exactly the asked duration and, when
//! asked, a silent AAC-LC mono 48 kHz track of the same duration.
//!
//! Every second starts with an IDR picture of raw (`I_PCM`) samples: a background colour taken
//! from the job id, the prompt's first words, the model and the job id drawn in a small bitmap
//! font, the time code and a progress bar; the other 23 pictures of the second are all-skip P
//! pictures (a few bytes each). So every job's clip looks different from its first frame, seeks
//! to any second, and a 15 s clip is ≈ 1.4 MB made in a few milliseconds.
//!
//! [`png`] draws the same first picture as a PNG still (the sandbox's image models).

mod font;
mod h264;
mod mp4;
mod png;

use font::{ADVANCE, LINE, Yuv};
use h264::{FPS, Geometry, Planes};
use sha2::{Digest, Sha256};

/// What a clip shows and holds.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// Displayed size in pixels (even numbers).
    pub width: u32,
    pub height: u32,
    /// Whole seconds (1 to 60).
    pub seconds: u32,
    /// With a (silent) audio track.
    pub audio: bool,
    /// The first line(s): the prompt's first words or the shot.
    pub title: &'a str,
    /// The model (endpoint) that "made" it.
    pub model: &'a str,
    /// The job id: drawn, and the source of the background colour.
    pub job: &'a str,
}

/// The MP4 file.
pub fn mp4(spec: &Spec) -> Vec<u8> {
    let seconds = spec.seconds.clamp(1, 60);
    let g = Geometry {
        width: spec.width & !1,
        height: spec.height & !1,
    };
    let (sps, pps) = (h264::sps(g), h264::pps());
    let mut tracks = vec![video(spec, g, seconds, &sps, &pps)];
    if spec.audio {
        tracks.push(audio(seconds));
    }
    mp4::write(&tracks)
}

/// A still picture (a frame of an image model) as a PNG file: the same drawing as a clip's
/// first picture (the job's colour, title, model and job id), without time code or bar.
pub fn png(spec: &Spec) -> Vec<u8> {
    let g = Geometry {
        width: spec.width.max(16) & !1,
        height: spec.height.max(16) & !1,
    };
    let p = background(spec, g);
    let mut rgb = Vec::with_capacity((g.width * g.height * 3) as usize);
    for y in 0..g.height as usize {
        for x in 0..g.width as usize {
            let c = (y / 2) * (p.stride / 2) + x / 2;
            rgb.extend_from_slice(&to_rgb(p.y[y * p.stride + x], p.cb[c], p.cr[c]));
        }
    }
    png::encode(g.width, g.height, &rgb)
}

/// BT.601 studio-range Y'CbCr to 8-bit RGB.
fn to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (y, cb, cr) = (
        1.164 * (f64::from(y) - 16.0),
        f64::from(cb) - 128.0,
        f64::from(cr) - 128.0,
    );
    let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    [
        clamp(y + 1.596 * cr),
        clamp(y - 0.392 * cb - 0.813 * cr),
        clamp(y + 2.017 * cb),
    ]
}

/// Media timescale of the video track (512 units a frame, as common muxers use at 24 fps).
const VIDEO_TIMESCALE: u32 = FPS * 512;

fn video<'a>(spec: &Spec, g: Geometry, seconds: u32, sps: &'a [u8], pps: &'a [u8]) -> mp4::Track<'a> {
    let base = background(spec, g);
    let total = seconds * FPS;
    let mut data = Vec::new();
    let mut sizes = Vec::with_capacity(total as usize);
    let mut sync = Vec::with_capacity(seconds as usize);
    for s in 0..seconds {
        let mut pic = base.clone();
        time_code(&mut pic, g, s, seconds);
        let mut bar = bar_width(g, s * FPS, total);
        pic.fill(0, g.height - BAR, bar, BAR, INK);
        sync.push(s * FPS + 1);
        sample(&mut data, &mut sizes, &h264::idr(g, s, &pic));
        for n in 1..FPS {
            // The bar grows with every frame: only the macroblocks it reached are sent again.
            let next = bar_width(g, s * FPS + n, total);
            pic.fill(bar, g.height - BAR, next - bar, BAR, INK);
            let dirty = macroblocks(g, bar..next, g.height - BAR..g.height);
            bar = next;
            sample(&mut data, &mut sizes, &h264::inter(g, n, &pic, &dirty));
        }
    }
    mp4::Track {
        media: mp4::Media::Video {
            width: g.width as u16,
            height: g.height as u16,
            sps,
            pps,
        },
        timescale: VIDEO_TIMESCALE,
        stts: vec![(seconds * FPS, VIDEO_TIMESCALE / FPS)],
        sizes,
        sync: Some(sync),
        data,
    }
}

/// One sample: a NAL unit behind its 4-byte length.
fn sample(data: &mut Vec<u8>, sizes: &mut Vec<u32>, nal: &[u8]) {
    data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    data.extend_from_slice(nal);
    sizes.push(4 + nal.len() as u32);
}

const INK: Yuv = Yuv(235, 128, 128);
const SHADOW: Yuv = Yuv(16, 128, 128);
const MARGIN: u32 = 8;

/// The picture every second shares: the job's colour, the title, model and job id.
fn background(spec: &Spec, g: Geometry) -> Planes {
    let (cw, ch) = g.coded();
    let Yuv(y, cb, cr) = colour(spec.job);
    let (luma, chroma) = ((cw * ch) as usize, (cw * ch / 4) as usize);
    let mut p = Planes {
        y: vec![y; luma],
        cb: vec![cb; chroma],
        cr: vec![cr; chroma],
        stride: cw as usize,
    };
    let cols = |scale: u32| ((g.width - 2 * MARGIN) / (ADVANCE * scale)) as usize;
    let mut top = MARGIN;
    for line in font::wrap(spec.title, cols(2), 4) {
        p.text(MARGIN, top, 2, &line, INK, SHADOW);
        top += LINE * 2;
    }
    top += LINE / 2;
    let details =
        font::wrap(spec.model, cols(1), 2)
            .into_iter()
            .chain(font::wrap(&format!("job {}", spec.job), cols(1), 2));
    for line in details {
        p.text(MARGIN, top, 1, &line, INK, SHADOW);
        top += LINE;
    }
    p
}

/// Height of the progress bar at the bottom.
const BAR: u32 = 6;

/// `00:03 / 00:07` above the (empty) progress bar.
fn time_code(p: &mut Planes, g: Geometry, second: u32, total: u32) {
    let text = format!("00:{second:02} / 00:{total:02}");
    p.text(MARGIN, g.height - MARGIN - BAR - 2 * 8, 2, &text, INK, SHADOW);
    p.fill(0, g.height - BAR, g.width, BAR, SHADOW);
}

/// How far the progress bar reaches in frame `frame` of `total` (full in the last one).
fn bar_width(g: Geometry, frame: u32, total: u32) -> u32 {
    g.width * (frame + 1) / total
}

/// The addresses of the macroblocks that hold any pixel of the rectangle, ascending.
fn macroblocks(g: Geometry, xs: std::ops::Range<u32>, ys: std::ops::Range<u32>) -> Vec<u32> {
    if xs.is_empty() || ys.is_empty() {
        return Vec::new();
    }
    let cols = xs.start / 16..=(xs.end - 1) / 16;
    (ys.start / 16..=(ys.end - 1) / 16)
        .flat_map(|row| cols.clone().map(move |col| row * g.mbs_wide() + col))
        .collect()
}

/// A saturated mid-bright colour whose hue comes from the job id (BT.601, studio range).
fn colour(job: &str) -> Yuv {
    let h = Sha256::digest(job.as_bytes());
    let hue = f64::from(u16::from_be_bytes([h[0], h[1]])) / 65_536.0 * 6.0;
    let (s, v) = (0.6, 0.55);
    let c = v * s;
    let x = c * (1.0 - (hue % 2.0 - 1.0).abs());
    let (r, g, b) = match hue as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    let (r, g, b) = (r + m, g + m, b + m);
    let y = 16.0 + 65.481 * r + 128.553 * g + 24.966 * b;
    let cb = 128.0 - 37.797 * r - 74.203 * g + 112.0 * b;
    let cr = 128.0 + 112.0 * r - 93.786 * g - 18.214 * b;
    Yuv(y.round() as u8, cb.round() as u8, cr.round() as u8)
}

/// AAC-LC, 48 kHz, mono: audioObjectType 2, samplingFrequencyIndex 3, channelConfiguration 1
/// (ISO/IEC 14496-3 1.6.2.1).
const AAC_CONFIG: [u8; 2] = [0x11, 0x88];
/// One silent AAC frame (1,024 samples): a single channel element with global_gain 100, no
/// scale factor bands (max_sfb 0: every spectral coefficient zero), then the END element.
const SILENT_FRAME: [u8; 4] = [0x00, 0xC8, 0x00, 0x07];
const AUDIO_RATE: u32 = 48_000;

/// `seconds` of silence: whole 1,024-sample frames, the last one lasting only what is left, so
/// the track is exactly as long as the video.
fn audio(seconds: u32) -> mp4::Track<'static> {
    let total = seconds * AUDIO_RATE;
    let (full, rest) = (total / 1024, total % 1024);
    let frames = full + u32::from(rest > 0);
    let mut stts = vec![(full, 1024)];
    if rest > 0 {
        stts.push((1, rest));
    }
    mp4::Track {
        media: mp4::Media::Audio {
            rate: AUDIO_RATE,
            channels: 1,
            asc: &AAC_CONFIG,
        },
        timescale: AUDIO_RATE,
        stts,
        sizes: vec![SILENT_FRAME.len() as u32; frames as usize],
        sync: None,
        data: SILENT_FRAME.repeat(frames as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The boxes in `data`: (type, payload).
    fn boxes(data: &[u8]) -> Vec<(&[u8], &[u8])> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 8 <= data.len() {
            let size = be32(data, pos) as usize;
            assert!(size >= 8 && pos + size <= data.len(), "a box overruns its parent");
            out.push((&data[pos + 4..pos + 8], &data[pos + 8..pos + size]));
            pos += size;
        }
        out
    }

    /// The `n`th box of type `kind` (full boxes' payloads start with version and flags;
    /// sample descriptions and sample entries have fields before their children).
    fn child<'a>(data: &'a [u8], kind: &[u8; 4], n: usize) -> &'a [u8] {
        boxes(data)
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .nth(n)
            .map(|(_, body)| match kind {
                b"stsd" => &body[8..],
                b"avc1" => &body[78..],
                b"mp4a" => &body[28..],
                _ => body,
            })
            .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(kind)))
    }

    fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> &'a [u8] {
        kinds.iter().fold(data, |d, k| child(d, k, 0))
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn spec(seconds: u32, audio: bool, job: &'static str) -> Spec<'static> {
        Spec {
            width: 320,
            height: 180,
            seconds,
            audio,
            title: "a night market",
            model: "kling-video/v3/pro/text-to-video",
            job,
        }
    }

    #[test]
    fn boxes_are_ftyp_moov_mdat_and_the_durations_are_exact() {
        let file = mp4(&spec(7, true, "job-1"));
        let kinds: Vec<&[u8]> = boxes(&file).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            [b"ftyp", b"moov", b"mdat"],
            "faststart: moov before mdat, nothing after"
        );
        let moov = child(&file, b"moov", 0);
        let mvhd = child(moov, b"mvhd", 0);
        assert_eq!((be32(mvhd, 12), be32(mvhd, 16)), (1000, 7000), "mvhd: 7 s in ms");
        let seen: Vec<_> = (0..2)
            .map(|n| {
                let trak = child(moov, b"trak", n);
                let mdhd = path(trak, &[b"mdia", b"mdhd"]);
                let stbl = path(trak, &[b"mdia", b"minf", b"stbl"]);
                let stss = boxes(stbl)
                    .into_iter()
                    .find(|(k, _)| *k == b"stss")
                    .map(|(_, b)| be32(b, 4));
                (be32(mdhd, 12), be32(mdhd, 16), be32(child(stbl, b"stsz", 0), 8), stss)
            })
            .collect();
        assert_eq!(
            seen,
            [(12_288, 7 * 12_288, 7 * 24, Some(7)), (48_000, 7 * 48_000, 329, None)],
            "video: 168 frames of 512 units, an IDR each second; audio: 328 frames of 1,024 samples and one of 128"
        );
    }

    #[test]
    fn the_sample_entries_say_constrained_baseline_and_aac_lc_mono_48k() {
        let file = mp4(&spec(3, true, "job-1"));
        let moov = child(&file, b"moov", 0);
        let entry = |n| path(child(moov, b"trak", n), &[b"mdia", b"minf", b"stbl", b"stsd"]);
        let avcc = path(entry(0), &[b"avc1", b"avcC"]);
        assert_eq!(
            avcc[..4],
            [1, 66, 0xC0, 30],
            "version, profile 66, constraint_set0+1, level 3.0"
        );
        let esds = path(entry(1), &[b"mp4a", b"esds"]);
        assert!(
            esds.windows(4).any(|w| w == [0x05, 2, 0x11, 0x88]),
            "AudioSpecificConfig: AAC-LC 48 kHz mono"
        );
        let silent = mp4(&spec(3, false, "job-1"));
        let traks = boxes(child(&silent, b"moov", 0))
            .iter()
            .filter(|(k, _)| *k == b"trak")
            .count();
        assert_eq!(traks, 1, "no audio track unless asked");
    }

    #[test]
    fn two_jobs_differ_from_the_first_frame_and_one_job_is_always_the_same_file() {
        let (a, b) = (mp4(&spec(5, false, "job-1")), mp4(&spec(5, false, "job-2")));
        assert_eq!(a.len(), b.len());
        assert_ne!(colour("job-1"), colour("job-2"));
        let first = |f: &[u8]| child(f, b"mdat", 0)[..20_000].to_vec();
        assert_ne!(first(&a), first(&b), "the first picture differs");
        assert_eq!(a, mp4(&spec(5, false, "job-1")));
    }

    #[test]
    fn a_fifteen_second_clip_is_small_and_odd_sizes_are_made_even() {
        let file = mp4(&spec(15, true, "job-1"));
        assert!(file.len() < 2_000_000, "{} bytes", file.len());
        let odd = mp4(&Spec {
            width: 241,
            height: 239,
            ..spec(1, false, "j")
        });
        let tkhd = path(&odd, &[b"moov", b"trak", b"tkhd"]);
        assert_eq!((be32(tkhd, 76) >> 16, be32(tkhd, 80) >> 16), (240, 238));
    }
}
