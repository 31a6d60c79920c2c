//! A secret read from the environment: printed only as the variable's name.

/// A webhook URL or bot token. `Debug` and `Display` show `$VAR`, never the value.
#[derive(Clone, PartialEq)]
pub struct Secret {
    var: String,
    value: String,
}

impl Secret {
    pub fn new(var: &str, value: String) -> Self {
        Secret {
            var: var.to_string(),
            value,
        }
    }

    /// The value, for building a request only.
    pub fn expose(&self) -> &str {
        &self.value
    }

    pub fn var(&self) -> &str {
        &self.var
    }

    /// A copy holding `value`, shown under the same variable's name.
    pub fn derive(&self, value: String) -> Secret {
        Secret {
            var: self.var.clone(),
            value,
        }
    }

    /// `text` with every occurrence of the secret (and of its longer parts, such as a
    /// webhook path or a token) replaced by `$VAR`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mark = format!("${}", self.var);
        let mut parts: Vec<&str> = vec![self.value.as_str()];
        parts.extend(
            self.value
                .split(['/', '?', '&', '=', ':', '@'])
                .filter(|p| p.len() >= 8),
        );
        for p in parts {
            if !p.is_empty() {
                out = out.replace(p, &mark);
            }
        }
        out
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.var)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "${}", self.var)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed() {
        let s = Secret::new(
            "SLACK_URL",
            "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX".into(),
        );
        assert_eq!(format!("{s:?} {s}"), "$SLACK_URL $SLACK_URL");
        let msg = "error sending request for url (https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX): boom; path XXXXSECRETXXXX";
        let r = s.redact(msg);
        assert!(!r.contains("XXXXSECRETXXXX"), "{r}");
        assert!(r.contains("$SLACK_URL"));
    }
}
