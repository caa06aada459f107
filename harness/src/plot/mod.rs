//! Charts from result directories (`faultline plot`, `faultline run --plot`).
//!
//! Each chart kind is one file that turns the records into data for a figure ("what");
//! `context` names the runs and series ("where"); `canvas`, `figure`, `panel` and
//! `legend` draw. Rendering is a pure function from records to file bytes (`render`),
//! so `run --plot` can put the charts into its result directory before it is committed,
//! and tests can render from a fixed record. `plot` loads result directories and writes
//! the files, never replacing an existing file.
//!
//! A counter that is null in the record is unavailable: it is never drawn as 0. A chart
//! whose data is all unavailable is skipped with the record's reason.

mod amplification;
mod axes;
mod cache_fill;
mod canvas;
mod context;
mod faults_shootdowns;
mod figure;
#[cfg(test)]
pub(crate) mod fixture;
mod latency;
mod latency_cdf;
mod latency_heatmap;
mod latency_over_time;
mod latency_percentiles;
mod legend;
mod ops_bars;
mod ops_by_kind;
mod panel;
mod rates;
mod sweep;
mod sync_latency;
mod throughput;

pub use context::Run;
pub use sweep::{AxisScale, SweepAxes, SWEEP_CHARTS};

use crate::record::RecordError;
use canvas::Chart;
use context::Context;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which image formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    Svg,
    Png,
    #[default]
    Both,
}

impl Format {
    pub fn parse(s: &str) -> std::result::Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "svg" => Ok(Format::Svg),
            "png" => Ok(Format::Png),
            "both" => Ok(Format::Both),
            _ => Err(format!("`{s}` is not a chart format; use svg, png or both")),
        }
    }

    fn svg(self) -> bool {
        matches!(self, Format::Svg | Format::Both)
    }

    fn png(self) -> bool {
        matches!(self, Format::Png | Format::Both)
    }
}

/// The chart kinds, by file stem, in the order they are drawn.
pub const CHARTS: [&str; 8] = [
    "throughput",
    "faults-shootdowns",
    "amplification",
    "latency-percentiles",
    "latency-cdf",
    "ops-bars",
    "latency-over-time",
    "latency-heatmap",
];

/// The charts of the write side, drawn for write and mix workloads only (skipped with
/// the reason for a read workload).
pub const WRITE_CHARTS: [&str; 2] = ["ops-by-kind", "sync-latency"];

/// One chart file, ready to write.
#[derive(Debug, Clone)]
pub struct ChartFile {
    /// File name, e.g. "throughput.svg".
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A chart that was not drawn, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub chart: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "skipped {}: {}", self.chart, self.reason)
    }
}

#[derive(Debug, Default)]
pub struct Rendered {
    pub files: Vec<ChartFile>,
    pub skipped: Vec<Skipped>,
}

/// Why charts cannot be drawn, or results loaded, or chart files written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("no result to plot; give one or more result directories")]
    NoRuns,
    /// A plotters error, by its message.
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("the bundled chart font (assets/DejaVuSans.ttf) is not a valid font; the build is damaged, rebuild faultline")]
    Font,
    #[error("cannot encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
    #[error("chart {file}")]
    Chart {
        file: String,
        #[source]
        source: Box<PlotError>,
    },
    #[error("{}: no such directory; give a result directory written by `faultline run` (results/<workload>/<time>-<host>)", .0.display())]
    NoDir(PathBuf),
    #[error("{}: no run.json here; give a result directory written by `faultline run` (results/<workload>/<time>-<host>)", .0.display())]
    NoRunJson(PathBuf),
    #[error("cannot read {}: {cause}", .path.display())]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{} is not a readable faultline result", .path.display())]
    NotAResult {
        path: PathBuf,
        #[source]
        source: RecordError,
    },
    #[error("{} already holds {names}; faultline never overwrites files: remove them or give another --out DIR", .dir.display())]
    Taken { dir: PathBuf, names: String },
    #[error("cannot create the chart directory {}; give another --out DIR", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create {} (faultline never overwrites files; give another --out DIR)", .path.display())]
    CreateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {cause}", .path.display())]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, PlotError>;

/// What a chart module produces: a chart to draw, or the reason there is none.
pub enum Prepared<C> {
    Draw(C),
    Skip(String),
}

/// Render every chart of `runs` in `format`. Pure: writes nothing.
pub fn render(runs: &[Run], format: Format) -> Result<Rendered> {
    if runs.is_empty() {
        return Err(PlotError::NoRuns);
    }
    let ctx = Context::new(runs);
    let mut out = Rendered::default();
    add(&mut out, "throughput", throughput::prepare(&ctx), format)?;
    add(
        &mut out,
        "faults-shootdowns",
        faults_shootdowns::prepare(&ctx),
        format,
    )?;
    add(
        &mut out,
        "amplification",
        amplification::prepare(&ctx),
        format,
    )?;
    add(
        &mut out,
        "latency-percentiles",
        latency_percentiles::prepare(&ctx),
        format,
    )?;
    add(&mut out, "latency-cdf", latency_cdf::prepare(&ctx), format)?;
    add(&mut out, "ops-bars", ops_bars::prepare(&ctx), format)?;
    add(
        &mut out,
        "latency-over-time",
        latency_over_time::prepare(&ctx),
        format,
    )?;
    add(
        &mut out,
        "latency-heatmap",
        latency_heatmap::prepare(&ctx),
        format,
    )?;
    add(&mut out, "ops-by-kind", ops_by_kind::prepare(&ctx), format)?;
    add(
        &mut out,
        "sync-latency",
        sync_latency::prepare(&ctx),
        format,
    )?;
    Ok(out)
}

