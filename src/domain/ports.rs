//! Port ranges a host hands out to `port: auto` tracks (allocated by `remote::ports`).

use std::fmt;

/// An inclusive range of ports, `START-END`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    /// `"20000-20099"` (inclusive, start ≤ end, start ≥ 1).
    pub fn parse(s: &str) -> Result<PortRange, String> {
        let bad = || format!("`{s}` is not a port range; write START-END, such as 20000-20099");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let start: u16 = a.trim().parse().map_err(|_| bad())?;
        let end: u16 = b.trim().parse().map_err(|_| bad())?;
        if start == 0 || start > end {
            return Err(format!(
                "port range `{s}` is empty or starts at 0; write START-END with 1 ≤ START ≤ END"
            ));
        }
        Ok(PortRange { start, end })
    }

    pub fn contains(&self, port: u16) -> bool {
        (self.start..=self.end).contains(&port)
    }

    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}
