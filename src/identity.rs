//! Who is acting. Today a name the operator's environment gives; one place, so that an
//! authenticated identity (signed with the operator's SSH key) can replace it.

/// Who is acting: `$SLUICE_OPERATOR`, else the login name.
pub fn operator() -> String {
    for var in ["SLUICE_OPERATOR", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return v;
            }
        }
    }
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
