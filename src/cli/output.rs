//! What a command prints: aligned text tables for people (rpk's layout:
//! upper-case headers, columns padded to the widest cell), or one JSON
//! document for scripts. A command builds a [`Report`] with both forms;
//! the runner prints the one asked for, then each item's error on stderr.

use serde_json::Value;

use super::error::CliError;

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned tables.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// A command's result: its text and JSON forms, and the items that failed
/// (a topic of several that already existed). Any failed item makes the
/// exit code non-zero.
#[derive(Debug)]
pub struct Report {
    pub text: String,
    pub json: Value,
    pub errors: Vec<CliError>,
}

impl Report {
    pub fn new(text: String, json: Value) -> Report {
        Report {
            text,
            json,
            errors: Vec::new(),
        }
    }

    pub fn with_errors(mut self, errors: Vec<CliError>) -> Report {
        self.errors = errors;
        self
    }
}

/// A table of text cells, rendered with two spaces between columns.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Table {
        Table {
            rows: vec![headers.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Rows only, headers excluded.
    pub fn is_empty(&self) -> bool {
        self.rows.len() <= 1
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let pad = widths[c] - cell.chars().count();
                    line.push_str(cell);
                    line.push_str(&" ".repeat(pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `key  value` lines, keys padded (a one-row record, e.g. a group's
/// summary before its tables).
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// `[1,2,3]`, as rpk prints replica lists.
pub fn id_list(ids: &[i32]) -> String {
    let inner: Vec<String> = ids.iter().map(i32::to_string).collect();
    format!("[{}]", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_every_column_to_its_widest_cell() {
        let mut t = Table::new(&["NAME", "PARTITIONS", "REPLICAS"]);
        assert!(t.is_empty());
        t.row(vec!["a-long-topic".into(), "3".into(), "1".into()]);
        t.row(vec!["b".into(), "12".into(), "".into()]);
        assert!(!t.is_empty());
        assert_eq!(
            t.render(),
            "NAME          PARTITIONS  REPLICAS\n\
             a-long-topic  3           1\n\
             b             12\n"
        );
    }

    #[test]
    fn fields_pad_their_keys() {
        assert_eq!(
            fields(&[("GROUP", "g".into()), ("STATE", "Empty".into())]),
            "GROUP  g\nSTATE  Empty\n"
        );
        assert_eq!(id_list(&[1, 2]), "[1,2]");
        assert_eq!(id_list(&[]), "[]");
    }
}
