//! faults-shootdowns: TLB shootdowns per second (system-wide) and major page faults per
//! second (the measured threads) over time, two panels, one line per backend: the costs
//! the paper blames for mmap's collapse once the page cache must evict.

use super::axes::{self, Scale};
use super::context::{Context, Group};
use super::figure::Figure;
use super::legend::{Legend, Mark};
use super::panel::{Line, Panel};
use super::rates;
use super::Prepared;
use crate::probe::CounterId;

pub const TITLE: &str = "TLB shootdowns and major page faults over time";

struct Metric {
    key: CounterId,
    caption: &'static str,
    y_desc: &'static str,
}

const SHOOTDOWNS: Metric = Metric {
    key: CounterId::TlbShootdownsSystem,
    caption: "TLB shootdowns (all CPUs, /proc/interrupts TLB row)",
    y_desc: "shootdowns per second",
};

const MAJOR_FAULTS: Metric = Metric {
    key: CounterId::MajorFaults,
    caption: "Major page faults of the measured threads",
    y_desc: "major faults per second",
};

pub fn prepare(ctx: &Context) -> Prepared<Figure> {
    let has = |m: &Metric| ctx.measured().any(|g| group_has(g, m));
    if !has(&SHOOTDOWNS) && !has(&MAJOR_FAULTS) {
        let (a, b) = (ctx.reason(SHOOTDOWNS.key), ctx.reason(MAJOR_FAULTS.key));
        return Prepared::Skip(if a == b {
            format!("no data: {} and {}: {a}", SHOOTDOWNS.key, MAJOR_FAULTS.key)
        } else {
            format!(
                "no data: {}: {a}; {}: {b}",
                SHOOTDOWNS.key, MAJOR_FAULTS.key
            )
        });
    }
    let mut legend = Legend::default();
    for g in ctx.measured() {
        let any = [&SHOOTDOWNS, &MAJOR_FAULTS].iter().any(|m| group_has(g, m));
        let label = if any {
            g.label.clone()
        } else {
            format!("{} (no data)", g.label)
        };
        legend.add(label, g.color, Mark::Line);
    }
    let t_max = ctx
        .measured()
        .flat_map(|g| g.measured())
        .map(rates::end_s)
        .fold(0.0, f64::max);
    let panels = [SHOOTDOWNS, MAJOR_FAULTS]
        .iter()
        .map(|m| panel(ctx, m, t_max))
        .collect();
    for m in [&SHOOTDOWNS, &MAJOR_FAULTS] {
        if has(m) {
            for n in ctx.unavailable(m.key, |g| group_has(g, m)) {
                legend.note(n);
            }
        }
    }
    legend.note(
        "TLB shootdowns are counted on all CPUs: other processes' shootdowns count too. \
         On CPUs that flush remote TLBs without IPIs (AMD INVLPGB) the row undercounts.",
    );
    if ctx.has_repeats() {
        legend.note("Repeats are drawn in the same colour.");
    }
    Prepared::Draw(Figure {
        title: TITLE.into(),
        context: ctx.title_line(),
        legend,
        panels,
    })
}

fn group_has(g: &Group, m: &Metric) -> bool {
    g.measured().any(|b| rates::has_counter(b, m.key))
}

fn panel(ctx: &Context, m: &Metric, t_max: f64) -> Panel {
    let mut lines = Vec::new();
    for g in ctx.measured() {
        for b in g.measured().filter(|b| rates::has_counter(b, m.key)) {
            lines.push(Line {
                points: rates::counter_per_sec(b, m.key),
                color: g.color,
                dashed: false,
            });
        }
    }
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let empty = lines
        .is_empty()
        .then(|| format!("unavailable: {}", ctx.reason(m.key)));
    Panel {
        caption: Some(m.caption.into()),
        x: Scale::from_zero(t_max),
        y: Scale::from_zero(max),
        x_desc: "time since the measured phase began (s)".into(),
        y_desc: m.y_desc.into(),
        x_ticks: None,
        x_fmt: axes::trim,
        y_fmt: axes::format_si,
        lines,
        marks: Vec::new(),
        empty,
        dots: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::fixture;

    #[test]
    fn skips_with_the_records_reasons() {
        let runs = [fixture::run("a", false)];
        let Prepared::Skip(why) = prepare(&Context::new(&runs)) else {
            panic!("must skip")
        };
        assert!(why.contains("no TLB row"), "{why}");
        assert!(why.contains("perf_event_paranoid"), "{why}");
    }

    #[test]
    fn one_missing_counter_is_an_empty_panel() {
        let mut runs = [fixture::run("a", true)];
        for b in &mut runs[0].record.backends {
            b.reasons
                .replace(CounterId::MajorFaults, "perf_event_open denied");
            for iv in &mut b.timeseries {
                iv.counters.major_faults = None;
            }
        }
        let Prepared::Draw(f) = prepare(&Context::new(&runs)) else {
            panic!("drawn")
        };
        assert_eq!(f.panels[0].lines.len(), 6);
        assert!(f.panels[1].lines.is_empty());
        assert_eq!(
            f.panels[1].empty.as_deref(),
            Some("unavailable: perf_event_open denied")
        );
    }
}
