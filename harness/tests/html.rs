//! The HTML report through the binary: `run --html` on the quick workload (made tiny),
//! the page's structure (every backend row, every chart inline or listed with its
//! reason, nothing loaded from elsewhere, every link reaching a file), `report --html`
//! over several results and an old one, the refusals, a hostile record, and, where
//! Chromium is installed, the page drawn by a real browser.

mod common;
use common::*;
use std::path::{Path, PathBuf};

const CHARTS: [&str; 10] = [
    "throughput",
    "faults-shootdowns",
    "amplification",
    "latency-percentiles",
    "latency-cdf",
    "ops-bars",
    "latency-over-time",
    "latency-heatmap",
    "ops-by-kind",
    "sync-latency",
];

/// The quick workload's backends, small and short.
fn quick_run(dir: &Path, name: &str) -> (PathBuf, String) {
    let out = dir.join(name);
    let data = dir.join("data");
    let wl = repo_root().join("workloads/quick.toml");
    let o = run(&[
        "run",
        wl.to_str().unwrap(),
        "--size",
        "8MiB",
        "--duration",
        "300ms",
        "--warmup",
        "50ms",
        "--interval",
        "100ms",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--html",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    (out, String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The values of every `attr="..."` in the page.
fn attrs<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(" {attr}=\"");
    html.match_indices(&key)
        .map(|(i, _)| {
            let rest = &html[i + key.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect()
}

/// A percent-encoded href back to a path.
fn decode(href: &str) -> String {
    let b = href.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&href[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The structure every page must have: no script, nothing loaded, links that reach
/// files beside `page_dir`, every chart inline or listed with the reason.
fn check_page(page_dir: &Path, html: &str) {
    let lower = html.to_ascii_lowercase();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!lower.contains("<script"), "no script");
    for tag in [
        "<img", "<link", "<iframe", "<object", "<embed", "@import", "url(",
    ] {
        assert!(!lower.contains(tag), "the page loads nothing: {tag}");
    }
    assert!(attrs(html, "src").is_empty(), "{:?}", attrs(html, "src"));
    for href in attrs(html, "href") {
        assert!(!href.contains("://") && !href.starts_with("//"), "{href}");
        if let Some(anchor) = href.strip_prefix('#') {
            assert!(html.contains(&format!("id=\"{anchor}\"")), "{href}");
        } else {
            let p = page_dir.join(decode(href));
            assert!(p.is_file(), "{href}: {} missing", p.display());
        }
    }
    // The only URL is the SVG namespace inside the charts.
    for (i, _) in lower.match_indices("http") {
        assert!(
            lower[i..].starts_with("http://www.w3.org/2000/svg")
                || lower[i..].starts_with("http://www.w3.org/1999/xlink"),
            "{}",
            &html[i..i + 60]
        );
    }
    // Every chart: drawn inline (a figure holding an svg element) or listed under
    // "Not drawn" with the reason.
    let figures = html.matches("<figure").count();
    assert_eq!(
        figures,
        html.matches("<svg").count(),
        "every figure is an inline SVG"
    );
    assert!(figures >= 1, "at least one chart");
    for stem in CHARTS {
        let drawn = html.contains(&format!("-{stem}\">\n<figcaption>"));
        let skipped = html.contains(&format!("<li>{stem}: "));
        assert!(drawn ^ skipped, "{stem}: drawn {drawn}, listed {skipped}");
    }
}

#[test]
fn run_html_on_the_quick_workload() {
    let dir = scratch("html");
    let (out, stdout) = quick_run(&dir, "quick");
    let index = out.join("index.html");
    assert!(
        stdout.contains(&format!("page: {}", index.display())),
        "{stdout}"
    );
    let html = std::fs::read_to_string(&index).unwrap();
    check_page(&out, &html);
    // Sections of the issue: what was run, verdict, summary, charts, counters,
    // environment, files.
    for part in [
        "id=\"verdict\"",
        "id=\"runs\"",
        "-summary\"",
        "-charts\"",
        "-counters\"",
        "id=\"environment\"",
        "id=\"files\"",
        "Fastest: ",
        "<dt>timing floor</dt>",
        "<dt>kernel</dt>",
        "<dt>clocksource</dt>",
        "<dt>virtio balloon</dt>",
        ">run.json</a>",
        ">timeseries.csv</a>",
        ".hgrm</a>",
    ] {
        assert!(html.contains(part), "{part}");
    }
    // Every backend of the record has a row in the summary table (by its name in the
    // first cell), measured or not.
    let rec = load(&out);
    assert_eq!(rec.backends.len(), 4, "quick has four backends");
    for b in &rec.backends {
        assert!(
            html.contains(&format!(
                "<td class=\"text\">{}</td><td class=\"num\">{}</td>",
                b.name, b.threads
            )) || html.contains(&format!("<td class=\"bad\">{}</td>", b.name)),
            "{} has no row",
            b.name
        );
    }
    // The command and the revision are the record's.
    assert!(html.contains("--html"), "the command is shown");
    // The throughput chart is there, drawn from the record (no --plot: no files).
    assert!(!out.join("throughput.svg").exists());
    assert!(html.contains("Throughput over time"));

    // report --html over this result and a second one: one table, both pooled, links
    // relative from the page's directory; never replacing the page.
    let (second, _) = quick_run(&dir, "quick2");
    let pages = dir.join("pages");
    let o = run(&[
        "report",
        out.to_str().unwrap(),
        second.to_str().unwrap(),
        "--html",
        pages.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        o.stdout.starts_with(b"page: "),
        "no markdown on stdout with --html"
    );
    let html = std::fs::read_to_string(pages.join("index.html")).unwrap();
    check_page(&pages, &html);
    assert!(html.contains("2 run(s) pooled"), "pooled");
    assert!(
        html.contains("href=\"../quick/run.json\""),
        "relative links"
    );
    let o = run(&[
        "report",
        out.to_str().unwrap(),
        "--html",
        pages.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    // Against a baseline: the verdict says what regressed (nothing past 1000% here).
    let o = run(&[
        "report",
        second.to_str().unwrap(),
        "--html",
        dir.join("vs").to_str().unwrap(),
        "--baseline",
        out.to_str().unwrap(),
        "--threshold",
        "1000",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(dir.join("vs/index.html")).unwrap();
    assert!(
        html.contains("threshold 1000%: no regressions past 1000%."),
        "{html}"
    );
    let o = run(&[
        "report",
        out.to_str().unwrap(),
        "--baseline",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "--baseline needs --html: {}",
        text(&o)
    );
    // With --out the markdown is written too.
    let md = dir.join("r.md");
    let o = run(&[
        "report",
        out.to_str().unwrap(),
        "--html",
        dir.join("p2").to_str().unwrap(),
        "--out",
        md.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(&md)
        .unwrap()
        .contains("# faultline report"));
    // A file where the directory should be.
    let o = run(&[
        "report",
        out.to_str().unwrap(),
        "--html",
        md.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory"));

    browser_check(&out.join("index.html"), &dir);
}

/// A result made before the provenance fields, and one whose strings are hostile.
#[test]
fn report_html_on_an_old_and_a_hostile_record() {
    let dir = scratch("html-old");
    let old = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/run-before-provenance");
    let pages = dir.join("old");
    let o = run(&[
        "report",
        old.to_str().unwrap(),
        "--html",
        pages.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(pages.join("index.html")).unwrap();
    check_page(&pages, &html);
    assert!(
        html.contains("<dt>hypervisor</dt><dd>not recorded by the version of faultline that made this run</dd>"),
        "missing parts are said to be missing"
    );

    let text_json = std::fs::read_to_string(old.join("run.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text_json).unwrap();
    let evil = "<script>alert(1)</script>";
    v["workload"]["name"] = serde_json::json!(format!("w{evil}"));
    v["backends"][0]["name"] =
        serde_json::json!(format!("pread\"><img src=x onerror=alert(2)>{evil}"));
    v["environment"]["hostname"] = serde_json::json!(format!("<b>{evil}"));
    let hostile = dir.join("hostile");
    std::fs::create_dir_all(&hostile).unwrap();
    std::fs::write(hostile.join("run.json"), v.to_string()).unwrap();
    let pages = dir.join("hostile-page");
    let o = run(&[
        "report",
        hostile.to_str().unwrap(),
        "--html",
        pages.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(pages.join("index.html")).unwrap();
    check_page(&pages, &html);
    assert!(html.contains("w&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.to_ascii_lowercase().contains("<img"));
}

/// Chromium draws the page offline (no network: its network features are off and the
/// page loads nothing) into a PNG. Skipped with the reason where Chromium is absent.
fn browser_check(index: &Path, dir: &Path) {
    let Some(chromium) = ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        skip(
            "chromium",
            "no chromium on PATH: the page was not drawn in a browser (apt-get install chromium)",
        );
        return;
    };
    let png = dir.join("page.png");
    let profile = dir.join("chromium-profile");
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!(
            "file://{}",
            index.canonicalize().unwrap().display()
        ))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(len > 20_000, "{}: {len} bytes", png.display());
    eprintln!("chromium drew the page: {}", png.display());
}
