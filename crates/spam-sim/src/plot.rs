//! The plot of a run, as a small hand-written SVG in two panels: per
//! campaign day, what became of the spam sent that day (with lines for the
//! spam accounts registered and stopped so far), and, on its own scale,
//! where the spam the server accepted was filed.

use std::fmt::Write;

use crate::report::{DayFigures, Summary};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 770.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
/// Top of the first panel.
const TOP: f64 = 60.0;
/// Height of each panel's plotting area.
const PANEL: f64 = 260.0;
/// Space between the panels (day labels and the second title).
const GAP: f64 = 90.0;

const REFUSED: (&str, &str) = ("refused by the server", "#9e9e9e");
const JUNK: (&str, &str) = ("in Junk", "#f28e2b");
const REQUESTS: (&str, &str) = ("visible in Requests", "#4e79a7");
const MAIN: (&str, &str) = ("main inbox (notified)", "#e15759");
const UNDELIVERED: (&str, &str) = ("accepted, not delivered", "#b07aa1");
const REGISTERED_LINE: &str = "#333333";
const STOPPED_LINE: &str = "#2f8f2f";

/// A round axis maximum and step for values up to `max`.
fn axis(max: f64) -> (f64, f64) {
    let max = max.max(1.0);
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    ((max / step).ceil() * step, step)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A bar segment: legend label and colour, and its value for a day.
type Segment<'a> = ((&'a str, &'a str), fn(&DayFigures) -> u64);

/// One panel of stacked bars per day.
struct Panel<'a> {
    top: f64,
    title: &'a str,
    y_label: &'a str,
    /// Segments bottom to top, with the value of each for a day.
    segments: Vec<Segment<'a>>,
}

fn draw_panel(out: &mut String, s: &Summary, panel: &Panel) -> (f64, f64) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let days = s.per_day.len().max(1);
    let total = |d: &DayFigures| -> f64 { panel.segments.iter().map(|(_, f)| f(d) as f64).sum() };
    let (y_max, y_step) = axis(s.per_day.iter().map(total).fold(0.0, f64::max));
    let bottom = panel.top + PANEL;
    let y = |v: f64| bottom - PANEL * v / y_max;
    let slot = plot_w / days as f64;
    let bar_w = slot * 0.6;
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
        panel.top - 12.0,
        escape(panel.title)
    );
    let mut v = 0.0;
    while v <= y_max + 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e0e0e0"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            LEFT + plot_w,
            LEFT - 8.0,
            yy + 4.0
        );
        v += y_step;
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate(22,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        panel.top + PANEL / 2.0,
        escape(panel.y_label)
    );
    for (i, d) in s.per_day.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let mut base = 0.0;
        for ((label, colour), value) in &panel.segments {
            let v = value(d) as f64;
            if v > 0.0 {
                let top = y(base + v);
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{:.1}" fill="{colour}"><title>day {}: {v} {label}</title></rect>"#,
                    y(base) - top,
                    d.day + 1
                );
            }
            base += v;
        }
        let label = if d.day >= s.parameters.days {
            format!("day {} (tail)", d.day + 1)
        } else {
            format!("day {}", d.day + 1)
        };
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x + bar_w / 2.0,
            bottom + 18.0
        );
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{LEFT}" y2="{bottom:.1}" stroke="#333333"/><line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333333"/>"##,
        panel.top,
        LEFT + plot_w
    );
    (slot, bottom)
}

fn legend(out: &mut String, y: f64, items: &[(&str, &str)]) {
    let mut x = LEFT;
    for (label, colour) in items {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{y:.1}">{label}</text>"#,
            y - 10.0,
            x + 16.0
        );
        x += 30.0 + 7.0 * label.len() as f64;
    }
}

