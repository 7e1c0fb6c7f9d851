//! Figures of whole overlays (printed as `figure NAME VALUE UNIT`): 300 nodes, one of each
//! NAT kind in turn, 120 s of virtual time, as `ipv8 sim` runs them.

#![allow(clippy::print_stdout, clippy::unwrap_used)] // a bench binary prints its figures

use overlay_sim::{Scenario, run};

fn main() {
    let started = std::time::Instant::now();
    let report = run(&Scenario::new(300), |_| std::ops::ControlFlow::Continue(())).unwrap();
    let wall = started.elapsed().as_secs_f64();
    print!("{}", report.matrix_table());
    let f = |name: &str, v: Option<f64>, unit: &str| {
        if let Some(v) = v {
            println!("figure {name} {v:.1} {unit}");
        }
    };
    f("overlay_discovery_s_p50", report.discovery_s_p50, "s");
    f("overlay_discovery_s_p99", report.discovery_s_p99, "s");
    f("overlay_punch_success_pct", Some(report.punch_success_pct), "%");
    f("overlay_reachability_pct", Some(report.reachability_pct), "%");
    f("overlay_time_to_first_message_ms_p50", report.time_to_first_message_ms_p50, "ms");
    f("overlay_sim_bytes_per_node_per_s", Some(report.bytes_per_node_per_s), "B/s");
    f("overlay_sim_wall_s_per_node_virtual_s", Some(wall / 303.0 / 120.0 * 1e6), "us");
}
