//! A release version: what an operator types, and what ends up as an image tag on hosts.

use serde::Serialize;

/// A validated version (a valid Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Version(String);

impl Version {
    pub fn parse(s: &str) -> Result<Version, String> {
        let ok_first = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let ok_rest = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if s.is_empty() || s.len() > 128 || !ok_first || !ok_rest {
            return Err(format!(
                "version `{}` is not a valid image tag: use letters, digits, `_`, `.` and `-` \
                 (at most 128, not starting with `.` or `-`), e.g. 1.4.2",
                s.escape_debug()
            ));
        }
        Ok(Version(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_tags_refuses_shell() {
        assert!(Version::parse("1.4.2").is_ok());
        assert!(Version::parse("9.9.9-unhealthy").is_ok());
        for bad in ["", "-1", ".x", "1 2", "a;b", "$(id)", "a/b", "a:b"] {
            assert!(Version::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn accepted_versions_need_no_quoting(s in "\\PC*") {
            if let Ok(v) = Version::parse(&s) {
                prop_assert!(v.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
            }
        }
    }
}
