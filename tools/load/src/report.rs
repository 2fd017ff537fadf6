//! Figures: percentiles, the table printed after a run, the JSON kept per run, and
//! the medians of several runs (`--summarize`).

use std::collections::BTreeMap;

/// The figures of one run, in the order they are printed.
pub type Figures = Vec<(&'static str, f64)>;

/// What each figure means, for the printed tables.
pub const LABELS: &[(&str, &str)] = &[
    ("n", "users (N)"),
    ("idle_rss_mib", "server RSS idle, MiB"),
    ("join_s", "N joins, s (connect to own users list)"),
    (
        "join_settled_s",
        "N joins until every announcement arrived, s",
    ),
    ("idle_cpu_ms_per_s", "server CPU when idle, ms per s"),
    (
        "v2_connect_s",
        "v2: connect, upgrade, join until every challenge, s",
    ),
    ("v2_connect_cpu_s", "v2: server CPU for that, s"),
    ("v2_sign_s", "v2: the tool signs every proof, wall s"),
    ("v2_sign_cpu_s", "v2: the tool's signing CPU, s"),
    ("v2_sign_cpu_us_each", "v2: the tool's CPU per proof, µs"),
    (
        "v2_join_s",
        "v2: first proof to all but the marker joined (sum of waves), s",
    ),
    (
        "v2_marker_s",
        "v2: the marker connects, proves, is seen by all, s",
    ),
    ("v2_settled_s", "v2: joins + marker = joined and settled, s"),
    (
        "v2_total_s",
        "v2: first connect to settled, signing included, s",
    ),
    (
        "v2_join_cpu_s",
        "v2: server CPU, first proof to all joined, s",
    ),
    (
        "v2_settled_cpu_s",
        "v2: server CPU, joins + marker until settled, s",
    ),
    ("join_p50_ms", "one join p50, ms"),
    ("join_p99_ms", "one join p99, ms"),
    ("join_failed", "joins failed"),
    (
        "join_received_mib",
        "bytes received by clients during the joins, MiB",
    ),
    ("join_cpu_s", "server CPU for the joins, s"),
    ("rss_mib", "server RSS with N users, MiB"),
    ("rss_per_user_kib", "server RSS per user, KiB"),
    (
        "settled_peak_rss_mib",
        "server peak RSS (VmHWM) once settled, MiB",
    ),
    ("rotations", "rotations measured"),
    (
        "rotation_ms",
        "one member leaves: until all have the new group key, ms",
    ),
    (
        "rotation_cpu_ms",
        "one member leaves: server CPU less idle, ms",
    ),
    ("all_rate", "@all steady: messages/s offered"),
    ("all_deliveries_per_s", "@all steady: deliveries/s"),
    ("all_p50_ms", "@all steady: latency p50, ms"),
    ("all_p99_ms", "@all steady: latency p99, ms"),
    ("all_missing", "@all steady: deliveries missing"),
    (
        "all_cpu_us_per_frame",
        "@all steady: server CPU per delivered frame, µs",
    ),
    ("burst_messages", "@all burst: messages sent at once"),
    ("burst_deliveries_per_s", "@all burst: deliveries/s"),
    ("burst_p50_ms", "@all burst: latency p50, ms"),
    ("burst_p99_ms", "@all burst: latency p99, ms"),
    ("burst_missing", "@all burst: deliveries missing"),
    (
        "burst_cpu_us_per_frame",
        "@all burst: server CPU per delivered frame, µs",
    ),
    ("direct_rate", "1:1: messages/s offered"),
    ("direct_p50_ms", "1:1: latency p50, ms"),
    ("direct_p99_ms", "1:1: latency p99, ms"),
    ("direct_missing", "1:1: messages missing"),
    (
        "direct_copies_per_message",
        "1:1: copies to others per message",
    ),
    (
        "direct_cpu_ms_per_message",
        "1:1: server CPU per message, ms",
    ),
    ("honest_p50_ms", "honest @all p50 without flood, ms"),
    ("honest_p99_ms", "honest @all p99 without flood, ms"),
    ("flood_p50_ms", "honest @all p50 during flood, ms"),
    ("flood_p99_ms", "honest @all p99 during flood, ms"),
    ("flood_p99_ratio", "p99 during flood / without"),
    ("flood_missing", "honest deliveries missing during flood"),
    ("flood_frames", "frames the flooder wrote"),
    ("flood_connections", "flooder connections (reconnects + 1)"),
    (
        "flood_delivered",
        "flood messages delivered to honest users",
    ),
    ("flood_cpu_s", "server CPU during the flood phase, s"),
    ("throttle_rate", "throttle: the sender's @all messages/s"),
    ("throttle_sent", "throttle: its messages"),
    (
        "throttle_delivered_pct",
        "throttle: its deliveries that arrived, %",
    ),
    ("throttle_out_of_order", "throttle: deliveries out of order"),
    (
        "throttle_last_s",
        "throttle: first send to last delivery, s",
    ),
    (
        "throttle_pace_per_s",
        "throttle: its messages/s as received",
    ),
    (
        "throttle_base_p50_ms",
        "throttle: honest p50 without it, ms",
    ),
    (
        "throttle_base_p99_ms",
        "throttle: honest p99 without it, ms",
    ),
    ("throttle_honest_p50_ms", "throttle: honest p50 with it, ms"),
    ("throttle_honest_p99_ms", "throttle: honest p99 with it, ms"),
    ("throttle_p99_ratio", "throttle: honest p99 with / without"),
    (
        "throttle_honest_missing",
        "throttle: honest deliveries missing",
    ),
    ("legacy_sent", "0.9 1:1: messages sent"),
    ("legacy_delivered", "0.9 1:1: delivered to their recipient"),
    ("legacy_p50_ms", "0.9 1:1: latency p50, ms"),
    ("legacy_p99_ms", "0.9 1:1: latency p99, ms"),
    (
        "legacy_copies_per_message",
        "0.9 1:1: copies to others per message",
    ),
    (
        "admin_rate",
        "to the administrator: messages/s from one user",
    ),
    ("admin_sent", "to the administrator: messages sent"),
    ("admin_shown", "to the administrator: shown on the console"),
    (
        "admin_console_p50_ms",
        "to the administrator: to the console p50, ms",
    ),
    (
        "admin_console_p99_ms",
        "to the administrator: to the console p99, ms",
    ),
    (
        "keywork_first_welcomes_s",
        "keywork: wait for the first N welcomes, s",
    ),
    ("keywork_base_p50_ms", "keywork: honest p50 without, ms"),
    ("keywork_base_p99_ms", "keywork: honest p99 without, ms"),
    ("keywork_p50_ms", "keywork: honest p50 with, ms"),
    ("keywork_p99_ms", "keywork: honest p99 with, ms"),
    ("keywork_p99_ratio", "keywork: honest p99 with / without"),
    (
        "keywork_admin_sent",
        "keywork: messages to the administrator",
    ),
    (
        "keywork_admin_shown",
        "keywork: of them shown on the console",
    ),
    (
        "keywork_admin_console_p99_ms",
        "keywork: to the console p99, ms",
    ),
    ("keywork_joiners", "keywork: clients joining during it"),
    ("keywork_joined", "keywork: of them joined"),
    ("keywork_welcomes", "keywork: welcome frames received"),
    ("cut_clients", "honest clients cut by the server"),
    ("peak_rss_mib", "server peak RSS (VmHWM), MiB"),
    ("leave_s", "N users leaving at once: server busy, s"),
    ("leave_cpu_s", "N users leaving at once: server CPU, s"),
    (
        "page_p50_ms",
        "page load p50 (page + assets, one connection), ms",
    ),
    ("page_p99_ms", "page load p99, ms"),
];

pub fn label(key: &str) -> &str {
    LABELS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, l)| *l)
        .unwrap_or(key)
}

