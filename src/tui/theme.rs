//! Colours by meaning (ok, warn, critical, muted, accent, stable, canary, title, selected,
//! production frame), not by widget. Themes are YAML files with inheritance; the shipped ones
//! (themes/*.yaml) are built in, and a directory of one's own can add or override them.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub ok: Style,
    pub warn: Style,
    pub critical: Style,
    pub muted: Style,
    pub accent: Style,
    pub stable: Style,
    pub canary: Style,
    pub title: Style,
    pub selected: Style,
    pub production_frame: Style,
}

const BUILT_IN: [(&str, &str); 4] = [
    ("dark.yaml", include_str!("../../themes/dark.yaml")),
    ("light.yaml", include_str!("../../themes/light.yaml")),
    (
        "high-contrast.yaml",
        include_str!("../../themes/high-contrast.yaml"),
    ),
    (
        "red-alert.yaml",
        include_str!("../../themes/red-alert.yaml"),
    ),
];

const ROLES: [&str; 10] = [
    "ok",
    "warn",
    "critical",
    "muted",
    "accent",
    "stable",
    "canary",
    "title",
    "selected",
    "production_frame",
];

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    inherits: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, RoleSpec>,
}

/// Every theme known: built in, plus those of a directory.
#[derive(Debug, Clone)]
pub struct Themes {
    files: BTreeMap<String, ThemeFile>,
}

fn color(s: &str) -> Result<Color, String> {
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() == 6 {
            if let Ok(v) = u32::from_str_radix(hex, 16) {
                return Ok(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
            }
        }
        return Err(format!("`{s}` is not a #rrggbb colour"));
    }
    Ok(match s {
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" => Color::Gray,
        "dark-gray" => Color::DarkGray,
        "light-red" => Color::LightRed,
        "light-green" => Color::LightGreen,
        "light-yellow" => Color::LightYellow,
        "light-blue" => Color::LightBlue,
        "light-magenta" => Color::LightMagenta,
        "light-cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return Err(format!("unknown colour `{s}`")),
    })
}

fn style(spec: &RoleSpec) -> Result<Style, String> {
    let mut st = Style::new();
    if let Some(fg) = &spec.fg {
        st = st.fg(color(fg)?);
    }
    if let Some(bg) = &spec.bg {
        st = st.bg(color(bg)?);
    }
    if spec.bold {
        st = st.add_modifier(Modifier::BOLD);
    }
    if spec.underline {
        st = st.add_modifier(Modifier::UNDERLINED);
    }
    if spec.reversed {
        st = st.add_modifier(Modifier::REVERSED);
    }
    Ok(st)
}

impl Themes {
    pub fn built_in() -> Themes {
        let mut files = BTreeMap::new();
        for (_, text) in BUILT_IN {
            // The built-in files are tested to parse; a broken one is skipped, never a panic.
            if let Ok(f) = serde_saphyr::from_str::<ThemeFile>(text) {
                files.insert(f.name.clone(), f);
            }
        }
        Themes { files }
    }

    /// Built-in themes plus every `*.yaml` in `dir` (which may override them by name).
    /// Returns the problems found, each naming its file, alongside what loaded.
    pub fn with_dir(dir: &Path) -> (Themes, Vec<String>) {
        let mut themes = Themes::built_in();
        let mut problems = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (themes, problems);
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) != Some("yaml") {
                continue;
            }
            match std::fs::read_to_string(&p)
                .map_err(|e| e.to_string())
                .and_then(|t| serde_saphyr::from_str::<ThemeFile>(&t).map_err(|e| e.to_string()))
            {
                Ok(f) => {
                    themes.files.insert(f.name.clone(), f);
                }
                Err(err) => problems.push(format!(
                    "{}: {}",
                    p.display(),
                    err.lines().next().unwrap_or("")
                )),
            }
        }
        (themes, problems)
    }

    pub fn names(&self) -> Vec<String> {
        self.files.keys().cloned().collect()
    }

    /// Resolve a theme with its ancestors (a child's roles win).
    pub fn get(&self, name: &str) -> Result<Theme, String> {
        let mut chain = Vec::new();
        let mut at = Some(name.to_string());
        while let Some(n) = at {
            if chain.iter().any(|f: &&ThemeFile| f.name == n) {
                return Err(format!("theme `{name}` inherits in a loop through `{n}`"));
            }
            let f = self
                .files
                .get(&n)
                .ok_or_else(|| format!("no theme `{n}`; themes: {}", self.names().join(", ")))?;
            chain.push(f);
            at = f.inherits.clone();
        }
        let mut roles: BTreeMap<String, RoleSpec> = BTreeMap::new();
        for f in chain.iter().rev() {
            for (k, v) in &f.roles {
                if !ROLES.contains(&k.as_str()) {
                    return Err(format!(
                        "theme `{}`: unknown role `{k}`; roles: {}",
                        f.name,
                        ROLES.join(", ")
                    ));
                }
                roles.insert(k.clone(), v.clone());
            }
        }
        let get = |r: &str| -> Result<Style, String> {
            roles
                .get(r)
                .map(style)
                .unwrap_or(Ok(Style::new()))
                .map_err(|e| format!("theme `{name}`, role {r}: {e}"))
        };
        Ok(Theme {
            name: name.to_string(),
            ok: get("ok")?,
            warn: get("warn")?,
            critical: get("critical")?,
            muted: get("muted")?,
            accent: get("accent")?,
            stable: get("stable")?,
            canary: get("canary")?,
            title: get("title")?,
            selected: get("selected")?,
            production_frame: get("production_frame")?,
        })
    }
}

impl Default for Theme {
    fn default() -> Self {
        Themes::built_in().get("dark").unwrap_or(Theme {
            name: "plain".into(),
            ok: Style::new(),
            warn: Style::new(),
            critical: Style::new().add_modifier(Modifier::BOLD),
            muted: Style::new(),
            accent: Style::new(),
            stable: Style::new(),
            canary: Style::new(),
            title: Style::new().add_modifier(Modifier::BOLD),
            selected: Style::new().add_modifier(Modifier::REVERSED),
            production_frame: Style::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_theme_resolves() {
        let t = Themes::built_in();
        assert_eq!(t.names(), ["dark", "high-contrast", "light", "red-alert"]);
        for n in t.names() {
            t.get(&n).unwrap();
        }
        assert_eq!(Theme::default().name, "dark");
    }

    #[test]
    fn children_override_their_parent() {
        let t = Themes::built_in();
        let dark = t.get("dark").unwrap();
        let red = t.get("red-alert").unwrap();
        assert_eq!(red.ok, dark.ok);
        assert_ne!(red.production_frame, dark.production_frame);
        assert_eq!(red.production_frame.bg, Some(Color::Red));
    }

    #[test]
    fn bad_themes_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.yaml"), "name: x\ninherits: nope\n").unwrap();
        std::fs::write(
            dir.path().join("y.yaml"),
            "name: y\nroles: { ok: { fg: puce } }\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("z.yaml"), "name: z\nroles: { shiny: {} }\n").unwrap();
        std::fs::write(dir.path().join("broken.yaml"), "name: [\n").unwrap();
        let (t, problems) = Themes::with_dir(dir.path());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("broken.yaml"));
        assert!(t.get("x").unwrap_err().contains("no theme `nope`"));
        assert!(t.get("y").unwrap_err().contains("unknown colour `puce`"));
        assert!(t.get("z").unwrap_err().contains("unknown role `shiny`"));
        assert!(color("#00ff7f").is_ok() && color("#zzz").is_err());
    }
}