/// Renders the plot of `s` as a standalone SVG document.
pub fn svg(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let p = &s.parameters;
    let title = format!(
        "tidings-spam-sim: {} people, {} spam accounts/day for {} days, {} targets each (seed {})",
        p.users, p.spam_accounts_per_day, p.days, p.spam_targets_per_account, p.seed
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(&title)
    );

    // Panel 1: everything sent, and the accounts.
    let first = Panel {
        top: TOP,
        title: "Spam sent per day, by outcome",
        y_label: "spam messages",
        segments: vec![
            (REFUSED, |d| d.refused),
            (JUNK, |d| d.junk),
            (REQUESTS, |d| d.requests),
            (MAIN, |d| d.main_inbox),
            (UNDELIVERED, |d| d.undelivered),
        ],
    };
    let (slot, bottom) = draw_panel(&mut out, s, &first);
    let (r_max, r_step) = axis(
        s.per_day
            .iter()
            .map(|d| d.accounts_registered_cumulative as f64)
            .fold(0.0, f64::max),
    );
    let ry = |v: f64| bottom - PANEL * v / r_max;
    let mut v = 0.0;
    while v <= r_max + 1e-9 {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" fill="{STOPPED_LINE}">{v}</text>"#,
            WIDTH - RIGHT + 8.0,
            ry(v) + 4.0
        );
        v += r_step;
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate({:.1},{:.1}) rotate(90)" text-anchor="middle" fill="{STOPPED_LINE}">spam accounts (cumulative)</text>"#,
        WIDTH - 22.0,
        TOP + PANEL / 2.0
    );
    let points = |f: fn(&DayFigures) -> u64| -> String {
        s.per_day
            .iter()
            .enumerate()
            .map(|(i, d)| {
                format!(
                    "{:.1},{:.1}",
                    LEFT + slot * (i as f64 + 0.5),
                    ry(f(d) as f64)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{STOPPED_LINE}" stroke-width="3"/>"#,
        points(|d| d.accounts_stopped_cumulative)
    );
    let _ = writeln!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{REGISTERED_LINE}" stroke-width="2" stroke-dasharray="6 4"/>"#,
        points(|d| d.accounts_registered_cumulative)
    );

    // Panel 2: what the server accepted, on its own scale.
    let second = Panel {
        top: bottom + GAP,
        title: "Spam the server accepted, by where the device filed it",
        y_label: "spam messages",
        segments: vec![
            (JUNK, |d| d.junk),
            (REQUESTS, |d| d.requests),
            (MAIN, |d| d.main_inbox),
            (UNDELIVERED, |d| d.undelivered),
        ],
    };
    let (_, bottom) = draw_panel(&mut out, s, &second);

    let ly = bottom + 50.0;
    legend(&mut out, ly, &[REFUSED, JUNK, REQUESTS, MAIN, UNDELIVERED]);
    let ly2 = ly + 24.0;
    let _ = writeln!(
        out,
        r#"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{REGISTERED_LINE}" stroke-width="2" stroke-dasharray="6 4"/><text x="{:.1}" y="{ly2:.1}">spam accounts registered</text>"#,
        ly2 - 4.0,
        LEFT + 24.0,
        ly2 - 4.0,
        LEFT + 30.0
    );
    let _ = writeln!(
        out,
        r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{STOPPED_LINE}" stroke-width="3"/><text x="{:.1}" y="{ly2:.1}">spam accounts restricted or banned</text>"#,
        LEFT + 220.0,
        ly2 - 4.0,
        LEFT + 244.0,
        ly2 - 4.0,
        LEFT + 250.0
    );
    let met = s.targets.iter().filter(|t| t.met).count();
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{ly2:.1}" text-anchor="end">targets met: {met} of {}</text>"#,
        WIDTH - RIGHT,
        s.targets.len()
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_round() {
        assert_eq!(axis(0.0), (1.0, 1.0));
        assert_eq!(axis(9.0), (10.0, 2.0));
        assert_eq!(axis(1234.0), (1250.0, 250.0));
        assert_eq!(axis(48_000.0), (50_000.0, 10_000.0));
    }
}
