//! An MP4 (ISO/IEC 14496-12 and -14, -15) writer for one H.264 track and an optional AAC
//! track: `ftyp`, then `moov` (so a player can start before the end: "faststart"), then one
//! `mdat` holding each track's samples as one chunk.

/// What a track carries.
pub enum Media<'a> {
    /// H.264: displayed size and the parameter sets for `avcC`.
    Video {
        width: u16,
        height: u16,
        sps: &'a [u8],
        pps: &'a [u8],
    },
    /// AAC: sample rate, channels and the AudioSpecificConfig for `esds`.
    Audio { rate: u32, channels: u16, asc: &'a [u8] },
}

/// One track: its samples (concatenated), their sizes and durations.
pub struct Track<'a> {
    pub media: Media<'a>,
    pub timescale: u32,
    /// `stts` runs: (sample count, duration of each in `timescale` units).
    pub stts: Vec<(u32, u32)>,
    /// Each sample's size in bytes.
    pub sizes: Vec<u32>,
    /// 1-based numbers of the sync samples; `None` when every sample is one (no `stss`).
    pub sync: Option<Vec<u32>>,
    pub data: Vec<u8>,
}

impl Track<'_> {
    /// The duration in `timescale` units.
    pub fn duration(&self) -> u64 {
        self.stts.iter().map(|&(n, d)| u64::from(n) * u64::from(d)).sum()
    }
    fn millis(&self) -> u32 {
        (self.duration() * 1000).div_ceil(u64::from(self.timescale)) as u32
    }
}

