//! Printing: aligned tables, ages, and objects as YAML or JSON.

use std::fmt::Write as _;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use crate::cmd::kube_args::OutputFormat;

/// A table: a header and rows of cells, printed with columns aligned by two spaces.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The aligned text, one line per row, header first.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The string at a JSON pointer of an object, or "" when absent or not a string.
pub fn text_at(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// A cell for free text: one line, at most `max` characters (the rest elided with `…`).
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The age of a `creationTimestamp` as kubectl prints it: `42s`, `5m`, `3h`, `12d`.
pub fn age(created: Option<&str>, now: Timestamp) -> String {
    let Some(created) = created.and_then(|c| c.parse::<Timestamp>().ok()) else {
        return String::from("<unknown>");
    };
    let secs = now.duration_since(created).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Prints `objects` as YAML documents or one JSON value (a `List` when there are several, or
/// when `as_list`).
pub fn print_objects(format: OutputFormat, objects: &[Value], as_list: bool) -> anyhow::Result<()> {
    print!("{}", render_objects(format, objects, as_list)?);
    Ok(())
}

/// [`print_objects`] as a string.
pub fn render_objects(
    format: OutputFormat,
    objects: &[Value],
    as_list: bool,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => {
            let value = if objects.len() == 1 && !as_list {
                objects[0].clone()
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects})
            };
            let mut text = serde_json::to_string_pretty(&value)?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml | OutputFormat::Table => {
            let mut text = String::new();
            for object in objects {
                text.push_str("---\n");
                text.push_str(&serde_norway::to_string(object)?);
            }
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_ages_read_like_kubectl() {
        let mut t = Table::new(&["NAME", "READY", "MESSAGE"]);
        t.push(vec!["a".into(), "True".into(), "ok".into()]);
        t.push(vec!["longer".into(), "False".into(), "".into()]);
        assert_eq!(
            t.render(),
            "NAME    READY  MESSAGE\na       True   ok\nlonger  False\n"
        );
        let now: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        assert_eq!(age(Some("2026-01-09T23:59:30Z"), now), "30s");
        assert_eq!(age(Some("2026-01-09T23:00:00Z"), now), "60m");
        assert_eq!(age(Some("2026-01-09T00:00:00Z"), now), "24h");
        assert_eq!(age(Some("2026-01-01T00:00:00Z"), now), "9d");
        assert_eq!(age(None, now), "<unknown>");
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdef", 4), "abc…");
    }
}
