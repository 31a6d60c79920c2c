//! What `sluice check` can tell about an upstream file's place in nginx's includes from the
//! configuration alone. sluice's own helper files never fall under an include glob (they sit
//! in a `.sluice/` directory beside the file, and glob(3) never matches a leading dot); the
//! upstream file itself must be matched by the include that loads it.

/// A warning for an upstream file whose name nginx's usual include globs would not load.
pub fn upstream_file_warning(service: &str, upstream_file: &str) -> Option<String> {
    let name = upstream_file.rsplit('/').next().unwrap_or(upstream_file);
    if name.starts_with('.') {
        return Some(format!(
            "service {service}: nginx.upstream_file {upstream_file} starts with a dot: no include \
             glob (`*`, `*.conf`) loads it, so its weights would change nothing; rename it"
        ));
    }
    if !name.ends_with(".conf") {
        return Some(format!(
            "service {service}: nginx.upstream_file {upstream_file} does not end in .conf: \
             `include conf.d/*.conf;` (Debian's default) would not load it; make sure an include \
             of nginx's names it (e.g. `include sites-enabled/*;`)"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_outside_the_usual_globs_are_warned_about() {
        assert_eq!(
            upstream_file_warning("api", "/etc/nginx/conf.d/api.conf"),
            None
        );
        let w = upstream_file_warning("api", "/etc/nginx/sites-enabled/api").unwrap();
        assert!(w.contains("does not end in .conf"), "{w}");
        let w = upstream_file_warning("api", "/etc/nginx/conf.d/.api.conf").unwrap();
        assert!(w.contains("starts with a dot"), "{w}");
    }
}
