//! `sluice check` validates the console's keymap file too: `--keys FILE`, `$SLUICE_KEYS`, or
//! `keys.yaml` beside the configuration; errors located as FILE:LINE:COL.

use std::process::Command;

const LAB: &str = include_str!("../config/lab.yaml");

fn check(dir: &std::path::Path, args: &[&str], env_keys: Option<&str>) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.arg("check")
        .arg("--config")
        .arg(dir.join("sluice.yaml"))
        .args(args)
        .env_remove("SLUICE_KEYS")
        .env_remove("SLUICE_CONFIG");
    if let Some(k) = env_keys {
        c.env("SLUICE_KEYS", k);
    }
    let out = c.output().expect("run sluice");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_reads_keys_yaml_beside_the_config_and_the_named_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sluice.yaml"), LAB).unwrap();
    // No keymap: the defaults, nothing to check.
    let (code, out, _) = check(dir.path(), &[], None);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("keymap"), "{out}");

    std::fs::write(dir.path().join("keys.yaml"), "deploy: D\n").unwrap();
    let (code, out, _) = check(dir.path(), &[], None);
    assert_eq!(code, 0);
    assert!(out.contains("keys.yaml: ok (keymap)"), "{out}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "deploy: g\nrolback: R\n").unwrap();
    let bad_s = bad.display().to_string();
    for (args, env) in [
        (vec!["--keys", bad_s.as_str()], None),
        (vec![], Some(bad_s.as_str())),
    ] {
        let (code, _, err) = check(dir.path(), &args, env);
        assert_eq!(code, 2, "{err}");
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines[0].starts_with(&format!(
                "{bad_s}:1:9: `g` is bound to `refresh` by default"
            )),
            "{err}"
        );
        assert!(
            lines[1].starts_with(&format!(
                "{bad_s}:2:1: unknown action `rolback` (did you mean `rollback`?)"
            )),
            "{err}"
        );
    }

    let (code, _, err) = check(dir.path(), &["--keys", "/nonexistent/keys.yaml"], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/keys.yaml:1:1: cannot read the keymap"),
        "{err}"
    );
}
