//! A 5×7 bitmap font (drawn for this project: capitals, digits and common punctuation;
//! lower case is drawn as capitals, anything else as `?`) and text drawn into 4:2:0 planes.

use super::h264::Planes;

/// Each glyph: seven rows, the five low bits of each (most significant = leftmost pixel).
const GLYPHS: &[(char, [u8; 7])] = &[
    (' ', [0, 0, 0, 0, 0, 0, 0]),
    ('0', [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110]),
    ('1', [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110]),
    ('2', [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111]),
    ('3', [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110]),
    ('4', [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010]),
    ('5', [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110]),
    ('6', [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110]),
    ('7', [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000]),
    ('8', [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110]),
    ('9', [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100]),
    ('A', [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001]),
    ('B', [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110]),
    ('C', [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110]),
    ('D', [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100]),
    ('E', [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111]),
    ('F', [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000]),
    ('G', [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111]),
    ('H', [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001]),
    ('I', [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110]),
    ('J', [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100]),
    ('K', [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001]),
    ('L', [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111]),
    ('M', [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001]),
    ('N', [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001]),
    ('O', [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110]),
    ('P', [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000]),
    ('Q', [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101]),
    ('R', [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001]),
    ('S', [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110]),
    ('T', [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100]),
    ('U', [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110]),
    ('V', [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100]),
    ('W', [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010]),
    ('X', [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001]),
    ('Y', [0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100]),
    ('Z', [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111]),
    ('-', [0, 0, 0, 0b11111, 0, 0, 0]),
    ('_', [0, 0, 0, 0, 0, 0, 0b11111]),
    ('.', [0, 0, 0, 0, 0, 0b01100, 0b01100]),
    (',', [0, 0, 0, 0, 0b01100, 0b00100, 0b01000]),
    (':', [0, 0b01100, 0b01100, 0, 0b01100, 0b01100, 0]),
    (';', [0, 0b01100, 0b01100, 0, 0b01100, 0b00100, 0b01000]),
    ('/', [0, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0]),
    ('(', [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010]),
    (')', [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000]),
    ('[', [0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110]),
    (']', [0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110]),
    ('\'', [0b01100, 0b00100, 0b01000, 0, 0, 0, 0]),
    ('"', [0b01010, 0b01010, 0b01010, 0, 0, 0, 0]),
    ('#', [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010]),
    ('+', [0, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0]),
    ('=', [0, 0, 0b11111, 0, 0b11111, 0, 0]),
    ('*', [0, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0]),
    ('!', [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0, 0b00100]),
    ('?', [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0, 0b00100]),
    ('&', [0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101]),
    ('%', [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011]),
    ('$', [0b00100, 0b01111, 0b10100, 0b01110, 0b00101, 0b11110, 0b00100]),
];

/// Horizontal advance of one character at scale 1 (five columns and a gap).
pub const ADVANCE: u32 = 6;
/// Line height at scale 1 (seven rows and two of spacing).
pub const LINE: u32 = 9;

fn glyph(c: char) -> [u8; 7] {
    let find = |c: char| GLYPHS.iter().find(|(g, _)| *g == c).map(|(_, rows)| *rows);
    find(c.to_ascii_uppercase()).or_else(|| find('?')).unwrap_or_default()
}

/// A colour as Y, Cb, Cr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Yuv(pub u8, pub u8, pub u8);

impl Planes {
    /// Sets the pixel (and the chroma sample that covers it); outside the picture: nothing.
    pub fn put(&mut self, x: u32, y: u32, c: Yuv) {
        let (x, y) = (x as usize, y as usize);
        if x >= self.stride || y * self.stride >= self.y.len() {
            return;
        }
        self.y[y * self.stride + x] = c.0;
        let at = (y / 2) * (self.stride / 2) + x / 2;
        self.cb[at] = c.1;
        self.cr[at] = c.2;
    }

    /// A filled rectangle.
    pub fn fill(&mut self, x: u32, y: u32, w: u32, h: u32, c: Yuv) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.put(xx, yy, c);
            }
        }
    }

    /// One line of text at (x, y), each font pixel `scale`×`scale`, over a shadow one font
    /// pixel down and right (legible on any background).
    pub fn text(&mut self, x: u32, y: u32, scale: u32, text: &str, ink: Yuv, shadow: Yuv) {
        for (off, colour) in [(scale, shadow), (0, ink)] {
            for (i, ch) in text.chars().enumerate() {
                let left = x + i as u32 * ADVANCE * scale + off;
                for (r, row) in glyph(ch).iter().enumerate() {
                    for col in 0..5 {
                        if row & (0b10000 >> col) != 0 {
                            let px = left + col * scale;
                            self.fill(px, y + off + r as u32 * scale, scale, scale, colour);
                        }
                    }
                }
            }
        }
    }
}

/// `text` broken into lines of at most `width` characters, at spaces where it can be (a
/// word longer than a line is cut), at most `max` lines (the last one ends in `...` when cut).
pub fn wrap(text: &str, width: usize, max: usize) -> Vec<String> {
    let width = width.max(4);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let used = cur.chars().count();
            let room = if used == 0 {
                width
            } else {
                width.saturating_sub(used + 1)
            };
            if word.len() <= room || (used == 0 && room > 0) {
                let take = word.len().min(room);
                if used > 0 {
                    cur.push(' ');
                }
                cur.extend(word.drain(..take));
            } else {
                lines.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    if lines.len() > max {
        lines.truncate(max);
        let last = &mut lines[max - 1];
        let keep: String = last.chars().take(width - 3).collect();
        *last = format!("{keep}...");
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_spaces_cuts_long_words_and_marks_a_cut() {
        assert_eq!(
            wrap("a night market in the rain", 10, 5),
            ["a night", "market in", "the rain"]
        );
        assert_eq!(
            wrap("kling-video/v3/pro/text-to-video", 12, 5),
            ["kling-video/", "v3/pro/text-", "to-video"]
        );
        assert_eq!(wrap("one two three four", 5, 2), ["one", "tw..."]);
        assert!(wrap("   ", 10, 3).is_empty());
    }

    #[test]
    fn every_glyph_fits_five_columns_and_unknown_characters_are_question_marks() {
        assert!(GLYPHS.iter().all(|(_, rows)| rows.iter().all(|r| *r < 32)));
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(glyph('é'), glyph('?'));
        assert_ne!(glyph('1'), glyph('7'));
    }
}
