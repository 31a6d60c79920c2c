//! Pre-deploy checks that read a host: is the canary's port free, is there disk space. The
//! parsers are pure; bad output is an error that names the host.

use super::{scripts, HostError, ServiceOnHost, TrackName};

/// Free space under one path, from `df -Pk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFree {
    pub path: String,
    pub mount: String,
    pub available: u64,
}

/// Parse `df -Pk PATH…` (POSIX format: a header, then one line per path with 1024-byte
/// blocks; the mount point is the last field and may hold spaces). `paths` are the paths
/// asked for, in order.
pub fn parse_df(out: &str, paths: &[String]) -> Result<Vec<DiskFree>, String> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    match lines.next() {
        Some(h) if h.starts_with("Filesystem") => {}
        other => {
            return Err(format!(
                "unexpected `df -Pk` output (no header): {:?}",
                other.unwrap_or("")
            ))
        }
    }
    let rows: Vec<&str> = lines.collect();
    if rows.len() != paths.len() {
        return Err(format!(
            "`df -Pk` printed {} line(s) for {} path(s): {:?}",
            rows.len(),
            paths.len(),
            rows
        ));
    }
    rows.iter()
        .zip(paths)
        .map(|(row, path)| {
            let f: Vec<&str> = row.split_whitespace().collect();
            // Filesystem, blocks, used, available, capacity, mount…: the filesystem name has
            // no spaces in POSIX mode, the mount point might.
            if f.len() < 6 || !f[4].ends_with('%') {
                return Err(format!("unexpected `df -Pk` line: {row:?}"));
            }
            let kib: u64 = f[3].parse().map_err(|_| {
                format!("`df -Pk`: available `{}` is not a number in {row:?}", f[3])
            })?;
            Ok(DiskFree {
                path: path.clone(),
                mount: f[5..].join(" "),
                available: kib.saturating_mul(1024),
            })
        })
        .collect()
}

/// Listening sockets on `port` that would take `addr:port` (the address itself, or a
/// wildcard), from `ss -Hltn` output: [`crate::remote::ports::listeners`] on that port.
pub fn parse_listeners(out: &str, addr: &str, port: u16) -> Result<Vec<String>, String> {
    Ok(crate::remote::ports::listeners(out, addr)?
        .into_iter()
        .filter(|(_, p)| *p == port)
        .map(|(local, _)| local)
        .collect())
}

fn dir_of(file: &str) -> String {
    match file.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => file[..i].to_string(),
        None => ".".to_string(),
    }
}

impl ServiceOnHost<'_> {
    /// Is anything listening where the track's stack must bind? (Asked when our own stack
    /// for that track is not running: then any listener is a stranger.)
    pub async fn port_free(&self, t: TrackName) -> Result<(), HostError> {
        let port = match self.track(t).port {
            crate::config::Port::Fixed(p) => p,
            // Allocated when the stack starts: check that the range has one to give.
            crate::config::Port::Auto => return self.port_plan(t).await.map(|_| ()),
        };
        let out = self
            .run(scripts::LISTENERS.with("list listening ports", Vec::<String>::new()))
            .await?;
        if !out.ok() {
            return Err(self.err(format!(
                "cannot list listening ports with `ss -Hltn` (install iproute2 on the host): {}",
                out.tail(2)
            )));
        }
        let addr = &self.host.backend_address;
        let hits = parse_listeners(&out.stdout, addr, port).map_err(|e| self.err(e))?;
        if hits.is_empty() {
            Ok(())
        } else {
            Err(self.err(format!(
                "port {port} for the {t} track is already taken on the host ({}) by something \
                 other than the {t} stack {}; stop it or choose another port",
                hits.join(", "),
                self.track(t).project
            )))
        }
    }

    /// Free space on docker's data directory and the compose files' directories, each at
    /// least `min` bytes.
    pub async fn disk_free(&self, min: u64) -> Result<Vec<DiskFree>, HostError> {
        let mut dirs = vec![
            dir_of(&self.paths.stable.compose_file),
            dir_of(&self.paths.canary.compose_file),
        ];
        dirs.dedup();
        let out = self
            .run(scripts::DISK_FREE.with("check disk space", dirs.clone()))
            .await?;
        let (root, df) = out.stdout.split_once('\n').unwrap_or(("", ""));
        let mut paths: Vec<String> = Vec::new();
        if !root.trim().is_empty() {
            paths.push(root.trim().to_string());
        }
        paths.extend(dirs);
        if !out.ok() {
            return Err(self.err(format!(
                "`df -Pk {}` failed: {}",
                paths.join(" "),
                out.tail(2)
            )));
        }
        let free = parse_df(df, &paths).map_err(|e| self.err(e))?;
        let low: Vec<String> = free
            .iter()
            .filter(|d| d.available < min)
            .map(|d| format!("{} has {} free (on {})", d.path, size(d.available), d.mount))
            .collect();
        if low.is_empty() {
            Ok(free)
        } else {
            Err(self.err(format!(
                "not enough disk space: {}; checks.disk_min is {}. Free some space first",
                low.join(", "),
                size(min)
            )))
        }
    }
}

/// Bytes in the largest binary unit, one decimal: `1.5 GiB`.
pub fn size(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_is_parsed_with_spaces_in_mounts_and_errors_on_junk() {
        let out = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n\
                   /dev/sda1        102400000  51200000  51200000      50% /\n\
                   /dev/sdb1          1000000    999000      1000     100% /mnt/my data\n";
        let paths = vec!["/var/lib/docker".to_string(), "/mnt/my data/x".to_string()];
        let d = parse_df(out, &paths).unwrap();
        assert_eq!(d[0].available, 51_200_000 * 1024);
        assert_eq!(d[1].mount, "/mnt/my data");
        assert!(parse_df("df: /x: No such file or directory\n", &paths).is_err());
        assert!(parse_df("Filesystem x\n/dev/sda1 1 2 lots 3% /\n", &paths[..1]).is_err());
        assert!(parse_df(out, &paths[..1]).is_err(), "line count must match");
        assert!(parse_df("", &paths).is_err());
    }

    #[test]
    fn listeners_match_the_address_or_a_wildcard() {
        let out = "LISTEN 0 4096 127.0.0.11:8082 0.0.0.0:*\n\
                   LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\n\
                   LISTEN 0 128 [::]:9000 [::]:*\n\
                   LISTEN 0 128 127.0.0.12:8082 0.0.0.0:*\n\
                   LISTEN 0 128 [::ffff:127.0.0.13]:8082 [::]:*\n";
        assert_eq!(
            parse_listeners(out, "127.0.0.11", 8082).unwrap(),
            ["127.0.0.11:8082"]
        );
        assert_eq!(
            parse_listeners(out, "127.0.0.13", 8082).unwrap(),
            ["[::ffff:127.0.0.13]:8082"]
        );
        assert!(parse_listeners(out, "127.0.0.14", 8082).unwrap().is_empty());
        assert_eq!(
            parse_listeners(out, "10.0.0.1", 9000).unwrap(),
            ["[::]:9000"]
        );
        assert!(parse_listeners("garbage\n", "x", 1).is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 29), "1.5 GiB");
    }
}
