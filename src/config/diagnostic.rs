//! A located configuration error.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: line.max(1),
            column: column.max(1),
            message: message.into(),
        }
    }

    /// A YAML syntax (or structure) error from serde-saphyr, located when it knows where.
    pub fn from_yaml(file: &Path, text: &str, e: &serde_saphyr::Error) -> Self {
        let (line, column) = match e.location() {
            Some(l) if l.line() > 0 => (l.line(), l.column()),
            // No location: point at the end of the text, where parsing gave up.
            _ => (text.lines().count().max(1) as u64, 1),
        };
        // serde-saphyr renders a snippet after the first line; the location says where.
        let full = e.to_string();
        let first = full.lines().next().unwrap_or("invalid YAML").trim();
        let message = strip_location(first);
        Diagnostic::new(file, line, column, format!("invalid YAML: {message}"))
    }
}

/// serde-saphyr words its messages as `error: line X column Y: what`; we print the location
/// first, so keep only `what`, and reword the few that give advice meant for programmers.
fn strip_location(msg: &str) -> String {
    let mut m = msg.strip_prefix("error: ").unwrap_or(msg);
    if m.starts_with("line ") {
        if let Some(i) = m.find(": ") {
            m = &m[i + 2..];
        }
    }
    if let Some(i) = m.find(", set DuplicateKeyPolicy") {
        m = &m[..i];
    }
    if m.starts_with("multiple YAML documents") {
        return "more than one YAML document (`---`); a configuration is one document".into();
    }
    if m.starts_with("budget breached") || m.starts_with("recursion limit") {
        return format!("the document is too large or too deeply nested ({m})");
    }
    m.to_string()
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}
