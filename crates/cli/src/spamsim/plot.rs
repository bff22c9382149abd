//! The plot of a run, as a small hand-written SVG: per campaign day, a
//! stacked bar of what became of the spam sent that day, and lines for the
//! spam accounts registered and stopped so far.

use std::fmt::Write;

use super::report::Summary;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 110.0;

/// Bar segments, bottom to top: label and colour.
const SEGMENTS: [(&str, &str); 5] = [
    ("refused by the server", "#9e9e9e"),
    ("in Junk", "#f28e2b"),
    ("visible in Requests", "#4e79a7"),
    ("main inbox (notified)", "#e15759"),
    ("accepted, not delivered", "#b07aa1"),
];

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

/// Renders the plot of `s` as a standalone SVG document.
pub fn svg(s: &Summary) -> String {
    let mut out = String::new();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let days = s.per_day.len().max(1);
    let bar_max = s
        .per_day
        .iter()
        .map(|d| d.spam_sent as f64)
        .fold(0.0, f64::max);
    let (y_max, y_step) = axis(bar_max);
    let line_max = s
        .per_day
        .iter()
        .map(|d| d.accounts_registered_cumulative as f64)
        .fold(0.0, f64::max);
    let (r_max, r_step) = axis(line_max);
    let slot = plot_w / days as f64;
    let bar_w = slot * 0.6;
    let y = |v: f64| TOP + plot_h - plot_h * v / y_max;
    let ry = |v: f64| TOP + plot_h - plot_h * v / r_max;

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
        "tidings spam-sim: {} people, {} spam accounts/day for {} days, {} targets each (seed {})",
        p.users, p.spam_accounts_per_day, p.days, p.spam_targets_per_account, p.seed
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(&title)
    );
    // Grid and left axis.
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
    let mut v = 0.0;
    while v <= r_max + 1e-9 {
        let _ = writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" fill="#2f6f2f">{v}</text>"##,
            LEFT + plot_w + 8.0,
            ry(v) + 4.0
        );
        v += r_step;
    }
    let _ = writeln!(
        out,
        r#"<text transform="translate(22,{:.1}) rotate(-90)" text-anchor="middle">spam messages sent per day</text>"#,
        TOP + plot_h / 2.0
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate({:.1},{:.1}) rotate(90)" text-anchor="middle" fill="#2f6f2f">spam accounts (cumulative)</text>"##,
        WIDTH - 22.0,
        TOP + plot_h / 2.0
    );
    // Bars.
    for (i, d) in s.per_day.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let parts = [d.refused, d.junk, d.requests, d.main_inbox, d.undelivered];
        let mut base = 0.0;
        for (value, (label, colour)) in parts.iter().zip(SEGMENTS) {
            let v = *value as f64;
            if v > 0.0 {
                let top = y(base + v);
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{top:.1}" width="{bar_w:.1}" height="{:.1}" fill="{colour}"><title>day {}: {value} {label}</title></rect>"#,
                    y(base) - top,
                    d.day + 1
                );
            }
            base += v;
        }
        let label = if i as u32 >= p.days {
            format!("day {} (tail)", d.day + 1)
        } else {
            format!("day {}", d.day + 1)
        };
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x + bar_w / 2.0,
            TOP + plot_h + 18.0
        );
    }
    // Lines for accounts.
    let points = |f: &dyn Fn(&super::report::DayFigures) -> u64| -> String {
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
        r##"<polyline points="{}" fill="none" stroke="#333333" stroke-width="2" stroke-dasharray="6 4"/>"##,
        points(&|d| d.accounts_registered_cumulative)
    );
    let _ = writeln!(
        out,
        r##"<polyline points="{}" fill="none" stroke="#2f8f2f" stroke-width="3"/>"##,
        points(&|d| d.accounts_stopped_cumulative)
    );
    // Axes.
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333333"/><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333333"/>"##,
        TOP + plot_h,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
    // Legend.
    let mut lx = LEFT;
    let ly = HEIGHT - BOTTOM + 50.0;
    for (label, colour) in SEGMENTS {
        let _ = writeln!(
            out,
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/><text x="{:.1}" y="{ly:.1}">{label}</text>"#,
            ly - 10.0,
            lx + 16.0
        );
        lx += 30.0 + 7.0 * label.len() as f64;
    }
    let ly2 = ly + 24.0;
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333333" stroke-width="2" stroke-dasharray="6 4"/><text x="{:.1}" y="{ly2:.1}">spam accounts registered</text>"##,
        ly2 - 4.0,
        LEFT + 24.0,
        ly2 - 4.0,
        LEFT + 30.0
    );
    let _ = writeln!(
        out,
        r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#2f8f2f" stroke-width="3"/><text x="{:.1}" y="{ly2:.1}">spam accounts restricted or banned</text>"##,
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
