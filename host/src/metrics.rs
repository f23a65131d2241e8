//! Prometheus metrics: counters, gauges and latency histograms kept in the process and
//! rendered in the text exposition format on the admin port's `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default)]
struct Registry {
    counters: BTreeMap<(&'static str, String), f64>,
    gauges: BTreeMap<(&'static str, String), f64>,
    histograms: BTreeMap<(&'static str, String), Histogram>,
}

#[derive(Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    f(&mut REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// Renders label pairs as `{a="x",b="y"}`.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(64);
    out.push('{');
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Adds one to a counter.
pub fn inc(name: &'static str, pairs: &[(&str, &str)]) {
    let labels = labels(pairs);
    with(|r| *r.counters.entry((name, labels)).or_default() += 1.0);
}

/// Sets a gauge.
pub fn set(name: &'static str, pairs: &[(&str, &str)], value: f64) {
    let labels = labels(pairs);
    with(|r| r.gauges.insert((name, labels), value));
}

/// Records one observation of a latency histogram.
pub fn observe(name: &'static str, pairs: &[(&str, &str)], elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let labels = labels(pairs);
    with(|r| {
        let histogram = r.histograms.entry((name, labels)).or_default();
        for (bucket, bound) in histogram.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    });
}

/// Everything in the text exposition format, with `extra` gauges appended.
pub fn render(extra: &[(&'static str, String, f64)]) -> String {
    let mut out = String::new();
    with(|r| {
        let mut last = "";
        for ((name, labels), value) in &r.counters {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{labels} {value}");
        }
        for ((name, labels), value) in r
            .gauges
            .iter()
            .map(|(k, v)| ((k.0, k.1.clone()), *v))
            .chain(extra.iter().map(|(n, l, v)| ((*n, l.clone()), *v)))
        {
            let _ = writeln!(out, "# TYPE {name} gauge\n{name}{labels} {value}");
        }
        for ((name, labels), h) in &r.histograms {
            let _ = writeln!(out, "# TYPE {name} histogram");
            let inner = labels.trim_start_matches('{').trim_end_matches('}');
            let sep = if inner.is_empty() { "" } else { "," };
            for (bound, count) in BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "{name}_bucket{{{inner}{sep}le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(
                out,
                "{name}_sum{labels} {}\n{name}_count{labels} {}",
                h.sum, h.count
            );
        }
    });
    out
}

/// The label set of a gauge `extra` entry.
pub fn label_set(pairs: &[(&str, &str)]) -> String {
    labels(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        inc("test_things_total", &[("component", "a\"b")]);
        observe(
            "test_latency_seconds",
            &[("component", "a")],
            Duration::from_millis(3),
        );
        let text = render(&[("test_gauge", label_set(&[("x", "1")]), 2.0)]);
        assert!(
            text.contains("test_things_total{component=\"a\\\"b\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_latency_seconds_bucket{component=\"a\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_latency_seconds_count{component=\"a\"} 1"),
            "{text}"
        );
        assert!(text.contains("test_gauge{x=\"1\"} 2"), "{text}");
    }

    #[test]
    fn escapes_backslashes_quotes_and_newlines_in_label_values() {
        assert_eq!(
            labels(&[("a", "x\\y"), ("b", "say \"hi\"\nbye")]),
            r#"{a="x\\y",b="say \"hi\"\nbye"}"#
        );
    }
}
