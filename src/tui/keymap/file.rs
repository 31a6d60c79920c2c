//! Reading a keymap file: YAML mapping action names to a key or a list of keys. Only the
//! actions named change; the rest keep their defaults. Every problem is reported at once as
//! `FILE:LINE:COL: message`.
//!
//! ```yaml
//! deploy: D                 # one key
//! down: [j, down, ctrl-n]   # or a list
//! rollback-all: ["!", f12]  # quote punctuation: `!`, `?`, `:` mean something to YAML
//! refresh: []               # unbound
//! ```
//!
//! Where it is looked for: `--keys FILE` (or `$SLUICE_KEYS`), which must exist; else
//! `keys.yaml` beside the configuration file, if there is one; else the defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Act, Binding, Key, Keymap, ACTIONS, CTRL_C};
use crate::config::node::{self, Node, Value};
use crate::config::{did_you_mean, Diagnostic};

/// `sluice check` of the keymap file in use (when there is one): prints ok or every error as
/// `FILE:LINE:COL`; false when it has errors.
pub fn check(explicit: Option<&Path>, config: &Path) -> bool {
    let Some(p) = locate(explicit, config) else {
        return true;
    };
    match load(&p) {
        Ok(_) => {
            println!("{}: ok (keymap)", p.display());
            true
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!("{}: {} error(s)", p.display(), diags.len());
            false
        }
    }
}

/// The keymap file to read: the explicit one, else `keys.yaml` beside the configuration if
/// it exists.
pub fn locate(explicit: Option<&Path>, config: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let beside = config
        .parent()
        .map_or_else(|| PathBuf::from("keys.yaml"), |d| d.join("keys.yaml"));
    beside.is_file().then_some(beside)
}

/// The effective keymap for a console started with `explicit` (`--keys`) and `config`, and
/// the file it came from (None: the defaults).
pub fn load_for(
    explicit: Option<&Path>,
    config: &Path,
) -> Result<(Keymap, Option<PathBuf>), Vec<Diagnostic>> {
    match locate(explicit, config) {
        Some(p) => load(&p).map(|k| (k, Some(p))),
        None => Ok((Keymap::default(), None)),
    }
}

pub fn load(path: &Path) -> Result<Keymap, Vec<Diagnostic>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(vec![Diagnostic::new(
            path,
            1,
            1,
            format!("cannot read the keymap: {e} (it is named by --keys or $SLUICE_KEYS)"),
        )]),
    }
}

/// The keys given to one action in the file, each with where it was written.
struct Given<'n> {
    act: Act,
    at: &'n Node,
    keys: Vec<(Key, &'n Node)>,
}

