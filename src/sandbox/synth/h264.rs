//! A minimal H.264 (ITU-T H.264, Constrained Baseline) writer: a sequence and picture
//! parameter set, IDR pictures made of `I_PCM` macroblocks (raw samples, no transform), and P
//! pictures whose macroblocks are all skipped (a copy of the previous picture). No encoder: the
//! only decisions are syntax. NAL units are returned without start codes (MP4 stores them
//! length-prefixed), with emulation prevention applied.

/// The frame rate every clip has (an editor's standard rate, in ticks of `1/FPS` s).
pub const FPS: u32 = 24;
/// `level_idc` 3.0: up to 1,620 macroblocks a frame and 10 Mbit/s (an `I_PCM` picture each
/// second at 320×192 is ≈ 0.75 Mbit/s).
pub const LEVEL: u8 = 30;
/// `profile_idc` 66 (Baseline) with constraint_set0 and constraint_set1 (Constrained Baseline).
pub const PROFILE: u8 = 66;
pub const CONSTRAINTS: u8 = 0b1100_0000;
/// `log2_max_frame_num_minus4` = 4: frame_num counts 0..255 between IDR pictures.
const LOG2_MAX_FRAME_NUM: u32 = 8;

/// Writes bits most significant first; exp-Golomb codes (clause 9.1).
#[derive(Default)]
pub struct Bits {
    out: Vec<u8>,
    cur: u8,
    used: u32,
}

impl Bits {
    pub fn bit(&mut self, b: bool) {
        self.cur = (self.cur << 1) | u8::from(b);
        self.used += 1;
        if self.used == 8 {
            self.out.push(self.cur);
            self.cur = 0;
            self.used = 0;
        }
    }

    /// `u(n)`: the low `n` bits of `v`.
    pub fn u(&mut self, n: u32, v: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 == 1);
        }
    }

    /// `ue(v)`: unsigned exp-Golomb.
    pub fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        self.u(len - 1, 0);
        for i in (0..len).rev() {
            self.bit((x >> i) & 1 == 1);
        }
    }

    /// `se(v)`: signed exp-Golomb (k > 0 → 2k − 1, k ≤ 0 → −2k).
    pub fn se(&mut self, v: i32) {
        let mapped = if v > 0 {
            2 * v.unsigned_abs() - 1
        } else {
            2 * v.unsigned_abs()
        };
        self.ue(mapped);
    }

    pub fn aligned(&self) -> bool {
        self.used == 0
    }

    /// Zero bits up to the next byte boundary (`pcm_alignment_zero_bit`).
    pub fn align_zero(&mut self) {
        while !self.aligned() {
            self.bit(false);
        }
    }

    /// Whole bytes, at a byte boundary.
    pub fn bytes(&mut self, b: &[u8]) {
        debug_assert!(self.aligned());
        self.out.extend_from_slice(b);
    }

    /// `rbsp_trailing_bits`: a one, then zeros to the boundary; the RBSP.
    pub fn finish(mut self) -> Vec<u8> {
        self.bit(true);
        self.align_zero();
        self.out
    }
}

/// A NAL unit: the header byte, then the RBSP with `emulation_prevention_three_byte` after
/// every two zero bytes that precede a byte ≤ 3 (clause 7.4.1).
pub fn nal(ref_idc: u8, kind: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 1);
    out.push((ref_idc << 5) | kind);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// The picture's size in macroblocks and the cropping down to the displayed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Displayed size (even numbers).
    pub width: u32,
    pub height: u32,
}

impl Geometry {
    pub fn mbs_wide(self) -> u32 {
        self.width.div_ceil(16)
    }
    pub fn mbs_high(self) -> u32 {
        self.height.div_ceil(16)
    }
    pub fn mbs(self) -> u32 {
        self.mbs_wide() * self.mbs_high()
    }
    /// Coded (macroblock-aligned) width and height.
    pub fn coded(self) -> (u32, u32) {
        (self.mbs_wide() * 16, self.mbs_high() * 16)
    }
}

