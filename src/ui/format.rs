//! Pure text formatting shared by the panes: numbers, rates, relative times, sparklines and
//! width-aware truncation (display columns, not bytes or chars, so Korean text fits).

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn thousands_i(n: i64) -> String {
    if n < 0 {
        format!("-{}", thousands(n.unsigned_abs()))
    } else {
        thousands(n as u64)
    }
}

/// A per-second rate: one decimal below 100 so a trickle is visible, integers above.
pub fn rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".to_string()
    } else if r < 100.0 {
        format!("{r:.1}")
    } else {
        thousands(r.round() as u64)
    }
}

/// Seconds of lag: "0.4 s", "12 s", "3 min", "2.5 h".
pub fn duration_secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "0 s".to_string();
    }
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{} s", s.round() as u64)
    } else if s < 7200.0 {
        format!("{} min", (s / 60.0).round() as u64)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{} d", (s / 86_400.0).round() as u64)
    }
}

/// Milliseconds of latency: "0.42 ms", "4.2 ms", "12 ms", then as seconds ("1.3 s", "12 s").
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "–".to_string()
    } else if ms < 0.995 {
        format!("{ms:.2} ms")
    } else if ms < 9.95 {
        format!("{ms:.1} ms")
    } else if ms < 999.5 {
        format!("{} ms", ms.round() as u64)
    } else {
        duration_secs(ms / 1000.0)
    }
}

/// "3 s ago", "5 min ago", "2 h ago"; a time in the (near) future is "now".
pub fn ago(then_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms.saturating_sub(then_ms)) / 1000;
    if secs <= 0 {
        "now".to_string()
    } else if secs < 60 {
        format!("{secs} s ago")
    } else if secs < 3600 {
        format!("{} min ago", secs / 60)
    } else if secs < 86_400 {
        format!("{} h ago", secs / 3600)
    } else {
        format!("{} d ago", secs / 86_400)
    }
}

/// Wall clock "HH:MM:SS" at a fixed UTC offset (the offset is passed in so tests are stable).
pub fn clock(now_ms: i64, utc_offset_secs: i32) -> String {
    let secs = (now_ms / 1000 + i64::from(utc_offset_secs)).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` points of a history as a one-line bar chart, right-aligned so "now" is
/// always the right edge. Scaled to the window's maximum; all-zero history is a flat floor.
pub fn sparkline(history: &[f64], width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let start = history.len().saturating_sub(width);
    let window = &history[start..];
    let max = window
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let mut out = String::with_capacity(width * 3);
    for _ in window.len()..width {
        out.push(' ');
    }
    for v in window {
        let level = if max <= 0.0 || !v.is_finite() || *v <= 0.0 {
            0
        } else {
            // Any non-zero value shows at least the second step, so a trickle is visible.
            ((v / max) * 7.0).round().clamp(1.0, 7.0) as usize
        };
        out.push(BARS[level]);
    }
    out
}

/// Cuts `s` to at most `width` display columns, ending with "…" when something was cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Cuts `s` to `width` columns keeping its end ("…ages.created"): the end of a topic name
/// is what tells topics apart.
pub fn truncate_left(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut tail: Vec<char> = Vec::new();
    let mut used = 0;
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        tail.push(c);
        used += w;
    }
    let mut out = String::from("…");
    out.extend(tail.iter().rev());
    out
}

/// Splits a highlight fragment on `<em>`…`</em>` into (text, is_match) pieces. Unbalanced
/// tags are tolerated: the rest is treated as highlighted until a closing tag.
pub fn split_highlight(fragment: &str) -> Vec<(String, bool)> {
    let mut parts = Vec::new();
    let mut rest = fragment;
    let mut inside = false;
    loop {
        let tag = if inside { "</em>" } else { "<em>" };
        match rest.find(tag) {
            Some(i) => {
                if i > 0 {
                    parts.push((rest[..i].to_string(), inside));
                }
                rest = &rest[i + tag.len()..];
                inside = !inside;
            }
            None => {
                if !rest.is_empty() {
                    parts.push((rest.to_string(), inside));
                }
                return parts;
            }
        }
    }
}

/// Single-line form of a text (newlines and tabs become spaces) for table cells.
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands_i(-12_345), "-12,345");
    }

    #[test]
    fn rates_and_durations() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(2.34), "2.3");
        assert_eq!(rate(1234.4), "1,234");
        assert_eq!(rate(f64::NAN), "0");
        assert_eq!(duration_secs(0.42), "0.4 s");
        assert_eq!(duration_secs(42.0), "42 s");
        assert_eq!(duration_secs(600.0), "10 min");
    }

    #[test]
    fn latencies() {
        assert_eq!(millis(0.42), "0.42 ms");
        assert_eq!(millis(0.999), "1.0 ms");
        assert_eq!(millis(4.21), "4.2 ms");
        assert_eq!(millis(9.96), "10 ms");
        assert_eq!(millis(12.4), "12 ms");
        assert_eq!(millis(999.6), "1.0 s");
        assert_eq!(millis(1_340.0), "1.3 s");
        assert_eq!(millis(42_000.0), "42 s");
        assert_eq!(millis(f64::NAN), "–");
    }

    #[test]
    fn relative_times() {
        assert_eq!(ago(10_000, 13_400), "3 s ago");
        assert_eq!(ago(0, 300_000), "5 min ago");
        assert_eq!(ago(5_000, 1_000), "now");
        assert_eq!(ago(0, 7_200_000), "2 h ago");
    }

    #[test]
    fn clock_applies_offset() {
        assert_eq!(clock(3_723_000, 0), "01:02:03");
        assert_eq!(clock(0, 9 * 3600), "09:00:00");
        assert_eq!(clock(0, -3600), "23:00:00");
    }

    #[test]
    fn sparkline_is_right_aligned_and_scaled() {
        assert_eq!(sparkline(&[], 4), "    ");
        assert_eq!(sparkline(&[0.0, 0.0], 3), " ▁▁");
        assert_eq!(sparkline(&[1.0, 2.0, 4.0, 8.0], 3), "▃▅█");
        assert_eq!(sparkline(&[0.1, 100.0], 2), "▂█");
    }

    #[test]
    fn truncation_counts_display_columns() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 6), "hello…");
        // Each Hangul syllable is two columns wide.
        assert_eq!(truncate("프로젝트 배포", 7), "프로젝…");
        assert_eq!(truncate("프로젝트", 4), "프…");
        assert_eq!(truncate_left("platform.messages.created", 10), "…s.created");
    }

    #[test]
    fn highlight_fragments() {
        assert_eq!(
            split_highlight("we <em>deploy</em> now"),
            vec![
                ("we ".to_string(), false),
                ("deploy".to_string(), true),
                (" now".to_string(), false)
            ]
        );
        assert_eq!(
            split_highlight("<em>open"),
            vec![("open".to_string(), true)]
        );
    }
}