pub fn parse(path: &Path, text: &str) -> Result<Keymap, Vec<Diagnostic>> {
    let root = match node::read(text) {
        Ok(n) => n,
        Err(e) => {
            let mut d = Diagnostic::from_yaml(path, text, &e);
            d.message
                .push_str(" (quote keys such as \"!\", \"?\" and \":\")");
            return Err(vec![d]);
        }
    };
    let mut diags = Vec::new();
    let mut err = |n: &Node, m: String| diags.push(Diagnostic::new(path, n.line, n.column, m));
    let entries: &[(Node, Node)] = match &root.value {
        Value::Map(m) => m,
        Value::Null => &[],
        other => {
            err(
                &root,
                format!(
                    "a keymap is a mapping of action names to keys (e.g. `deploy: D`), found {}",
                    other.found()
                ),
            );
            return Err(diags);
        }
    };
    let names: Vec<&str> = ACTIONS.iter().map(|i| i.name).collect();
    let mut given: Vec<Given> = Vec::new();
    for (k, v) in entries {
        let Value::Str(name) = &k.value else {
            err(
                k,
                format!("an action name must be a string, found {}", k.value.found()),
            );
            continue;
        };
        let Some(act) = Act::by_name(name) else {
            err(
                k,
                format!(
                    "unknown action `{name}`{}; the actions are: {}",
                    did_you_mean(name, &names),
                    names.join(", ")
                ),
            );
            continue;
        };
        if let Some(first) = given.iter().find(|g| g.act == act) {
            err(
                k,
                format!("`{name}` is listed twice (first at line {})", first.at.line),
            );
            continue;
        }
        let items: Vec<&Node> = match &v.value {
            Value::Seq(s) => s.iter().collect(),
            Value::Str(_) | Value::Int(_) => vec![v],
            other => {
                err(
                    v,
                    format!(
                        "`{name}` takes a key or a list of keys (`[]` unbinds it), found {}",
                        other.found()
                    ),
                );
                continue;
            }
        };
        let mut keys = Vec::new();
        for item in items {
            let text = match &item.value {
                Value::Str(s) => s.clone(),
                Value::Int(i) if (0..=9).contains(i) => i.to_string(),
                other => {
                    err(
                        item,
                        format!(
                            "a key name must be a string such as `j` or `ctrl-x`, found {}",
                            other.found()
                        ),
                    );
                    continue;
                }
            };
            if text.is_empty() {
                err(
                    item,
                    "an empty key name: quote punctuation keys, e.g. `\"!\"` (an unquoted `!` is a YAML tag)".into(),
                );
                continue;
            }
            match Key::parse(&text) {
                Ok(key) if key == CTRL_C && act != Act::Quit => err(
                    item,
                    format!("ctrl-c always quits; pick another key for `{name}`"),
                ),
                Ok(key) => {
                    if !keys.iter().any(|(k, _)| *k == key) {
                        keys.push((key, item));
                    }
                }
                Err(e) => err(item, e),
            }
        }
        if keys.is_empty()
            && act.info().required
            && matches!(&v.value, Value::Seq(s) if s.is_empty())
        {
            err(
                v,
                format!("`{name}` cannot be left without a key: an on-call engineer must always be able to do it"),
            );
        }
        given.push(Given { act, at: k, keys });
    }

    // Who holds each key now: a key written in the file, or a default of an action the file
    // leaves alone.
    let mut holder: HashMap<Key, (Act, Option<&Node>)> = HashMap::new();
    for i in ACTIONS {
        if given.iter().all(|g| g.act != i.act) {
            for k in i.defaults {
                holder.insert(*k, (i.act, None));
            }
        }
    }
    for g in &given {
        for (key, at) in &g.keys {
            match holder.get(key) {
                Some((other, Some(first))) => err(
                    at,
                    format!(
                        "`{}` is bound to both `{}` (line {}) and `{}`; a key does one thing",
                        key.label(),
                        other.info().name,
                        first.line,
                        g.act.info().name
                    ),
                ),
                Some((other, None)) => err(
                    at,
                    format!(
                        "`{}` is bound to `{}` by default; give `{}` other keys in this file, or pick another key for `{}`",
                        key.label(),
                        other.info().name,
                        other.info().name,
                        g.act.info().name
                    ),
                ),
                None => {
                    holder.insert(*key, (g.act, Some(*at)));
                }
            }
        }
    }
    if !diags.is_empty() {
        diags.sort_by_key(|d| (d.line, d.column));
        return Err(diags);
    }
    let bindings = ACTIONS
        .iter()
        .map(|i| {
            let mut keys = match given.iter().find(|g| g.act == i.act) {
                Some(g) => g.keys.iter().map(|(k, _)| *k).collect(),
                None => i.defaults.to_vec(),
            };
            if i.act == Act::Quit && !keys.contains(&CTRL_C) {
                keys.push(CTRL_C);
            }
            Binding { act: i.act, keys }
        })
        .collect();
    Ok(Keymap { bindings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    fn parse_ok(text: &str) -> Keymap {
        parse(Path::new("keys.yaml"), text).unwrap_or_else(|d| panic!("{d:?}"))
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(Path::new("keys.yaml"), text) {
            Ok(k) => panic!("accepted: {k:?}"),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(parse_ok(""), Keymap::default());
        assert_eq!(parse_ok("# nothing\n"), Keymap::default());
    }

    #[test]
    fn named_actions_take_the_new_keys_and_the_rest_keep_theirs() {
        let k = parse_ok(
            "deploy: D\ndown: [j, down, ctrl-n]\nrollback-all: [\"!\", f12]\nrefresh: []\n",
        );
        assert_eq!(
            k.lookup(&KeyEvent::from(KeyCode::Char('D'))),
            Some(Act::Deploy)
        );
        assert_eq!(k.lookup(&KeyEvent::from(KeyCode::Char('d'))), None);
        assert_eq!(
            k.lookup(&KeyEvent::new(KeyCode::Char('n'), KeyModifiers::CONTROL)),
            Some(Act::Down)
        );
        assert_eq!(
            k.lookup(&KeyEvent::from(KeyCode::F(12))),
            Some(Act::RollbackAll)
        );
        assert_eq!(k.lookup(&KeyEvent::from(KeyCode::Char('g'))), None);
        assert_eq!(
            k.lookup(&KeyEvent::from(KeyCode::Char('p'))),
            Some(Act::Promote)
        );
        assert!(k.binding(Act::Refresh).unwrap().keys.is_empty());
    }

    #[test]
    fn ctrl_c_always_quits() {
        let k = parse_ok("quit: v\n");
        assert_eq!(
            k.binding(Act::Quit).unwrap().keys,
            vec![Key::ch('v'), CTRL_C]
        );
        let e = errors("deploy: ctrl-c\n");
        assert_eq!(
            e,
            ["keys.yaml:1:9: ctrl-c always quits; pick another key for `deploy`"]
        );
    }

    #[test]
    fn unknown_actions_are_located_with_a_suggestion() {
        let e = errors("deploy: D\nrollback_all: X\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "keys.yaml:2:1: unknown action `rollback_all` (did you mean `rollback-all`?)"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn unparseable_keys_are_located() {
        let e = errors("deploy: [d, ctrl-, shift-g]\nhelp: 42\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with("keys.yaml:1:13: `ctrl-` names no key"),
            "{e:?}"
        );
        assert!(
            e[1].starts_with("keys.yaml:1:20: `shift-g`: write the shifted character"),
            "{e:?}"
        );
        assert!(
            e[2].starts_with("keys.yaml:2:7: a key name must be a string"),
            "{e:?}"
        );
    }

    #[test]
    fn a_key_bound_to_two_actions_is_refused_where_it_is_written() {
        let e = errors("deploy: v\npromote: [p, v]\n");
        assert_eq!(
            e,
            ["keys.yaml:2:14: `v` is bound to both `deploy` (line 1) and `promote`; a key does one thing"]
        );
        let e = errors("deploy: g\n");
        assert_eq!(
            e,
            ["keys.yaml:1:9: `g` is bound to `refresh` by default; give `refresh` other keys in this file, or pick another key for `deploy`"]
        );
        // Moving a default key away first makes it free.
        let k = parse_ok("deploy: g\nrefresh: G\n");
        assert_eq!(
            k.lookup(&KeyEvent::from(KeyCode::Char('g'))),
            Some(Act::Deploy)
        );
    }

    #[test]
    fn the_safety_keys_cannot_be_unbound_and_actions_are_named_once() {
        let e = errors("rollback-all: []\nhelp: v\nhelp: y\n");
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("keys.yaml:1:15: `rollback-all` cannot be left without a key"));
        assert!(e[1].starts_with("keys.yaml:3:1: `help` is listed twice (first at line 2)"));
    }

    #[test]
    fn yaml_errors_are_located_and_hint_at_quoting() {
        let e = errors("deploy: d\nhelp: [?\n");
        assert!(e[0].starts_with("keys.yaml:"), "{e:?}");
        assert!(e[0].contains("quote keys"), "{e:?}");
        let e = errors("rollback-all: !\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("keys.yaml:1:16: an empty key name: quote"),
            "{e:?}"
        );
        let e = errors("- d\n");
        assert!(
            e[0].starts_with("keys.yaml:1:1: a keymap is a mapping"),
            "{e:?}"
        );
    }

    #[test]
    fn locate_prefers_the_explicit_file_then_keys_yaml_beside_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sluice.yaml");
        assert_eq!(locate(None, &config), None);
        std::fs::write(dir.path().join("keys.yaml"), "deploy: D\n").unwrap();
        assert_eq!(locate(None, &config), Some(dir.path().join("keys.yaml")));
        let other = dir.path().join("mine.yaml");
        assert_eq!(locate(Some(&other), &config), Some(other.clone()));
        let (k, from) = load_for(None, &config).unwrap();
        assert_eq!(from, Some(dir.path().join("keys.yaml")));
        assert_eq!(
            k.lookup(&KeyEvent::from(KeyCode::Char('D'))),
            Some(Act::Deploy)
        );
        let e = load_for(Some(&other), &config).unwrap_err();
        assert!(e[0].message.contains("cannot read the keymap"), "{e:?}");
    }
}
