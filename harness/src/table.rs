//! The one table printer: columns with a header and an alignment, rows of strings,
//! rendered as aligned plain text (terminal) or as a markdown table (summary.md).
//! Pure, so every table the harness prints (the run summary, every claim's) is tested
//! through the same code.

/// Where a column's cells sit in plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub head: String,
    pub align: Align,
}

/// Columns and rows; a row shorter than the columns is padded with empty cells, extra
/// cells are ignored.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first `left` columns are left-aligned and the rest right-aligned
    /// (labels first, numbers after: the usual shape).
    pub fn new(heads: &[&str], left: usize) -> Table {
        let align = |i| if i < left { Align::Left } else { Align::Right };
        Table::with_aligns(heads.iter().enumerate().map(|(i, h)| (*h, align(i))))
    }

    /// A table with one alignment per column.
    pub fn with_aligns<'a>(columns: impl IntoIterator<Item = (&'a str, Align)>) -> Table {
        Table {
            columns: columns
                .into_iter()
                .map(|(h, align)| Column {
                    head: h.to_string(),
                    align,
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    pub fn with_rows(mut self, rows: impl IntoIterator<Item = Vec<String>>) -> Table {
        self.rows.extend(rows);
        self
    }

    fn cell(row: &[String], i: usize) -> &str {
        row.get(i).map(String::as_str).unwrap_or("")
    }

    fn widths(&self) -> Vec<usize> {
        let mut w: Vec<usize> = self
            .columns
            .iter()
            .map(|c| c.head.chars().count())
            .collect();
        for row in &self.rows {
            for (i, wi) in w.iter_mut().enumerate() {
                *wi = (*wi).max(Self::cell(row, i).chars().count());
            }
        }
        w
    }

    /// Plain text: two spaces between columns, a dashed line under the header, no
    /// trailing spaces, one line per row.
    pub fn to_text(&self) -> String {
        let widths = self.widths();
        let line = |cells: &[String], out: &mut String| {
            let mut l = String::new();
            for (i, (c, w)) in self.columns.iter().zip(&widths).enumerate() {
                let s = Self::cell(cells, i);
                let pad = " ".repeat(w.saturating_sub(s.chars().count()));
                match c.align {
                    Align::Left => l.extend([s, &pad]),
                    Align::Right => l.extend([pad.as_str(), s]),
                }
                l.push_str("  ");
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        let mut out = String::new();
        let heads: Vec<String> = self.columns.iter().map(|c| c.head.clone()).collect();
        line(&heads, &mut out);
        line(
            &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
            &mut out,
        );
        for row in &self.rows {
            line(row, &mut out);
        }
        out
    }

    /// A markdown table (`|`-separated, one `---` per column).
    pub fn to_markdown(&self) -> String {
        let n = self.columns.len();
        let heads: Vec<&str> = self.columns.iter().map(|c| c.head.as_str()).collect();
        let mut s = format!("| {} |\n", heads.join(" | "));
        s.push('|');
        for c in &self.columns {
            s.push_str(match c.align {
                Align::Left => " --- |",
                Align::Right => " ---: |",
            });
        }
        s.push('\n');
        for r in &self.rows {
            let cells: Vec<&str> = (0..n).map(|i| Self::cell(r, i)).collect();
            s.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        s
    }
}

/// `-` for a missing value, else the value formatted.
pub fn or_dash<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        Table::new(&["name", "value"], 1).with_rows([
            vec!["a".into(), "1".into()],
            vec!["long name".into(), "12345".into()],
        ])
    }

    #[test]
    fn text_aligns() {
        assert_eq!(
            sample().to_text(),
            "name       value\n---------  -----\na              1\nlong name  12345\n"
        );
    }

    #[test]
    fn markdown_and_short_rows() {
        let mut t = sample();
        t.push(vec!["only".into()]);
        assert_eq!(
            t.to_markdown(),
            "| name | value |\n| --- | ---: |\n| a | 1 |\n| long name | 12345 |\n| only |  |\n"
        );
        assert!(t.to_text().ends_with("only\n"), "{}", t.to_text());
    }

    #[test]
    fn per_column_alignment() {
        let t = Table::with_aligns([("x", Align::Right), ("y", Align::Left), ("z", Align::Right)])
            .with_rows([vec!["10".into(), "ab".into(), "1".into()]]);
        assert_eq!(t.to_text(), " x  y   z\n--  --  -\n10  ab  1\n");
    }
}
