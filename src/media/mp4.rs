//! Reads a clip's duration from its MP4 `moov/mvhd` box (used when ffprobe is not installed).

use std::io::{Read, Seek, SeekFrom};

/// The duration in seconds from `mvhd`, or `None` when the file is not an MP4 it understands.
pub(crate) fn duration(path: &camino::Utf8Path) -> Option<f64> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let moov = find_box(&mut f, 0, len, b"moov")?;
    let mvhd = find_box(&mut f, moov.0, moov.1, b"mvhd")?;
    f.seek(SeekFrom::Start(mvhd.0)).ok()?;
    let mut head = [0u8; 4];
    f.read_exact(&mut head).ok()?;
    let version = head[0];
    let (timescale, duration) = if version == 1 {
        let mut b = [0u8; 28];
        f.read_exact(&mut b).ok()?;
        (
            u32::from_be_bytes(b[16..20].try_into().ok()?),
            u64::from_be_bytes(b[20..28].try_into().ok()?),
        )
    } else {
        let mut b = [0u8; 16];
        f.read_exact(&mut b).ok()?;
        (
            u32::from_be_bytes(b[8..12].try_into().ok()?),
            u64::from(u32::from_be_bytes(b[12..16].try_into().ok()?)),
        )
    };
    (timescale > 0).then(|| duration as f64 / f64::from(timescale))
}

/// Finds a box of type `kind` among the boxes in `[start, end)`; returns its payload range.
fn find_box(f: &mut std::fs::File, start: u64, end: u64, kind: &[u8; 4]) -> Option<(u64, u64)> {
    let mut pos = start;
    while pos + 8 <= end {
        f.seek(SeekFrom::Start(pos)).ok()?;
        let mut h = [0u8; 8];
        f.read_exact(&mut h).ok()?;
        let mut size = u64::from(u32::from_be_bytes(h[..4].try_into().ok()?));
        let mut header = 8;
        if size == 1 {
            let mut big = [0u8; 8];
            f.read_exact(&mut big).ok()?;
            size = u64::from_be_bytes(big);
            header = 16;
        } else if size == 0 {
            size = end - pos;
        }
        if size < header {
            return None;
        }
        if &h[4..8] == kind {
            return Some((pos + header, (pos + size).min(end)));
        }
        pos += size;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_duration_of_the_sandbox_clips() {
        let dir = camino::Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/sandbox/clips");
        for (name, secs) in [
            ("16x9_5s.mp4", 5.0),
            ("9x16_10s_audio.mp4", 10.0),
            ("1x1_10s.mp4", 10.0),
        ] {
            let d = duration(&dir.join(name)).unwrap();
            assert!((d - secs).abs() < 0.05, "{name}: {d}");
        }
        assert_eq!(duration(&dir.join("README.md")), None);
    }

    #[test]
    fn finds_moov_after_a_padded_free_box_and_mdat() {
        let dir = tempfile::tempdir().unwrap();
        let path = camino::Utf8PathBuf::from_path_buf(dir.path().join("x.mp4")).unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&16u32.to_be_bytes());
        bytes.extend_from_slice(b"ftypisom\0\0\0\0");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(b"mdat");
        bytes.extend_from_slice(&24u64.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 8]);
        // moov { mvhd v0: timescale 600, duration 4500 → 7.5 s }
        let mut mvhd = vec![0u8; 4 + 16];
        mvhd[12..16].copy_from_slice(&600u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&4500u32.to_be_bytes());
        let mvhd_box = [&((8 + mvhd.len()) as u32).to_be_bytes()[..], b"mvhd", &mvhd].concat();
        bytes.extend_from_slice(&((8 + mvhd_box.len()) as u32).to_be_bytes());
        bytes.extend_from_slice(b"moov");
        bytes.extend_from_slice(&mvhd_box);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(duration(&path), Some(7.5));
    }
}