/// A box: 32-bit size, type, body.
fn bx(kind: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = 8 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(kind);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// A full box: version 0, `flags`, body.
fn full(kind: &[u8; 4], flags: u32, body: &[u8]) -> Vec<u8> {
    bx(kind, &[&flags.to_be_bytes(), body])
}

/// Big-endian fields in a row.
#[derive(Default)]
struct Be(Vec<u8>);

impl Be {
    fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    fn zeros(mut self, n: usize) -> Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// The identity transformation matrix.
    fn matrix(self) -> Self {
        [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000]
            .iter()
            .fold(self, |b, &v| b.u32(v))
    }
}

/// The whole file.
pub fn write(tracks: &[Track]) -> Vec<u8> {
    let ftyp = bx(b"ftyp", &[b"isom", &512u32.to_be_bytes(), b"isomiso2avc1mp41"]);
    // The chunk offsets depend on the size of `moov`, which does not depend on them.
    let probe = moov(tracks, 0);
    let mdat_body = (ftyp.len() + probe.len() + 8) as u32;
    let moov = moov(tracks, mdat_body);
    let data_len: usize = tracks.iter().map(|t| t.data.len()).sum();
    let mut out = Vec::with_capacity(ftyp.len() + moov.len() + 8 + data_len);
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&moov);
    out.extend_from_slice(&((8 + data_len) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    for t in tracks {
        out.extend_from_slice(&t.data);
    }
    out
}

fn moov(tracks: &[Track], mut offset: u32) -> Vec<u8> {
    let millis = tracks.iter().map(Track::millis).max().unwrap_or(0);
    let mvhd = Be::default()
        .zeros(8) // creation, modification time
        .u32(1000)
        .u32(millis)
        .u32(0x0001_0000) // rate 1.0
        .u16(0x0100) // volume 1.0
        .zeros(10)
        .matrix()
        .zeros(24) // pre_defined
        .u32(tracks.len() as u32 + 1); // next_track_ID
    let mut parts = vec![full(b"mvhd", 0, &mvhd.0)];
    for (i, t) in tracks.iter().enumerate() {
        parts.push(trak(t, i as u32 + 1, offset));
        offset += t.data.len() as u32;
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    bx(b"moov", &refs)
}

fn trak(t: &Track, id: u32, offset: u32) -> Vec<u8> {
    let (volume, width, height) = match t.media {
        Media::Video { width, height, .. } => (0, width, height),
        Media::Audio { .. } => (0x0100, 0, 0),
    };
    let tkhd = Be::default()
        .zeros(8)
        .u32(id)
        .zeros(4)
        .u32(t.millis())
        .zeros(8)
        .u16(0) // layer
        .u16(0) // alternate_group
        .u16(volume)
        .zeros(2)
        .matrix()
        .u32(u32::from(width) << 16)
        .u32(u32::from(height) << 16);
    // 0x55C4: ISO 639-2 "und", three 5-bit letters.
    let mdhd = Be::default()
        .zeros(8)
        .u32(t.timescale)
        .u32(t.duration() as u32)
        .u16(0x55C4)
        .u16(0);
    let (handler, name, header): (&[u8; 4], &[u8], Vec<u8>) = match t.media {
        Media::Video { .. } => (b"vide", b"VideoHandler\0", full(b"vmhd", 1, &[0; 8])),
        Media::Audio { .. } => (b"soun", b"SoundHandler\0", full(b"smhd", 0, &[0; 4])),
    };
    let hdlr = Be::default().zeros(4).raw(handler).zeros(12).raw(name);
    let url = full(b"url ", 1, &[]);
    let dinf = bx(b"dinf", &[&full(b"dref", 0, &[&1u32.to_be_bytes()[..], &url].concat())]);
    let minf = bx(b"minf", &[&header, &dinf, &stbl(t, id, offset)]);
    let mdia = bx(
        b"mdia",
        &[&full(b"mdhd", 0, &mdhd.0), &full(b"hdlr", 0, &hdlr.0), &minf],
    );
    bx(b"trak", &[&full(b"tkhd", 3, &tkhd.0), &mdia])
}

fn stbl(t: &Track, id: u32, offset: u32) -> Vec<u8> {
    let stts = t
        .stts
        .iter()
        .fold(Be::default().u32(t.stts.len() as u32), |b, &(n, d)| b.u32(n).u32(d));
    let n = t.sizes.len() as u32;
    let uniform = t.sizes.windows(2).all(|w| w[0] == w[1]);
    let stsz = if uniform {
        Be::default().u32(t.sizes.first().copied().unwrap_or(0)).u32(n)
    } else {
        t.sizes.iter().fold(Be::default().u32(0).u32(n), |b, &s| b.u32(s))
    };
    let stsc = Be::default().u32(1).u32(1).u32(n).u32(1);
    let stco = Be::default().u32(1).u32(offset);
    let mut parts = vec![
        full(
            b"stsd",
            0,
            &[&1u32.to_be_bytes()[..], &sample_entry(&t.media, id)].concat(),
        ),
        full(b"stts", 0, &stts.0),
    ];
    if let Some(sync) = &t.sync {
        let stss = sync.iter().fold(Be::default().u32(sync.len() as u32), |b, &s| b.u32(s));
        parts.push(full(b"stss", 0, &stss.0));
    }
    parts.push(full(b"stsc", 0, &stsc.0));
    parts.push(full(b"stsz", 0, &stsz.0));
    parts.push(full(b"stco", 0, &stco.0));
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    bx(b"stbl", &refs)
}

/// `avc1` + `avcC` (ISO/IEC 14496-15 5.3.3) or `mp4a` + `esds` (14496-14 5.6).
fn sample_entry(media: &Media, id: u32) -> Vec<u8> {
    match *media {
        Media::Video {
            width,
            height,
            sps,
            pps,
        } => {
            // avcC: version 1, profile, constraints, level (the SPS's bytes 1..4), 4-byte lengths.
            let avcc = Be::default()
                .raw(&[1, sps[1], sps[2], sps[3], 0xFF, 0xE1])
                .u16(sps.len() as u16)
                .raw(sps)
                .raw(&[1])
                .u16(pps.len() as u16)
                .raw(pps);
            let mut name = [0u8; 32];
            name[0] = 10;
            name[1..11].copy_from_slice(b"storyboard");
            let entry = Be::default()
                .zeros(6)
                .u16(1) // data_reference_index
                .zeros(16)
                .u16(width)
                .u16(height)
                .u32(0x0048_0000) // 72 dpi
                .u32(0x0048_0000)
                .zeros(4)
                .u16(1) // frame_count
                .raw(&name)
                .u16(0x0018) // depth
                .u16(0xFFFF) // pre_defined −1
                .raw(&bx(b"avcC", &[&avcc.0]));
            bx(b"avc1", &[&entry.0])
        }
        Media::Audio { rate, channels, asc } => {
            let entry = Be::default()
                .zeros(6)
                .u16(1)
                .zeros(8)
                .u16(channels)
                .u16(16) // samplesize
                .zeros(4)
                .u32(rate << 16)
                .raw(&esds(asc, id));
            bx(b"mp4a", &[&entry.0])
        }
    }
}

/// `esds`: ES_Descriptor ⊃ DecoderConfigDescriptor (AAC, audio stream) ⊃ the
/// AudioSpecificConfig, and the SLConfigDescriptor (14496-1 7.2.6).
fn esds(asc: &[u8], id: u32) -> Vec<u8> {
    let dsi = [&[0x05, asc.len() as u8][..], asc].concat();
    let dcd_body = Be::default()
        .raw(&[0x40, 0x15]) // objectTypeIndication: MPEG-4 audio; streamType 5 (audio), upstream 0, reserved 1
        .raw(&[0, 0x03, 0x00]) // bufferSizeDB
        .u32(16_000) // maxBitrate
        .u32(16_000) // avgBitrate
        .raw(&dsi);
    let dcd = [&[0x04, dcd_body.0.len() as u8][..], &dcd_body.0].concat();
    let es_body = Be::default().u16(id as u16).raw(&[0]).raw(&dcd).raw(&[0x06, 1, 0x02]);
    let es = [&[0x03, es_body.0.len() as u8][..], &es_body.0].concat();
    full(b"esds", 0, &es)
}
