//! Tables and prose that fit a width: columns laid out by `comfy-table` (it wraps cells at
//! spaces and measures text by its display width), low-priority columns dropped when wrapping
//! is not enough, and ids and prices never cut.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, Table, Width};

/// How one column of a table gives way when the table is wider than its width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Col<'a> {
    /// The header.
    pub head: &'a str,
    /// Right-aligned (numbers, money).
    pub right: bool,
    /// Never wrapped nor cut (ids, prices).
    pub whole: bool,
    /// Dropped when wrapping is not enough: 1 first, then 2…; `None`: always shown.
    pub drop: Option<u8>,
}

impl<'a> Col<'a> {
    /// A text column that wraps at spaces and is always shown.
    pub(crate) const fn text(head: &'a str) -> Self {
        Col {
            head,
            right: false,
            whole: false,
            drop: None,
        }
    }
    /// A column shown whole (an id, a price).
    pub(crate) const fn whole(head: &'a str) -> Self {
        Col {
            head,
            right: false,
            whole: true,
            drop: None,
        }
    }
    /// Right-aligned.
    pub(crate) const fn right(self) -> Self {
        Col { right: true, ..self }
    }
    /// Dropped at rank `n` when the table does not fit.
    pub(crate) const fn drop(self, n: u8) -> Self {
        Col { drop: Some(n), ..self }
    }
}

/// A laid-out table and the headers of the columns left out to fit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fitted {
    /// The lines, each ending in `\n`.
    pub text: String,
    /// Headers of dropped columns.
    pub dropped: Vec<String>,
}

/// Lays `rows` out under `cols` in at most `width` columns where that can be done: cells wrap
/// at spaces, then low-priority columns are dropped in their order, and only then is text
/// broken inside words; whole columns (ids, prices) are never broken.
pub(crate) fn fit(cols: &[Col], rows: &[Vec<String>], width: usize) -> Fitted {
    let mut order: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].drop.is_some()).collect();
    order.sort_by_key(|&i| cols[i].drop);
    let mut hidden = vec![false; cols.len()];
    let mut order = order.into_iter().peekable();
    loop {
        let text = layout(cols, rows, &hidden, (width, false));
        // The next column to drop goes rather than wrap: a low-priority cell is not worth
        // three lines per row.
        let next_wraps = order.peek().is_some_and(|&i| wraps(cols, rows, &hidden, (width, i)));
        if widest(&text) <= width && !next_wraps {
            return Fitted {
                text,
                dropped: dropped(cols, &hidden),
            };
        }
        match order.next() {
            Some(i) => hidden[i] = true,
            // The last resort: text (never a whole column) broken inside its words.
            None => {
                let text = layout(cols, rows, &hidden, (width, true));
                return Fitted {
                    text,
                    dropped: dropped(cols, &hidden),
                };
            }
        }
    }
}

fn dropped(cols: &[Col], hidden: &[bool]) -> Vec<String> {
    cols.iter()
        .zip(hidden)
        .filter(|(_, h)| **h)
        .map(|(c, _)| c.head.to_owned())
        .collect()
}

/// The widths of the shown columns (content, without padding): whole columns at their widest
/// cell; text columns share what is left, the narrowest first, none below its longest word.
fn widths(cols: &[Col], rows: &[Vec<String>], hidden: &[bool], (width, split): (usize, bool)) -> Vec<usize> {
    let cells = |i: usize| std::iter::once(cols[i].head).chain(rows.iter().map(move |r| r[i].as_str()));
    let widest = |i: usize| cells(i).flat_map(str::lines).map(measure).max().unwrap_or(0);
    let word = |i: usize| cells(i).flat_map(str::split_whitespace).map(measure).max().unwrap_or(0);
    let shown = hidden.iter().filter(|h| !**h).count();
    let mut out: Vec<usize> = (0..cols.len())
        .map(|i| if cols[i].whole { widest(i) } else { 0 })
        .collect();
    let fixed: usize = (0..cols.len()).filter(|&i| !hidden[i]).map(|i| out[i]).sum();
    let mut text: Vec<usize> = (0..cols.len()).filter(|&i| !hidden[i] && !cols[i].whole).collect();
    // Each text column gets its longest word (1 when words may split), then the room left is
    // shared out, the columns that need least extra served first.
    let least = |i: usize| if split { 1 } else { word(i) };
    let needs: usize = text.iter().map(|&i| least(i)).sum();
    let mut left = width.saturating_sub(1 + 2 * shown + fixed + needs);
    text.sort_by_key(|&i| widest(i).saturating_sub(least(i)));
    for (n, &i) in text.iter().enumerate() {
        let extra = widest(i).saturating_sub(least(i)).min(left / (text.len() - n));
        out[i] = least(i) + extra;
        left -= extra;
    }
    out
}

/// Whether column `i` wraps when laid out in `width` columns.
fn wraps(cols: &[Col], rows: &[Vec<String>], hidden: &[bool], (width, i): (usize, usize)) -> bool {
    let widest_cell = std::iter::once(cols[i].head)
        .chain(rows.iter().map(|r| r[i].as_str()))
        .flat_map(str::lines)
        .map(measure)
        .max()
        .unwrap_or(0);
    widths(cols, rows, hidden, (width, false))[i] < widest_cell
}

