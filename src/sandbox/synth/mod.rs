//! Clips an editor can use, made on the spot without an encoder: standard MP4 files with an
//! H.264 Constrained Baseline video track at 24 fps of exactly the asked duration and, when
//! asked, a silent AAC-LC mono 48 kHz track of the same duration.
//!
//! Every second starts with an IDR picture of raw (`I_PCM`) samples: a background colour taken
//! from the job id, the prompt's first words, the model and the job id drawn in a small bitmap
//! font, the time code and a progress bar; the other 23 pictures of the second are all-skip P
//! pictures (a few bytes each). So every job's clip looks different from its first frame, seeks
//! to any second, and a 15 s clip is ≈ 1.4 MB made in a few milliseconds.

mod font;
mod h264;
mod mp4;

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

/// Media timescale of the video track (512 units a frame, as common muxers use at 24 fps).
const VIDEO_TIMESCALE: u32 = FPS * 512;

fn video<'a>(spec: &Spec, g: Geometry, seconds: u32, sps: &'a [u8], pps: &'a [u8]) -> mp4::Track<'a> {
    let base = background(spec, g);
    let mut data = Vec::new();
    let mut sizes = Vec::with_capacity((seconds * FPS) as usize);
    let mut sync = Vec::with_capacity(seconds as usize);
    for s in 0..seconds {
        let mut pic = base.clone();
        time_code(&mut pic, g, s, seconds);
        sync.push(s * FPS + 1);
        sample(&mut data, &mut sizes, &h264::idr(g, s, &pic));
        for n in 1..FPS {
            sample(&mut data, &mut sizes, &h264::skip(g, n));
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
    let details = font::wrap(spec.model, cols(1), 2)
        .into_iter()
        .chain(font::wrap(&format!("job {}", spec.job), cols(1), 2));
    for line in details {
        p.text(MARGIN, top, 1, &line, INK, SHADOW);
        top += LINE;
    }
    p
}

/// `00:03 / 00:07` above a bar filled to the same point, at the bottom.
fn time_code(p: &mut Planes, g: Geometry, second: u32, total: u32) {
    let text = format!("00:{second:02} / 00:{total:02}");
    p.text(MARGIN, g.height - MARGIN - 6 - 2 * 8, 2, &text, INK, SHADOW);
    let bar = g.width * second / total;
    p.fill(0, g.height - 6, g.width, 6, SHADOW);
    p.fill(0, g.height - 6, bar, 6, INK);
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
mod scratch {
    #[test]
    fn dump() {
        for (name, w, h, s, a) in [("a", 320, 180, 7, true), ("b", 180, 320, 3, false), ("c", 240, 240, 15, true)] {
            let t = std::time::Instant::now();
            let bytes = super::mp4(&super::Spec { width: w, height: h, seconds: s, audio: a, title: "A night market in the rain, neon signs reflecting in puddles", model: "kling-video/v3/pro/text-to-video", job: name });
            eprintln!("{name}: {} bytes in {:?}", bytes.len(), t.elapsed());
            std::fs::write(format!("/tmp/synth-{name}.mp4"), bytes).unwrap();
        }
    }
}
