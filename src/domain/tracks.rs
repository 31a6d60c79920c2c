//! The two tracks of a service (stable and canary) and what runs for one on a host.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackName {
    Stable,
    Canary,
}

impl std::fmt::Display for TrackName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrackName::Stable => "stable",
            TrackName::Canary => "canary",
        })
    }
}

/// What runs for a track on a host, read from docker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackState {
    /// The image tag of the track's container, if one exists.
    pub version: Option<String>,
    pub running: bool,
    /// docker's status text, e.g. `Up 3 minutes`.
    pub status: String,
}

impl StackState {
    /// The version, marked when stopped; `-` when there is no container.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) if self.running => v.clone(),
            Some(v) => format!("{v} (stopped)"),
            None => "-".into(),
        }
    }
}
