//! `sluice nginx plan` prints the engine's own rewrite, and refuses bad input clearly.

use std::process::Command;

const CONF: &str = "# lab upstream\r\nupstream demo_backend {\r\n    server 127.0.0.11:8081 weight=100 max_fails=3;   # stable\r\n    server 127.0.0.11:8082 weight=1 down;\r\n    keepalive 16;\r\n}\r\n";

fn plan(file: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["nginx", "plan", "--file"])
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn prints_the_rewrite_with_only_the_weights_changed() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("demo.conf");
    std::fs::write(&f, CONF).unwrap();
    let out = plan(
        &f,
        &[
            "--upstream",
            "demo_backend",
            "--weight",
            "127.0.0.11:8081=75",
            "--weight",
            "127.0.0.11:8082=25",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = CONF
        .replace(
            "8081 weight=100 max_fails=3;",
            "8081 weight=75 max_fails=3;",
        )
        .replace("8082 weight=1 down;", "8082 weight=25;");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    // The file itself is not touched.
    assert_eq!(std::fs::read_to_string(&f).unwrap(), CONF);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("demo.conf");
    std::fs::write(&f, CONF).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--upstream", "nope", "--weight", "127.0.0.11:8081=1"],
            "no `upstream nope",
        ),
        (
            &[
                "--upstream",
                "demo_backend",
                "--weight",
                "127.0.0.11:9999=1",
            ],
            "has no `server 127.0.0.11:9999`",
        ),
        (
            &["--upstream", "demo_backend", "--weight", "127.0.0.11:8081"],
            "expected ADDR=N",
        ),
        (
            &[
                "--upstream",
                "demo_backend",
                "--weight",
                "127.0.0.11:8081=x",
            ],
            "not a whole number",
        ),
    ];
    for (args, needle) in cases {
        let out = plan(&f, args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let out = plan(
        &dir.path().join("missing.conf"),
        &["--upstream", "u", "--weight", "a=1"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}
