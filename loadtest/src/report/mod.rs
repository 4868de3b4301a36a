//! Drill reports: the JSON document (everything, for machines and for re-rendering), a
//! self-contained HTML page with charts (for people), and where the two go
//! ([`report_paths`]).

mod html;
pub mod sim_html;
pub mod svg;

use std::path::{Path, PathBuf};

use crate::drill::DrillReport;
use crate::error::{Error, Result};

pub use html::render;

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn write(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            what: "creating",
            path: dir.to_owned(),
            source,
        })?;
    }
    std::fs::write(path, contents).map_err(|source| Error::Io {
        what: "writing",
        path: path.to_owned(),
        source,
    })
}

fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Where a drill's reports go: `<out>/<name>-<run id>.{json,html}`.
pub fn report_paths(out: &Path, name: &str, run_id: &str) -> (PathBuf, PathBuf) {
    let stem = format!("{}-{run_id}", slug(name));
    (
        out.join(format!("{stem}.json")),
        out.join(format!("{stem}.html")),
    )
}

/// Writes the report as pretty JSON.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_json(report: &DrillReport, path: &Path) -> Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(|source| Error::Json {
        what: "the drill report".to_owned(),
        source,
    })?;
    write(path, &json)
}

/// Writes the report as a self-contained HTML page.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_html(report: &DrillReport, path: &Path) -> Result<()> {
    write(path, &render(report))
}

/// Reads a report written by [`write_json`].
///
/// # Errors
/// [`Error::Io`] or [`Error::Json`].
pub fn read_json(path: &Path) -> Result<DrillReport> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        what: "reading",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        what: format!("{} is not a drill report", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_are_named_after_the_drill_and_run() {
        let (json, html) = report_paths(Path::new("out"), "Victim fails mid-flood!", "run-1");
        assert_eq!(json, Path::new("out/victim-fails-mid-flood-run-1.json"));
        assert_eq!(html, Path::new("out/victim-fails-mid-flood-run-1.html"));
    }
}
