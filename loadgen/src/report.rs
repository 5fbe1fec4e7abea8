//! Results of `run`: the summary table, the JSON file and two SVG plots
//! (written by hand: no fonts or system libraries needed).

use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::run::{new_hist, Config};
use crate::workload::OpKind;

/// One second of the run, as the progress line saw it.
#[derive(Clone, Debug)]
pub struct Bucket {
    /// Seconds since the start (end of the bucket).
    pub t: f64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    pub warmup: bool,
}

pub struct RunResult<'a> {
    pub cfg: &'a Config,
    /// Measured seconds (after the warm-up).
    pub elapsed_s: f64,
    /// Latency in ns per OpKind (index = OpKind::index), measured operations only.
    pub hists: Vec<Histogram<u64>>,
    pub errors: u64,
    pub misses: u64,
    pub error_samples: Vec<String>,
    pub buckets: Vec<Bucket>,
}

pub const PERCENTILES: [(f64, &str); 6] =
    [(50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (99.9, "p99.9"), (99.99, "p99.99"), (100.0, "max")];

impl RunResult<'_> {
    pub fn all(&self) -> Histogram<u64> {
        let mut h = new_hist();
        for x in &self.hists {
            let _ = h.add(x);
        }
        h
    }
    pub fn ops(&self) -> u64 {
        self.hists.iter().map(|h| h.len()).sum()
    }
    pub fn throughput(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.ops() as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
    /// (name, histogram) of every kind that ran, then "all".
    pub fn series(&self) -> Vec<(&'static str, Histogram<u64>)> {
        let mut v: Vec<(&'static str, Histogram<u64>)> = OpKind::ALL
            .iter()
            .filter(|k| !self.hists[k.index()].is_empty())
            .map(|k| (k.name(), self.hists[k.index()].clone()))
            .collect();
        v.push(("all", self.all()));
        v
    }
}

fn pct_us(h: &Histogram<u64>, p: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    let v = if p >= 100.0 { h.max() } else { h.value_at_percentile(p) };
    v as f64 / 1e3
}

pub fn thousands(n: u64) -> String {
    let mut rev = Vec::new();
    for (i, c) in n.to_string().chars().rev().enumerate() {
        if i > 0 && i % 3 == 0 {
            rev.push(',');
        }
        rev.push(c);
    }
    rev.into_iter().rev().collect()
}

pub fn fmt_us(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1e3)
    } else if us >= 1_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

pub fn print_summary(r: &RunResult) {
    let a = &r.cfg.args;
    println!();
    if let Some(l) = &a.label {
        println!("run: {l}");
    }
    println!(
        "target {}  workload {} ({})  keys {}  value {} B  connections {}  pipeline {}  threads {}  {}",
        a.target,
        r.cfg.workload_name,
        r.cfg.dist.name(),
        a.keys,
        a.value_size,
        a.connections,
        a.pipeline,
        a.threads,
        match a.rate {
            Some(x) => format!("open loop {x} ops/s"),
            None => "closed loop".into(),
        }
    );
    println!(
        "measured {:.2} s after {:.1} s warm-up: {} ops, {} ops/s, {} errors{}",
        r.elapsed_s,
        a.warmup,
        thousands(r.ops()),
        thousands(r.throughput() as u64),
        r.errors,
        if r.misses > 0 { format!(", {} reads found nothing", thousands(r.misses)) } else { String::new() }
    );
    println!();
    print!("{:<8} {:>12} {:>12}", "op", "count", "ops/s");
    for (_, n) in PERCENTILES {
        print!(" {n:>10}");
    }
    println!("   (latency, µs)");
    for (name, h) in r.series() {
        let rate = if r.elapsed_s > 0.0 { h.len() as f64 / r.elapsed_s } else { 0.0 };
        print!("{name:<8} {:>12} {:>12}", thousands(h.len()), thousands(rate as u64));
        for (p, _) in PERCENTILES {
            print!(" {:>10.1}", pct_us(&h, p));
        }
        println!();
    }
    for e in r.error_samples.iter().take(5) {
        println!("error: {e}");
    }
}

pub fn to_json(r: &RunResult) -> Value {
    let a = &r.cfg.args;
    let m = &r.cfg.mix;
    let mut lat = serde_json::Map::new();
    for (name, h) in r.series() {
        let mut o = serde_json::Map::new();
        o.insert("count".into(), json!(h.len()));
        o.insert("ops_per_sec".into(), json!(if r.elapsed_s > 0.0 { h.len() as f64 / r.elapsed_s } else { 0.0 }));
        o.insert("mean".into(), json!(h.mean() / 1e3));
        for (p, n) in PERCENTILES {
            o.insert(n.into(), json!(pct_us(&h, p)));
        }
        lat.insert(name.into(), Value::Object(o));
    }
    json!({
        "tool": "ringkv-loadgen run",
        "version": env!("CARGO_PKG_VERSION"),
        "label": a.label,
        "command": std::env::args().collect::<Vec<_>>(),
        "target": a.target.to_string(),
        "protocol": match a.target { crate::target::Target::Native(_) => "native", crate::target::Target::Resp(_) => "resp" },
        "workload": r.cfg.workload_name,
        "mix_pct": {"read": m.read, "update": m.update, "insert": m.insert, "scan": m.scan, "rmw": m.rmw},
        "distribution": r.cfg.dist.name(),
        "theta": a.theta,
        "keys": a.keys,
        "value_size": a.value_size.to_string(),
        "scan_len_max": a.scan_len,
        "connections": a.connections,
        "pipeline": a.pipeline,
        "threads": a.threads,
        "mode": if a.rate.is_some() { "open" } else { "closed" },
        "rate": a.rate,
        "warmup_s": a.warmup,
        "measured_s": r.elapsed_s,
        "ops": r.ops(),
        "ops_per_sec": r.throughput(),
        "errors": r.errors,
        "read_misses": r.misses,
        "error_samples": r.error_samples,
        "latency_unit": "us",
        "latency_us": lat,
        "timeline": r.buckets.iter().map(|b| json!({
            "t": b.t, "ops_per_sec": b.ops_per_sec, "p50_us": b.p50_us, "p99_us": b.p99_us,
            "errors": b.errors, "warmup": b.warmup,
        })).collect::<Vec<_>>(),
    })
}

pub fn write_json(r: &RunResult, path: &Path) -> Result<(), String> {
    let s = serde_json::to_string_pretty(&to_json(r)).map_err(|e| e.to_string())?;
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    std::fs::write(path, s + "\n").map_err(|e| format!("write {}: {e}", path.display()))
}

pub fn write_plots(r: &RunResult, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let title = format!(
        "{} {} {} p{} c{}",
        r.cfg.args.label.clone().unwrap_or_default(),
        r.cfg.args.target,
        r.cfg.workload_name,
        r.cfg.args.pipeline,
        r.cfg.args.connections
    );
    let lat = latency_svg(&r.series(), title.trim());
    let thr = throughput_svg(&r.buckets, title.trim());
    for (name, s) in [("latency.svg", lat), ("throughput.svg", thr)] {
        let p = dir.join(name);
        std::fs::write(&p, s).map_err(|e| format!("write {}: {e}", p.display()))?;
    }
    Ok(())
}

// ---- SVG ----

const W: f64 = 800.0;
const H: f64 = 480.0;
const L: f64 = 80.0; // plot area margins
const R: f64 = 150.0;
const T: f64 = 40.0;
const B: f64 = 60.0;
const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#000000"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

struct Svg(String);

impl Svg {
    fn new(title: &str) -> Svg {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>
"#,
            L + (W - L - R) / 2.0,
            esc(title)
        );
        Svg(s)
    }
    fn text(&mut self, x: f64, y: f64, anchor: &str, t: &str) {
        let _ = writeln!(self.0, r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{}</text>"#, esc(t));
    }
    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) {
        let _ = writeln!(self.0, r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}"/>"#);
    }
    fn frame(&mut self, xlabel: &str, ylabel: &str) {
        let _ = writeln!(
            self.0,
            r#"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="black"/>"#,
            W - L - R,
            H - T - B
        );
        self.text(L + (W - L - R) / 2.0, H - 15.0, "middle", xlabel);
        let _ = writeln!(
            self.0,
            r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            T + (H - T - B) / 2.0,
            esc(ylabel)
        );
    }
    fn polyline(&mut self, pts: &[(f64, f64)], color: &str) {
        let mut p = String::new();
        for (x, y) in pts {
            let _ = write!(p, "{x:.1},{y:.1} ");
        }
        let _ =
            writeln!(self.0, r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#, p.trim_end());
    }
    fn legend(&mut self, i: usize, name: &str, color: &str) {
        let (x, y) = (W - R + 15.0, T + 15.0 + 20.0 * i as f64);
        let _ = writeln!(
            self.0,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3"/>"#,
            x + 20.0
        );
        self.text(x + 26.0, y + 4.0, "start", name);
    }
    fn finish(mut self) -> String {
        self.0.push_str("</svg>\n");
        self.0
    }
}

/// Latency by percentile: x is log10(1 / (1 - p)) (0 = p0, 1 = p90, 2 = p99, ...),
/// y is latency on a log scale.
pub fn latency_svg(series: &[(&str, Histogram<u64>)], title: &str) -> String {
    let mut s = Svg::new(&format!("latency by percentile: {title}"));
    s.frame("percentile", "latency");
    let (pw, ph) = (W - L - R, H - T - B);
    const NINES: f64 = 5.0; // up to p99.999
    let mut lo = f64::MAX;
    let mut hi: f64 = 0.0;
    for (_, h) in series {
        if !h.is_empty() {
            lo = lo.min(h.min().max(1) as f64 / 1e3);
            hi = hi.max(h.max() as f64 / 1e3);
        }
    }
    if hi == 0.0 {
        lo = 1.0;
        hi = 10.0;
    }
    let (d0, d1) = (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0));
    let y_of = |us: f64| T + ph - (us.max(1e-3).log10() - d0) / (d1 - d0) * ph;
    let x_of = |n: f64| L + n / NINES * pw;
    for (i, lab) in ["p0", "p90", "p99", "p99.9", "p99.99", "p99.999"].iter().enumerate() {
        let x = x_of(i as f64);
        s.line(x, T, x, T + ph, "#dddddd");
        s.text(x, T + ph + 16.0, "middle", lab);
    }
    let mut d = d0;
    while d <= d1 + 1e-9 {
        let y = y_of(10f64.powf(d));
        s.line(L, y, L + pw, y, "#dddddd");
        s.text(L - 6.0, y + 4.0, "end", &fmt_us(10f64.powf(d)));
        d += 1.0;
    }
    for (i, (name, h)) in series.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        let color = COLORS[i % COLORS.len()];
        let mut pts = Vec::new();
        let steps = 200;
        for k in 0..=steps {
            let n = NINES * k as f64 / steps as f64;
            let q = 1.0 - 10f64.powf(-n);
            let v = h.value_at_quantile(q) as f64 / 1e3;
            pts.push((x_of(n), y_of(v)));
            if (1.0 - q) * (h.len() as f64) < 1.0 {
                break; // beyond the data: the rest is the max
            }
        }
        s.polyline(&pts, color);
        s.legend(i, name, color);
    }
    s.finish()
}

