//! amplification: what the device read against what the application read, over time, per
//! backend. Top: both bandwidths (application solid, device dashed). Bottom: their ratio
//! per interval (read amplification; the paper saw ~32x for mmap with MADV_NORMAL's
//! fault read-around). The legend gives each backend's overall ratio.

use super::axes::{self, Scale};
use super::context::{Context, Group};
use super::figure::Figure;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel};
use super::rates;
use super::Prepared;
use crate::probe::CounterId;
use crate::record::BackendResult;
use plotters::style::RGBColor;

pub const TITLE: &str = "Read amplification: device reads against application reads";

const MIB: f64 = 1024.0 * 1024.0;

pub fn prepare(ctx: &Context) -> Prepared<Figure> {
    let has_device = |g: &Group| {
        g.measured()
            .any(|b| rates::has_counter(b, CounterId::DeviceReadBytes))
    };
    if !ctx.measured().any(&has_device) {
        return Prepared::Skip(format!(
            "no data: device_read_bytes: {}",
            ctx.reason(CounterId::DeviceReadBytes)
        ));
    }
    let mut legend = Legend::default();
    let (mut bandwidth, mut ratio) = (Vec::new(), Vec::new());
    let mut t_max = 0.0f64;
    for g in ctx.measured().filter(|g| has_device(g)) {
        for b in g.measured() {
            t_max = t_max.max(rates::end_s(b));
            let [app, device, amp] = lines(b, g.color);
            bandwidth.extend([app, device]);
            ratio.push(amp);
        }
        legend.add(format!("{}: application", g.label), g.color, Mark::Line);
        let overall = match overall_ratio(g) {
            Some(r) => format!("{}x overall", axes::trim(r)),
            None => "no application bytes".into(),
        };
        legend.add(
            format!("{}: device ({overall})", g.label),
            g.color,
            Mark::Dashed,
        );
    }
    for n in ctx.unavailable(CounterId::DeviceReadBytes, has_device) {
        legend.note(n);
    }
    let top = Scale::auto(
        bandwidth.iter().flat_map(|l| l.points.iter().map(|p| p.1)),
        50.0,
    );
    legend.note(
        "Amplification = bytes the device read / bytes the application read. Device reads \
         are those of the whole disk behind the data file: other I/O to it counts too. \
         0 means every read was served from memory.",
    );
    if top.log {
        legend.note("Top panel on a log scale: an interval with 0 bytes sits on the bottom edge.");
    }
    if ctx.has_repeats() {
        legend.note("Repeats are drawn in the same colour; the overall ratio covers all.");
    }
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels: panels(t_max, top, bandwidth, ratio),
    })
}

/// One result's lines: application bandwidth (solid), device bandwidth (dashed), and
/// the amplification per interval.
fn lines(b: &BackendResult, color: RGBColor) -> [Line; 3] {
    let steps = rates::steps(b);
    let app = steps
        .iter()
        .map(|s| (s.end_s, s.rate(s.iv.bytes as f64) / MIB))
        .collect();
    let device = rates::counter_per_sec(b, CounterId::DeviceReadBytes)
        .into_iter()
        .map(|(t, v)| (t, v / MIB))
        .collect();
    let amp = steps
        .iter()
        .filter(|s| s.iv.bytes > 0)
        .filter_map(|s| {
            let d = s.iv.counters.device_read_bytes?;
            Some((s.end_s, d as f64 / s.iv.bytes as f64))
        })
        .collect();
    let line = |points, dashed| Line {
        points,
        color,
        dashed,
    };
    [line(app, false), line(device, true), line(amp, false)]
}

/// The bandwidth panel over the amplification panel, on one time axis.
fn panels(t_max: f64, top: Scale, bandwidth: Vec<Line>, ratio: Vec<Line>) -> Vec<Panel> {
    let ratio_max = ratio
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let time = "time since the measured phase began (s)";
    vec![
        Panel {
            caption: Some("Read bandwidth: application (solid) and device (dashed)".into()),
            x: Scale::from_zero(t_max),
            y: top,
            x_desc: time.into(),
            y_desc: if top.log {
                "MiB/s (log scale)".into()
            } else {
                "MiB/s".into()
            },
            x_ticks: None,
            x_fmt: axes::trim,
            y_fmt: axes::format_si,
            lines: bandwidth,
            marks: Vec::new(),
            empty: None,
            dots: true,
        },
        Panel {
            caption: Some("Read amplification per interval".into()),
            x: Scale::from_zero(t_max),
            y: Scale::from_zero(ratio_max.max(1.0)),
            x_desc: time.into(),
            y_desc: "device bytes / application bytes".into(),
            x_ticks: None,
            x_fmt: axes::trim,
            y_fmt: axes::trim,
            lines: ratio,
            marks: Vec::new(),
            empty: Some("no interval read anything".into()),
            dots: true,
        },
    ]
}

/// Device bytes over application bytes for the group's results that have device data.
/// A result's own total (`counters.device_read_bytes`) is used when present, else the
/// sum of its intervals.
fn overall_ratio(g: &Group) -> Option<f64> {
    let (mut device, mut app) = (0u64, 0u64);
    for b in g.measured() {
        let d = b.counters.device_read_bytes.or_else(|| {
            rates::has_counter(b, CounterId::DeviceReadBytes).then(|| {
                b.timeseries
                    .iter()
                    .filter_map(|iv| iv.counters.device_read_bytes)
                    .sum()
            })
        });
        if let Some(d) = d {
            device += d;
            app += b.bytes;
        }
    }
    (app > 0).then(|| device as f64 / app as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn ratio_in_legend() {
        let runs = [fixture::run("a", true)];
        let Prepared::Draw(f) = prepare(&Context::new(&runs)) else {
            panic!("drawn")
        };
        let labels: Vec<&str> = f.legend.entries.iter().map(|e| e.label.as_str()).collect();
        assert!(
            labels.contains(&"mmap:advice=random: device (4x overall)"),
            "{labels:?}"
        );
        assert!(
            labels.contains(&"direct: device (1x overall)"),
            "{labels:?}"
        );
        assert!(f.panels[1].lines.iter().all(|l| !l.points.is_empty()));
    }

    #[test]
    fn skips_without_device_counters() {
        let runs = [fixture::run("a", false)];
        let Prepared::Skip(why) = prepare(&Context::new(&runs)) else {
            panic!("must skip")
        };
        assert!(why.contains("tmpfs"), "{why}");
    }
}
