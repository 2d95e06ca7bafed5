//! Borderless text tables for list output.

use comfy_table::{presets, Table};

/// Renders rows under the given headers as aligned columns separated by spaces, one line per
/// row, without borders or trailing spaces.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header(headers.to_vec());
    for row in rows {
        table.add_row(row.clone());
    }
    let mut text = String::new();
    for line in table.lines() {
        let line = line.trim_end();
        if !line.is_empty() {
            text.push_str(line.strip_prefix(' ').unwrap_or(line));
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_without_borders() {
        let rows = vec![
            vec![
                "run_1".to_string(),
                "hello".to_string(),
                "QUEUED".to_string(),
            ],
            vec!["run_22".to_string(), "a".to_string(), "-".to_string()],
        ];
        let text = render(&["ID", "TASK", "STATUS"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID"), "{text}");
        let status_col = lines[0].find("STATUS");
        assert_eq!(lines[1].find("QUEUED"), status_col, "{text}");
        assert_eq!(lines[2].find('-'), status_col, "{text}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }
}