/// Throughput per second over time; warm-up seconds shaded.
pub fn throughput_svg(buckets: &[Bucket], title: &str) -> String {
    let mut s = Svg::new(&format!("throughput: {title}"));
    s.frame("seconds", "operations per second");
    let (pw, ph) = (W - L - R, H - T - B);
    let tmax = buckets.last().map(|b| b.t).unwrap_or(1.0).max(1.0);
    let ymax = nice_ceil(buckets.iter().map(|b| b.ops_per_sec).fold(0.0, f64::max).max(1.0) * 1.1);
    let x_of = |t: f64| L + t / tmax * pw;
    let y_of = |v: f64| T + ph - v / ymax * ph;
    if let Some(w) = buckets.iter().rfind(|b| b.warmup) {
        let _ = writeln!(s.0, r##"<rect x="{L}" y="{T}" width="{:.1}" height="{ph}" fill="#eeeeee"/>"##, x_of(w.t) - L);
        s.text(L + 4.0, T + 14.0, "start", "warm-up");
    }
    for i in 0..=5 {
        let v = ymax * i as f64 / 5.0;
        let y = y_of(v);
        s.line(L, y, L + pw, y, "#dddddd");
        s.text(L - 6.0, y + 4.0, "end", &thousands(v as u64));
    }
    let step = nice_ceil(tmax / 10.0).max(1.0);
    let mut t = 0.0;
    while t <= tmax + 1e-9 {
        s.text(x_of(t), T + ph + 16.0, "middle", &format!("{t}"));
        t += step;
    }
    let mut pts = vec![];
    let mut prev = 0.0;
    for b in buckets {
        pts.push((x_of(prev), y_of(b.ops_per_sec)));
        pts.push((x_of(b.t), y_of(b.ops_per_sec)));
        prev = b.t;
    }
    s.polyline(&pts, COLORS[0]);
    s.legend(0, "ops/s", COLORS[0]);
    let errs: Vec<&Bucket> = buckets.iter().filter(|b| b.errors > 0).collect();
    if !errs.is_empty() {
        for b in &errs {
            let _ =
                writeln!(s.0, r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{}"/>"#, x_of(b.t), T + ph - 4.0, COLORS[1]);
        }
        s.legend(1, "errors", COLORS[1]);
    }
    s.finish()
}

/// 1, 2, 5 x 10^k at or above v.
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * e >= v - 1e-9 {
            return m * e;
        }
    }
    10.0 * e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svgs_are_well_formed_enough() {
        let mut h = new_hist();
        for v in 1..10_000u64 {
            h.record(v * 1000).unwrap();
        }
        let s = latency_svg(&[("read", h.clone()), ("all", h)], "t<&>");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
        assert!(s.contains("t&lt;&amp;&gt;"));
        assert!(s.contains("<polyline"));
        let b = (1..5)
            .map(|i| Bucket {
                t: i as f64,
                ops_per_sec: 1000.0 * i as f64,
                p50_us: 1.0,
                p99_us: 2.0,
                errors: 0,
                warmup: i == 1,
            })
            .collect::<Vec<_>>();
        let s = throughput_svg(&b, "x");
        assert!(s.contains("warm-up") && s.contains("<polyline"));
        let s = throughput_svg(&[], "empty");
        assert!(s.ends_with("</svg>\n"));
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(nice_ceil(3.0), 5.0);
        assert_eq!(nice_ceil(110_000.0), 200_000.0);
    }
}
