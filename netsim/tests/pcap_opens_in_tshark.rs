//! A capture written by the simulator is a pcap file that tshark decodes packet for packet.

#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::process::Command;

use netsim::addr as a;
use netsim::{NatConfig, Probe, Sim};
use sansio_core::Instant;

/// Needs the Debian package `tshark`; `.ci/run` installs it and runs this.
#[test]
#[ignore = "needs tshark (Debian package); run by .ci/run"]
fn tshark_reads_every_captured_packet_with_its_addresses() {
    let mut sim = Sim::new(sansio_core::Seed::new([6; 32]));
    let net = sim.internet();
    let server = sim.add_host(net, &[a("203.0.113.1:3478")], Probe::echo());
    let (nat, home) = sim.add_nat(net, "198.51.100.1".parse().unwrap(), NatConfig::port_restricted_cone());
    let client = sim.add_host(home, &[a("10.0.0.2:5000")], Probe::new());
    let v6_server = sim.add_host(net, &[a("[2001:db8::1]:3478")], Probe::new());
    let v6 = sim.add_host(net, &[a("[2001:db8::2]:6000")], Probe::new());
    sim.capture(sim.host_downlink(v6_server));
    sim.capture(sim.host_downlink(server));
    sim.capture(sim.nat_uplink(nat));
    for i in 0..7u64 {
        sim.call_at(Instant::from_millis(i * 10), client, move |p: &mut Probe, _| {
            p.send(a("203.0.113.1:3478"), vec![0x42; 20 + i as usize])
        });
    }
    sim.call_at(Instant::from_millis(100), v6, |p: &mut Probe, _| p.send(a("[2001:db8::1]:3478"), vec![1; 8]));
    sim.run_until(Instant::from_secs(1)).unwrap();

    let dir = std::env::temp_dir().join(format!("netsim-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server-downlink.pcap");
    let written = sim.write_pcap(sim.host_downlink(server), std::fs::File::create(&path).unwrap()).unwrap();
    assert_eq!(written, 7);

    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "udp.srcport",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "udp.length",
        ])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 7, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line, &format!("198.51.100.1\t5000\t203.0.113.1\t3478\t{}", 28 + i), "packet {i}");
    }

    // tshark validates the checksums when asked: none is bad.
    let out = Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-Y",
            "udp.checksum.status == 0 || ip.checksum.status == 0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "bad checksums: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let path6 = dir.join("v6.pcap");
    assert_eq!(sim.write_pcap(sim.host_downlink(v6_server), std::fs::File::create(&path6).unwrap()).unwrap(), 1);
    let out = Command::new("tshark")
        .args([
            "-r",
            path6.to_str().unwrap(),
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "ipv6.src",
            "-e",
            "udp.dstport",
            "-e",
            "udp.checksum.status",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2001:db8::2\t3478\t1", "IPv6/UDP with a good checksum");
    std::fs::remove_dir_all(&dir).unwrap();
}
