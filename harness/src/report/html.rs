//! The HTML report: `report::page`'s model rendered by an askama template
//! (`harness/templates/report.html`, every value HTML-escaped except the charts' SVG,
//! which the chart code escapes and `page::inline_svg` checks). One self-contained
//! file: styles inline, SVG charts inline, no script, no font or image from elsewhere.
//!
//! `render` is a pure function of the page. `result_files` and `link_dir` are the
//! little I/O the page needs: the names of a result directory's files and the relative
//! path from the page to them.

use super::load::Loaded;
use super::page::{Page, PageRun};
use askama::Template;
use std::path::{Component, Path, PathBuf};

#[derive(Template)]
#[template(path = "report.html")]
struct ReportTemplate<'a> {
    page: &'a Page,
}

/// The template could not render the page (a bug in the template, not a bad input).
#[derive(Debug, thiserror::Error)]
#[error("cannot render the HTML page: {0}")]
pub struct HtmlError(String);

/// The page as one HTML document.
pub fn render(page: &Page) -> Result<String, HtmlError> {
    ReportTemplate { page }
        .render()
        .map_err(|e| HtmlError(e.to_string()))
}

/// The names of the regular files in a result directory, sorted (empty when it cannot
/// be read: the page then has no links).
pub fn result_files(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// The relative path from directory `from` (where the page is) to directory `to` (a
/// result), ending in '/', or "" when they are the same. None when either cannot be
/// resolved.
pub fn link_dir(from: &Path, to: &Path) -> Option<String> {
    let from = from.canonicalize().ok()?;
    let to = to.canonicalize().ok()?;
    Some(relative(&from, &to))
}

/// `to` relative to `from`, both absolute and normalised: "../b/c/" style, "" when equal.
pub fn relative(from: &Path, to: &Path) -> String {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut p = PathBuf::new();
    for _ in common..f.len() {
        p.push("..");
    }
    for c in &t[common..] {
        p.push(c.as_os_str());
    }
    let s = p.to_string_lossy().into_owned();
    if s.is_empty() {
        s
    } else {
        format!("{}/", super::page::href_escape(&s))
    }
}

/// The file name of the page in its directory.
pub const INDEX: &str = "index.html";

/// The runs of `loaded` as the page in directory `page_dir` sees them: labelled by the
/// result directory as given, linked by a relative path, with the files found there.
pub fn page_runs<'a>(loaded: &'a [Loaded], page_dir: &Path) -> Vec<PageRun<'a>> {
    loaded
        .iter()
        .map(|l| {
            let dir = match l.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            PageRun {
                record: &l.record,
                label: dir.display().to_string(),
                dir_name: crate::plot::dir_name(&dir),
                link_dir: link_dir(page_dir, &dir),
                files: result_files(&dir),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(relative(&p("/a/b"), &p("/a/b")), "");
        assert_eq!(relative(&p("/a/b"), &p("/a/b/c")), "c/");
        assert_eq!(relative(&p("/a/b/html"), &p("/a/b/r1")), "../r1/");
        assert_eq!(relative(&p("/x"), &p("/a/b c")), "../a/b%20c/");
    }
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use crate::report::markdown::tests::record_with_counters;
    use crate::report::page::build_page;

    /// Every string from a result goes through the template's escaping: a hostile
    /// workload name, backend name, reason, host or command renders as text.
    #[test]
    fn hostile_strings_render_as_text() {
        let mut rec = record_with_counters();
        let evil = "<script>alert('x')</script>";
        rec.workload["name"] = serde_json::json!(evil);
        rec.backends[0].name = format!("mmap\"><img src=x onerror=alert(1)>{evil}");
        rec.backends[1].reason = Some(format!("</td></tr></table>{evil}"));
        rec.environment.hostname = Some(format!("<b>{evil}</b>"));
        rec.command.push(evil.into());
        rec.backends[2]
            .reasons
            .replace(crate::probe::CounterId::MinorFaults, evil);
        let run = PageRun {
            record: &rec,
            label: format!("results/{evil}"),
            dir_name: evil.into(),
            link_dir: Some(String::new()),
            files: vec![format!("{evil}.hgrm"), "run.json".into()],
        };
        let html = render(&build_page(&[run], None, None)).unwrap();
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "a script element got through");
        assert!(!lower.contains("<img"), "an img element got through");
        assert!(
            !lower.contains("<b>"),
            "markup from the host name got through"
        );
        assert!(
            html.contains("&lt;script&gt;"),
            "the text is shown, escaped"
        );
        // Links are percent-encoded, then escaped: no quote ends the attribute.
        assert!(
            html.contains("href=\"%3Cscript%3E"),
            "files are linked encoded"
        );
        // The page has no script and loads nothing from elsewhere.
        assert!(!lower.contains("http://") || only_svg_namespace(&lower));
        assert!(!lower.contains("https://"));
    }

    /// The only URL allowed in a page is the SVG namespace (an identifier, never
    /// fetched).
    fn only_svg_namespace(lower: &str) -> bool {
        lower
            .match_indices("http://")
            .all(|(i, _)| lower[i..].starts_with("http://www.w3.org/"))
    }

    #[test]
    fn page_structure() {
        let rec = record_with_counters();
        let run = PageRun {
            record: &rec,
            label: "r".into(),
            dir_name: "r".into(),
            link_dir: Some(String::new()),
            files: vec!["run.json".into()],
        };
        let page = build_page(&[run], None, None);
        let html = render(&page).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        for id in ["verdict", "runs", "environment", "files"] {
            assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
        }
        let charts = page.workloads[0].charts.len();
        assert!(charts >= 3);
        assert_eq!(html.matches("<figure").count(), charts);
        assert_eq!(html.matches("<svg").count(), charts);
        assert!(html.contains("<a href=\"run.json\">run.json</a>"));
        assert!(!html.contains(" src="), "nothing is loaded");
    }
}