/// The value at quantile `q` of sorted values (nearest rank).
pub fn quantile(sorted: &[u32], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(f64::from(sorted[rank - 1]))
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else if (v == v.trunc() && v.abs() < 1e15) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

pub fn print_table(figures: &Figures) {
    let width = figures
        .iter()
        .map(|(k, _)| label(k).chars().count())
        .max()
        .unwrap_or(0);
    for (key, value) in figures {
        println!("{:<width$}  {}", label(key), format_value(*value));
    }
}

pub fn to_json(figures: &Figures, notes: &[String]) -> String {
    let mut map = serde_json::Map::new();
    for (k, v) in figures {
        map.insert((*k).into(), serde_json::json!(v));
    }
    map.insert("notes".into(), serde_json::json!(notes));
    serde_json::to_string_pretty(&serde_json::Value::Object(map)).expect("plain values")
}

/// Medians of runs kept with `--json`, one column per N: a Markdown table.
pub fn summarize(files: &[String]) -> Result<String, String> {
    let mut by_n: BTreeMap<u64, Vec<serde_json::Map<String, serde_json::Value>>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        let map = value
            .as_object()
            .cloned()
            .ok_or_else(|| format!("{file}: not a run"))?;
        let n = map
            .get("n")
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("{file}: no n"))? as u64;
        by_n.entry(n).or_default().push(map);
    }
    let mut out = String::from("| figure |");
    for (n, runs) in &by_n {
        out.push_str(&format!(" N = {n} ({} runs) |", runs.len()));
    }
    out.push_str("\n|---|");
    for _ in &by_n {
        out.push_str("---:|");
    }
    out.push('\n');
    for (key, label) in LABELS.iter().skip(1) {
        let mut row = format!("| {label} |");
        let mut any = false;
        for runs in by_n.values() {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.get(*key).and_then(serde_json::Value::as_f64))
                .collect();
            if values.is_empty() {
                row.push_str(" |");
            } else {
                any = true;
                let m = median(&mut values);
                row.push_str(&format!(" {} |", format_value(m)));
            }
        }
        if any {
            out.push_str(&row);
            out.push('\n');
        }
    }
    Ok(out)
}