/// One layout in `width` columns (words `split` or not), hidden columns left out.
fn layout(cols: &[Col], rows: &[Vec<String>], hidden: &[bool], width: (usize, bool)) -> String {
    let widths = widths(cols, rows, hidden, width);
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(cols.iter().map(|c| c.head))
        .add_rows(rows.iter().map(|r| r.iter().map(String::as_str)));
    for (i, c) in cols.iter().enumerate() {
        let Some(column) = t.column_mut(i) else { continue };
        if c.right {
            column.set_cell_alignment(CellAlignment::Right);
        }
        // comfy-table's fixed widths count the column's padding.
        let fixed = u16::try_from(widths[i])
            .unwrap_or(u16::MAX)
            .saturating_add(column.padding_width());
        column.set_constraint(match hidden[i] {
            true => ColumnConstraint::Hidden,
            false => ColumnConstraint::Absolute(Width::Fixed(fixed)),
        });
    }
    t.lines().map(|l| format!(" {}\n", l.trim_end())).collect()
}

/// The display width of text (wide characters count two).
pub(crate) fn measure(text: &str) -> usize {
    console::measure_text_width(text)
}

/// The widest line of text.
pub(crate) fn widest(text: &str) -> usize {
    text.lines().map(measure).max().unwrap_or(0)
}

/// Prose wrapped at spaces to `width`, its own leading spaces kept and later lines indented
/// by `indent` more; a word longer than a line stays whole on a line of its own.
pub(crate) fn wrap(text: &str, width: usize, indent: usize) -> String {
    let lead = text.len() - text.trim_start_matches(' ').len();
    let mut out = String::new();
    let mut line = " ".repeat(lead);
    let mut empty = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !empty && measure(&line) + 1 + measure(word) > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(lead + indent);
        } else if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The width command output is laid out for: the terminal's when stdout is one, else
/// `COLUMNS` when it is set, else 80.
pub(crate) fn stdout_width() -> usize {
    let term = console::Term::stdout();
    if term.is_term() {
        return usize::from(term.size().1).max(20);
    }
    columns_or_80()
}

/// `COLUMNS` when it holds a width, else 80.
pub(crate) fn columns_or_80() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c >= 20)
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec![
                "a-very-long-shot-id".into(),
                "some words that can wrap".into(),
                "$12.34".into(),
                "x".into(),
            ],
            vec!["b".into(), "short".into(), "$0.70".into(), "y".into()],
        ]
    }

    const COLS: [Col; 4] = [
        Col::whole("shot"),
        Col::text("note"),
        Col::whole("USD").right(),
        Col::text("low").drop(1),
    ];

    #[test]
    fn wide_enough_keeps_every_column_on_one_line_each() {
        let f = fit(&COLS, &rows(), 200);
        assert_eq!(f.text.lines().count(), 3, "{}", f.text);
        assert!(f.dropped.is_empty());
        assert!(f.text.lines().nth(2).unwrap().contains("  $0.70  y"), "{}", f.text);
    }

    #[test]
    fn narrow_wraps_text_then_drops_and_never_cuts_ids_or_prices() {
        let f = fit(&COLS, &rows(), 40);
        assert!(widest(&f.text) <= 40, "{}", f.text);
        assert!(
            f.text.contains("a-very-long-shot-id") && f.text.contains("$12.34"),
            "{}",
            f.text
        );
        let f = fit(&COLS, &rows(), 36);
        assert!(widest(&f.text) <= 36, "{}", f.text);
        assert_eq!(f.dropped, ["low"]);
        assert!(
            f.text.contains("a-very-long-shot-id") && f.text.contains("$12.34"),
            "{}",
            f.text
        );
    }

    #[test]
    fn a_low_priority_column_is_dropped_rather_than_wrapped() {
        let mut rows = rows();
        rows[0][3] = "a long low-priority cell that would wrap".into();
        let f = fit(&COLS, &rows, 60);
        assert_eq!(f.dropped, ["low"], "{}", f.text);
        assert_eq!(f.text.lines().count(), 3, "{}", f.text);
    }

    #[test]
    fn wide_characters_count_twice() {
        let rows = vec![vec!["片".repeat(10), "$1.00".into(), "x".into(), "y".into()]];
        let f = fit(&COLS, &rows, 30);
        assert!(widest(&f.text) <= 30, "{}", f.text);
        assert!(f.text.contains(&"片".repeat(10)));
    }

    #[test]
    fn prose_wraps_at_spaces_with_a_hanging_indent() {
        let w = wrap(
            "prices: the catalog's table (read 2026-11-22): no live prices fetched",
            30,
            2,
        );
        assert!(widest(&w) <= 30, "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("  ")), "{w}");
        assert_eq!(
            w.split_whitespace().collect::<Vec<_>>().join(" "),
            "prices: the catalog's table (read 2026-11-22): no live prices fetched"
        );
    }
}
