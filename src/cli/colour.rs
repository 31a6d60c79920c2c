//! Colour on the command line.

/// Whether to colour what goes to stdout: a terminal, and `NO_COLOR` not set (no-color.org).
pub fn colour_on_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
