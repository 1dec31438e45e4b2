//! The Debian archive to build from: `--mirror URI [--suite S]`, else the
//! build host's own apt configuration (deb822 `.sources` files, then
//! `sources.list`). No mirror host is written into riskpool.

use std::path::Path;

/// A Debian archive and suite.
#[derive(Clone, Debug, PartialEq)]
pub struct Mirror {
    pub uri: String,
    pub suite: String,
}

/// The first non-security Debian archive of this host's apt configuration.
pub fn from_host() -> Option<Mirror> {
    from_apt_dir(Path::new("/etc/apt"))
}

pub fn from_apt_dir(etc_apt: &Path) -> Option<Mirror> {
    let mut files: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sources"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza.lines().find_map(|l| {
                    l.strip_prefix(name)
                        .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                })
            };
            if let (Some(uri), Some(suite)) = (field("URIs:"), field("Suites:")) {
                if !suite.contains("security") && !uri.is_empty() && !suite.is_empty() {
                    return Some(Mirror { uri, suite });
                }
            }
        }
    }
    let text = std::fs::read_to_string(etc_apt.join("sources.list")).ok()?;
    text.lines().find_map(|l| {
        let w: Vec<&str> = l
            .split_whitespace()
            .filter(|w| !w.starts_with('['))
            .collect();
        match w.as_slice() {
            ["deb", uri, suite, ..] if !suite.contains("security") => Some(Mirror {
                uri: uri.to_string(),
                suite: suite.to_string(),
            }),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_deb822_and_one_line_sources() {
        let d = std::env::temp_dir().join(format!("rp-apt-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sources.list.d")).unwrap();
        std::fs::write(
            d.join("sources.list.d/debian.sources"),
            "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
        )
        .unwrap();
        assert_eq!(
            from_apt_dir(&d),
            Some(Mirror {
                uri: "http://mirror.example/debian".into(),
                suite: "bookworm".into()
            })
        );
        std::fs::remove_file(d.join("sources.list.d/debian.sources")).unwrap();
        std::fs::write(
            d.join("sources.list"),
            "deb [arch=amd64] http://other.example/debian trixie main\n",
        )
        .unwrap();
        assert_eq!(
            from_apt_dir(&d),
            Some(Mirror {
                uri: "http://other.example/debian".into(),
                suite: "trixie".into()
            })
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