/// The sequence parameter set (clause 7.3.2.1.1) with VUI timing at [`FPS`].
pub fn sps(g: Geometry) -> Vec<u8> {
    let mut b = Bits::default();
    b.u(8, u32::from(PROFILE));
    b.u(8, u32::from(CONSTRAINTS));
    b.u(8, u32::from(LEVEL));
    b.ue(0); // seq_parameter_set_id
    b.ue(LOG2_MAX_FRAME_NUM - 4);
    b.ue(2); // pic_order_cnt_type 2: output order is decoding order
    b.ue(1); // max_num_ref_frames
    b.bit(false); // gaps_in_frame_num_value_allowed_flag
    b.ue(g.mbs_wide() - 1);
    b.ue(g.mbs_high() - 1);
    b.bit(true); // frame_mbs_only_flag
    b.bit(true); // direct_8x8_inference_flag
    let (cw, ch) = g.coded();
    let crop = cw != g.width || ch != g.height;
    b.bit(crop);
    if crop {
        // 4:2:0: CropUnitX = CropUnitY = 2.
        b.ue(0);
        b.ue((cw - g.width) / 2);
        b.ue(0);
        b.ue((ch - g.height) / 2);
    }
    b.bit(true); // vui_parameters_present_flag
    vui(&mut b);
    nal(3, 7, &b.finish())
}

/// VUI (Annex E): timing (two ticks a frame), no reordering, one frame in the buffer.
fn vui(b: &mut Bits) {
    b.bit(false); // aspect_ratio_info_present_flag (square samples)
    b.bit(false); // overscan_info_present_flag
    b.bit(false); // video_signal_type_present_flag
    b.bit(false); // chroma_loc_info_present_flag
    b.bit(true); // timing_info_present_flag
    b.u(32, 1); // num_units_in_tick
    b.u(32, 2 * FPS); // time_scale (a frame is two field ticks)
    b.bit(true); // fixed_frame_rate_flag
    b.bit(false); // nal_hrd_parameters_present_flag
    b.bit(false); // vcl_hrd_parameters_present_flag
    b.bit(false); // pic_struct_present_flag
    b.bit(true); // bitstream_restriction_flag
    b.bit(true); // motion_vectors_over_pic_boundaries_flag
    b.ue(0); // max_bytes_per_pic_denom
    b.ue(0); // max_bits_per_mb_denom
    b.ue(16); // log2_max_mv_length_horizontal
    b.ue(16); // log2_max_mv_length_vertical
    b.ue(0); // max_num_reorder_frames
    b.ue(1); // max_dec_frame_buffering
}

/// The picture parameter set (clause 7.3.2.2): CAVLC, one slice group, deblocking controlled
/// by the slice (every slice turns it off: `I_PCM` samples are shown as they are).
pub fn pps() -> Vec<u8> {
    let mut b = Bits::default();
    b.ue(0); // pic_parameter_set_id
    b.ue(0); // seq_parameter_set_id
    b.bit(false); // entropy_coding_mode_flag (CAVLC)
    b.bit(false); // bottom_field_pic_order_in_frame_present_flag
    b.ue(0); // num_slice_groups_minus1
    b.ue(0); // num_ref_idx_l0_default_active_minus1
    b.ue(0); // num_ref_idx_l1_default_active_minus1
    b.bit(false); // weighted_pred_flag
    b.u(2, 0); // weighted_bipred_idc
    b.se(0); // pic_init_qp_minus26
    b.se(0); // pic_init_qs_minus26
    b.se(0); // chroma_qp_index_offset
    b.bit(true); // deblocking_filter_control_present_flag
    b.bit(false); // constrained_intra_pred_flag
    b.bit(false); // redundant_pic_cnt_present_flag
    nal(3, 8, &b.finish())
}

/// A picture's samples, 4:2:0, at the coded size.
#[derive(Clone)]
pub struct Planes {
    pub y: Vec<u8>,
    pub cb: Vec<u8>,
    pub cr: Vec<u8>,
    /// Coded width (luma).
    pub stride: usize,
}

/// An IDR picture, one slice of `I_PCM` macroblocks (clauses 7.3.3, 7.3.5).
pub fn idr(g: Geometry, idr_pic_id: u32, p: &Planes) -> Vec<u8> {
    let mut b = Bits::default();
    b.ue(0); // first_mb_in_slice
    b.ue(7); // slice_type: I (all slices)
    b.ue(0); // pic_parameter_set_id
    b.u(LOG2_MAX_FRAME_NUM, 0); // frame_num
    b.ue(idr_pic_id % 65_536);
    b.bit(false); // no_output_of_prior_pics_flag
    b.bit(false); // long_term_reference_flag
    b.se(0); // slice_qp_delta
    b.ue(1); // disable_deblocking_filter_idc
    let mut mb = [0u8; 384];
    for my in 0..g.mbs_high() as usize {
        for mx in 0..g.mbs_wide() as usize {
            b.ue(25); // mb_type I_PCM
            b.align_zero();
            pcm_samples(p, mx, my, &mut mb);
            b.bytes(&mb);
        }
    }
    nal(3, 5, &b.finish())
}