/// Render the sweep charts of `runs` (every one a run of the same `run --sweep`): each
/// metric against the swept value. Pure: writes nothing.
pub fn render_sweep(runs: &[Run], format: Format, axes: SweepAxes) -> Result<Rendered> {
    if runs.is_empty() {
        return Err(PlotError::NoRuns);
    }
    let mut out = Rendered::default();
    for (chart, p) in sweep::prepare(runs, axes) {
        add(&mut out, chart, p, format)?;
    }
    Ok(out)
}

fn add<C: Chart>(
    out: &mut Rendered,
    chart: &'static str,
    p: Prepared<C>,
    format: Format,
) -> Result<()> {
    match p {
        Prepared::Skip(reason) => out.skipped.push(Skipped { chart, reason }),
        Prepared::Draw(c) => {
            if format.svg() {
                let bytes = canvas::svg(&c).map_err(|e| in_chart(e, chart, "svg"))?;
                out.files.push(ChartFile {
                    name: format!("{chart}.svg"),
                    bytes,
                });
            }
            if format.png() {
                let bytes = canvas::png(&c).map_err(|e| in_chart(e, chart, "png"))?;
                out.files.push(ChartFile {
                    name: format!("{chart}.png"),
                    bytes,
                });
            }
        }
    }
    Ok(())
}

fn in_chart(e: PlotError, chart: &str, ext: &str) -> PlotError {
    PlotError::Chart {
        file: format!("{chart}.{ext}"),
        source: Box::new(e),
    }
}

/// Load a result directory (or a run.json file directly).
pub fn load(path: &Path) -> Result<Run> {
    let (dir, json) = if path.is_file() {
        (
            path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            path.to_path_buf(),
        )
    } else {
        (path.to_path_buf(), path.join("run.json"))
    };
    if !path.exists() {
        return Err(PlotError::NoDir(path.to_path_buf()));
    }
    let text = match fs::read_to_string(&json) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PlotError::NoRunJson(path.to_path_buf()))
        }
        Err(cause) => return Err(PlotError::Read { path: json, cause }),
    };
    let record = crate::record::RunRecord::from_json(&text)
        .map_err(|source| PlotError::NotAResult { path: json, source })?;
    Ok(Run {
        record,
        dir_name: dir_name(&dir),
    })
}

/// The name a result directory goes by in chart labels.
pub fn dir_name(dir: &Path) -> String {
    let named = |p: &Path| {
        p.file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty() && s != "." && s != "..")
    };
    named(dir)
        .or_else(|| dir.canonicalize().ok().as_deref().and_then(named))
        .unwrap_or_else(|| dir.display().to_string())
}

/// Whether any of the files would replace an existing one in `out`.
pub fn check_free(out: &Path, files: &[ChartFile]) -> Result<()> {
    let taken: Vec<String> = files
        .iter()
        .filter(|f| out.join(&f.name).symlink_metadata().is_ok())
        .map(|f| f.name.clone())
        .collect();
    if !taken.is_empty() {
        return Err(PlotError::Taken {
            dir: out.to_path_buf(),
            names: taken.join(", "),
        });
    }
    Ok(())
}

/// Write the charts into `out` (created if missing), refusing to replace any file.
pub fn write_new(out: &Path, files: &[ChartFile]) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(out).map_err(|source| PlotError::CreateDir {
        path: out.to_path_buf(),
        source,
    })?;
    check_free(out, files)?;
    let mut written = Vec::new();
    for f in files {
        let p = out.join(&f.name);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|source| PlotError::CreateFile {
                path: p.clone(),
                source,
            })?;
        if let Err(e) = file.write_all(&f.bytes).and_then(|_| file.sync_all()) {
            let _ = fs::remove_file(&p);
            return Err(PlotError::Write { path: p, cause: e });
        }
        written.push(p);
    }
    Ok(written)
}

/// Load a result directory, or a sweep's directory (no run.json of its own, one
/// sub-directory per value): every run in it, in sweep order.
pub fn load_all(path: &Path) -> Result<Vec<Run>> {
    if path.is_dir() && !path.join("run.json").exists() {
        let mut subs: Vec<PathBuf> = fs::read_dir(path)
            .map_err(|cause| PlotError::Read {
                path: path.to_path_buf(),
                cause,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("run.json").is_file())
            .collect();
        if !subs.is_empty() {
            subs.sort();
            let mut runs = subs.iter().map(|d| load(d)).collect::<Result<Vec<Run>>>()?;
            if runs.iter().all(|r| r.record.sweep.is_some()) {
                runs.sort_by_key(|r| r.record.sweep.as_ref().map_or(usize::MAX, |p| p.index));
                return Ok(runs);
            }
            // Result directories that are not a sweep's: name one at a time.
            return Err(PlotError::NoRunJson(path.to_path_buf()));
        }
    }
    Ok(vec![load(path)?])
}

/// `faultline plot`: load `dirs`, draw every chart into `out` in `format`: the sweep
/// charts when the runs are a sweep's (`run --sweep`), else the charts of the runs.
/// Prints one line per chart that was skipped (with the reason) to stdout; returns the
/// files written.
pub fn plot(dirs: &[PathBuf], out: &Path, format: Format, axes: SweepAxes) -> Result<Vec<PathBuf>> {
    let mut runs = Vec::new();
    for d in dirs {
        runs.extend(load_all(d)?);
    }
    let r = if runs.iter().any(|r| r.record.sweep.is_some()) {
        render_sweep(&runs, format, axes)?
    } else {
        render(&runs, format)?
    };
    for s in &r.skipped {
        println!("{s}");
    }
    write_new(out, &r.files)
}

#[cfg(test)]
mod tests;