/// One macroblock's samples in `I_PCM` order: 16×16 luma, then 8×8 Cb, then 8×8 Cr.
fn pcm_samples(p: &Planes, mx: usize, my: usize, out: &mut [u8; 384]) {
    let cstride = p.stride / 2;
    for r in 0..16 {
        let at = (my * 16 + r) * p.stride + mx * 16;
        out[r * 16..r * 16 + 16].copy_from_slice(&p.y[at..at + 16]);
    }
    for r in 0..8 {
        let at = (my * 8 + r) * cstride + mx * 8;
        out[256 + r * 8..256 + r * 8 + 8].copy_from_slice(&p.cb[at..at + 8]);
        out[320 + r * 8..320 + r * 8 + 8].copy_from_slice(&p.cr[at..at + 8]);
    }
}

/// A P picture: the macroblocks at the (ascending) addresses in `intra` are `I_PCM` from `p`,
/// every other one is `P_Skip` (zero motion: the previous picture's samples). `frame_num`
/// counts reference pictures since the IDR.
pub fn inter(g: Geometry, frame_num: u32, p: &Planes, intra: &[u32]) -> Vec<u8> {
    let mut b = Bits::default();
    b.ue(0); // first_mb_in_slice
    b.ue(5); // slice_type: P (all slices)
    b.ue(0); // pic_parameter_set_id
    b.u(LOG2_MAX_FRAME_NUM, frame_num % (1 << LOG2_MAX_FRAME_NUM));
    b.bit(false); // num_ref_idx_active_override_flag
    b.bit(false); // ref_pic_list_modification_flag_l0
    b.bit(false); // adaptive_ref_pic_marking_mode_flag
    b.se(0); // slice_qp_delta
    b.ue(1); // disable_deblocking_filter_idc
    let mut next = 0;
    let mut mb = [0u8; 384];
    for &addr in intra {
        b.ue(addr - next); // mb_skip_run before it
        b.ue(30); // mb_type: I_PCM in a P slice (5 + 25)
        b.align_zero();
        let (mx, my) = (addr % g.mbs_wide(), addr / g.mbs_wide());
        pcm_samples(p, mx as usize, my as usize, &mut mb);
        b.bytes(&mb);
        next = addr + 1;
    }
    if next < g.mbs() {
        b.ue(g.mbs() - next); // the rest skipped
    }
    nal(2, 1, &b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes_match_the_table_in_clause_9_1() {
        let mut b = Bits::default();
        for v in [0, 1, 2, 3, 4, 7] {
            b.ue(v);
        }
        // 1 010 011 00100 00101 0001000, then the stop bit.
        let bits: String = b.finish().iter().map(|x| format!("{x:08b}")).collect();
        assert!(bits.starts_with("1010011001000010100010001"), "{bits}");
        let mut s = Bits::default();
        s.se(1);
        s.se(-1);
        s.se(2);
        let bits: String = s.finish().iter().map(|x| format!("{x:08b}")).collect();
        assert!(bits.starts_with("01001100100"), "{bits}");
    }

    #[test]
    fn emulation_prevention_breaks_every_start_code_pattern() {
        let out = nal(3, 5, &[0, 0, 1, 0, 0, 0, 0, 0, 3, 0, 0, 4]);
        assert_eq!(out, [0x65, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 3, 0, 0, 4]);
    }

    #[test]
    fn a_skipped_picture_is_a_few_bytes_and_pcm_macroblocks_hold_every_sample() {
        let g = Geometry {
            width: 320,
            height: 180,
        };
        assert_eq!((g.mbs_wide(), g.mbs_high(), g.coded()), (20, 12, (320, 192)));
        let planes = Planes {
            y: vec![100; 320 * 192],
            cb: vec![90; 160 * 96],
            cr: vec![200; 160 * 96],
            stride: 320,
        };
        let pic = idr(g, 0, &planes);
        assert!(pic.len() > 240 * 384 && pic.len() < 240 * 386 + 16, "{}", pic.len());
        assert!(inter(g, 1, &planes, &[]).len() < 12);
        let two = inter(g, 1, &planes, &[219, 239]).len();
        assert!(two > 2 * 384 && two < 2 * 386 + 16, "{two}");
    }
}
