//! Port prediction for a node behind a NAT that maps per destination but gives out its
//! external ports in sequence (`docs/overlay.md` §7.2).
//!
//! Such a NAT gives every new flow (a destination this node's sockets have not sent to, or
//! whose mapping has expired) the next port up. The node numbers its flows as it opens them,
//! and its introduction responses say which external port each flow got. From a few of
//! those, all rising by small steps, it learns the step, and so predicts the external port of
//! a flow no peer has reported: the one towards a peer it wants to punch to. A NAT that picks
//! ports at random gives no rising run, and nothing is predicted.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::Instant;

/// A flow with no answer yet is taken as gone at the NAT after this long idle (Linux
/// conntrack's unreplied UDP timeout, the shortest common one)...
const UNREPLIED_LIFETIME: Duration = Duration::from_secs(30);
/// ...and an answered one after this long (conntrack's "stream" timeout; RFC 4787 REQ-5's
/// two minutes).
const ANSWERED_LIFETIME: Duration = Duration::from_secs(120);
/// Observations kept (the newest).
const OBSERVATIONS: usize = 8;
/// Observations that must rise in step before a prediction is made.
const RUN: usize = 3;
/// The largest port step per flow taken as sequential: other hosts behind the same NAT
/// take ports between ours, a random allocator leaps.
const MAX_STEP: u32 = 4;
/// The most flows between two reports of a run: across more, a random allocator would rise
/// within `MAX_STEP` per flow too often to tell apart (across 256, one gap in 64 by chance;
/// a node opens many flows between two introduction responses, so a tighter cap loses runs).
const MAX_GAP: u64 = 256;

/// One flow: its number in opening order, its last datagram either way, and whether
/// anything came back.
#[derive(Clone, Copy, Debug)]
struct Flow {
    index: u64,
    last_used: Instant,
    answered: bool,
}

impl Flow {
    /// Whether the NAT still holds it at `now`.
    fn alive(&self, now: Instant) -> bool {
        let lifetime = if self.answered { ANSWERED_LIFETIME } else { UNREPLIED_LIFETIME };
        now.saturating_duration_since(self.last_used) <= lifetime
    }
}

/// The flows this node opened and the external ports its peers saw them from.
#[derive(Debug)]
pub(crate) struct Ports {
    flows: BTreeMap<(SocketAddr, SocketAddr), Flow>,
    next: u64,
    /// (flow index, external port), newest last.
    seen: VecDeque<(u64, u16)>,
    capacity: usize,
}

impl Ports {
    /// Remembers at most `capacity` flows (those the NAT has dropped go first, then the least
    /// recently used).
    pub(crate) fn new(capacity: usize) -> Self {
        Self { flows: BTreeMap::new(), next: 0, seen: VecDeque::new(), capacity: capacity.max(1) }
    }

    /// A datagram left `local` for `remote`: a new flow unless one is alive there.
    pub(crate) fn sent(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        let next = &mut self.next;
        if let Some(f) = self.flows.get_mut(&(local, remote)) {
            if !f.alive(now) {
                *f = Flow { index: *next, last_used: now, answered: false };
                *next += 1;
            } else {
                f.last_used = now;
            }
            return;
        }
        if self.flows.len() >= self.capacity {
            // A flow still alive and evicted would count as new when used again, and the
            // count would run ahead of the NAT's: the dead go first.
            let stalest = self.flows.iter().min_by_key(|(k, f)| (f.alive(now), f.last_used, **k)).map(|(k, _)| *k);
            if let Some(k) = stalest {
                self.flows.remove(&k);
            }
        }
        self.flows.insert((local, remote), Flow { index: self.next, last_used: now, answered: false });
        self.next += 1;
    }

    /// A datagram came from `remote` to `local`: a live flow there is answered (it lives
    /// longer) and refreshed, as a NAT refreshes it on replies.
    pub(crate) fn heard(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr) {
        if let Some(f) = self.flows.get_mut(&(local, remote))
            && f.alive(now)
        {
            f.answered = true;
            f.last_used = now;
        }
    }

    /// Whether a flow from `local` to `remote` is alive at `now` (a datagram there opens none).
    pub(crate) fn is_live(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> bool {
        self.live(now, local, remote).is_some()
    }

    /// The flow from `local` to `remote`, if the NAT still holds it at `now`.
    fn live(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> Option<&Flow> {
        self.flows.get(&(local, remote)).filter(|f| f.alive(now))
    }

    /// `remote` saw the flow from `local` come from external port `port`.
    pub(crate) fn observed(&mut self, local: SocketAddr, remote: SocketAddr, port: u16) {
        let Some(f) = self.flows.get(&(local, remote)) else { return };
        let index = f.index;
        self.seen.retain(|(i, _)| *i != index);
        if self.seen.len() >= OBSERVATIONS {
            self.seen.pop_front();
        }
        self.seen.push_back((index, port));
    }

    /// The external port of the flow from `local` to `remote` that a datagram sent at `now`
    /// would take (with no live flow there, or no `remote`: the next flow to open), after
    /// datagrams to `before` have left first; `None` unless the newest observations rise in
    /// step.
    pub(crate) fn predict(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: Option<SocketAddr>,
        before: impl IntoIterator<Item = SocketAddr>,
    ) -> Option<u16> {
        let target = match remote.and_then(|r| self.live(now, local, r)) {
            Some(f) => f.index,
            None => {
                // Each destination without a live flow opens one, in order; `remote` among
                // them opens its own.
                let mut opened = BTreeSet::new();
                let mut at = None;
                for d in before {
                    if !self.is_live(now, local, d) && opened.insert(d) && Some(d) == remote {
                        at = Some(opened.len() - 1);
                    }
                }
                self.next + at.unwrap_or(opened.len()) as u64
            }
        };
        let mut buf = [(0u64, 0u16); OBSERVATIONS];
        for (b, s) in buf.iter_mut().zip(&self.seen) {
            *b = *s;
        }
        let all = &mut buf[..self.seen.len()];
        all.sort_unstable();
        let mut start = all.len().saturating_sub(RUN + 1);
        // A run ends at a gap of more flows than MAX_GAP: what is below it says little.
        if let Some(k) = (start + 1..all.len()).rev().find(|&k| all[k].0 - all[k - 1].0 > MAX_GAP) {
            start = k;
        }
        let run = &all[start..];
        if run.len() < RUN {
            return None;
        }
        let mut step = MAX_STEP;
        for w in run.windows(2) {
            let ((i1, p1), (i2, p2)) = (w[0], w[1]);
            let (flows, ports) = (i2 - i1, u32::from(p2).checked_sub(u32::from(p1))?);
            if ports < 1 || u64::from(ports) > u64::from(MAX_STEP) * flows {
                return None;
            }
            step = step.min(u32::try_from(u64::from(ports) / flows).unwrap_or(MAX_STEP).max(1));
        }
        // From the nearest report at or below the flow (an older flow than any reported one:
        // back from the oldest).
        match all.iter().rev().find(|(i, _)| *i <= target) {
            Some(&(base_index, base_port)) => {
                let ahead = u32::try_from(target - base_index).ok()?;
                u16::try_from(u32::from(base_port) + step.checked_mul(ahead)?).ok()
            }
            None => {
                let &(base_index, base_port) = all.first()?;
                let behind = u32::try_from(base_index - target).ok()?;
                u16::try_from(u32::from(base_port).checked_sub(step.checked_mul(behind)?)?).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A sequential NAT: flow n leaves from port 20,000 + n.
    fn sequential(ports: &mut Ports, flows: u16, observe: &[u16]) {
        let local = a("10.0.0.2:6421");
        for n in 0..flows {
            let remote = SocketAddr::new(a("203.0.113.1:1").ip(), 1000 + n);
            ports.sent(Instant::ZERO, local, remote);
            if observe.contains(&n) {
                ports.heard(Instant::ZERO, local, remote);
                ports.observed(local, remote, 20_000 + n);
            }
        }
    }

    #[test]
    fn the_port_of_an_unreported_flow_follows_a_rising_run() {
        let mut p = Ports::new(64);
        sequential(&mut p, 10, &[1, 3, 4, 6]);
        let local = a("10.0.0.2:6421");
        let remote = |n: u16| Some(SocketAddr::new(a("203.0.113.1:1").ip(), 1000 + n));
        assert_eq!(p.predict(Instant::ZERO, local, remote(8), []), Some(20_008), "two flows past the newest report");
        assert_eq!(p.predict(Instant::ZERO, local, remote(5), []), Some(20_005), "between two reports");
        assert_eq!(p.predict(Instant::ZERO, local, remote(3), []), Some(20_003), "a reported flow is known");
        assert_eq!(p.predict(Instant::ZERO, local, None, []), Some(20_010), "the next flow to open");
        assert_eq!(p.predict(Instant::ZERO, local, remote(0), []), Some(20_000), "older than every report");
        let later = Instant::from_secs(31);
        assert_eq!(p.predict(later, local, remote(2), []), Some(20_010), "gone at the NAT: the next flow's port");
        assert_eq!(p.predict(later, local, remote(3), []), Some(20_003), "answered: still there");
        // Only the newest reports must rise in step; a flow far below them is still placed
        // from its nearest report.
        let mut q = Ports::new(64);
        sequential(&mut q, 20, &[2, 14, 15, 16, 17]);
        assert_eq!(q.predict(Instant::ZERO, local, remote(5), []), Some(20_005));
    }

    #[test]
    fn random_ports_or_too_few_reports_predict_nothing() {
        let mut p = Ports::new(64);
        sequential(&mut p, 4, &[1, 3]);
        assert_eq!(p.predict(Instant::ZERO, a("10.0.0.2:6421"), None, []), None, "two reports are no run");
        let mut r = Ports::new(64);
        let local = a("10.0.0.2:6421");
        for (n, port) in [(0u16, 41_000u16), (1, 7_203), (2, 55_310), (3, 12_001)] {
            let remote = SocketAddr::new(a("203.0.113.1:1").ip(), 1000 + n);
            r.sent(Instant::ZERO, local, remote);
            r.observed(local, remote, port);
        }
        assert_eq!(r.predict(Instant::ZERO, local, None, []), None);
    }

    #[test]
    fn a_flow_idle_past_its_lifetime_is_a_new_one_and_a_live_one_is_not() {
        let mut p = Ports::new(64);
        let local = a("10.0.0.2:6421");
        let (x, y) = (a("203.0.113.1:1"), a("203.0.113.2:1"));
        p.sent(Instant::ZERO, local, x);
        p.sent(Instant::from_secs(10), local, x);
        assert_eq!(p.next, 1, "refreshed within 30 s: the same flow");
        p.sent(Instant::from_secs(50), local, x);
        assert_eq!(p.next, 2, "unanswered and idle 40 s: the NAT gave it a new port");
        p.heard(Instant::from_secs(50), local, x);
        p.sent(Instant::from_secs(150), local, x);
        assert_eq!(p.next, 2, "answered: it lives 120 s");
        p.heard(Instant::from_secs(260), local, x);
        p.sent(Instant::from_secs(370), local, x);
        assert_eq!(p.next, 2, "a reply refreshes it, as it does at the NAT");
        p.sent(Instant::from_secs(150), local, y);
        assert_eq!(p.next, 3);
    }

    #[test]
    fn flows_are_bounded_and_the_stalest_goes() {
        let mut p = Ports::new(4);
        let local = a("10.0.0.2:6421");
        for n in 0..10u16 {
            p.sent(Instant::from_millis(u64::from(n)), local, SocketAddr::new(a("203.0.113.1:1").ip(), n));
        }
        assert_eq!(p.flows.len(), 4);
        assert!(p.flows.contains_key(&(local, SocketAddr::new(a("203.0.113.1:1").ip(), 9))));
        // One flow kept alive by replies outlives fresher ones the NAT has dropped.
        let mut q = Ports::new(2);
        let (kept, dropped, new) = (a("203.0.113.1:1"), a("203.0.113.2:1"), a("203.0.113.3:1"));
        q.sent(Instant::ZERO, local, kept);
        q.sent(Instant::from_secs(5), local, dropped);
        q.heard(Instant::from_secs(20), local, kept);
        q.sent(Instant::from_secs(40), local, new);
        assert!(q.flows.contains_key(&(local, kept)), "alive, though the stalest");
        assert!(!q.flows.contains_key(&(local, dropped)), "unanswered for 35 s: gone at the NAT");
    }

    #[test]
    fn datagrams_that_leave_first_open_their_own_flows() {
        let mut p = Ports::new(64);
        sequential(&mut p, 10, &[6, 7, 8, 9]);
        let local = a("10.0.0.2:6421");
        let known = SocketAddr::new(a("203.0.113.1:1").ip(), 1009);
        let (x, y) = (a("198.51.100.1:1"), a("198.51.100.2:1"));
        assert_eq!(p.predict(Instant::ZERO, local, None, [x]), Some(20_011), "a request to x opens flow 10 first");
        assert_eq!(p.predict(Instant::ZERO, local, None, [known, x, x]), Some(20_011), "a live flow opens nothing");
        assert_eq!(p.predict(Instant::ZERO, local, Some(y), [x, y, a("198.51.100.3:1")]), Some(20_011), "y's own");
        assert_eq!(p.predict(Instant::ZERO, local, Some(known), [x]), Some(20_009), "live: its port");
    }

    #[test]
    fn ports_that_leap_or_reports_far_apart_predict_nothing() {
        let local = a("10.0.0.2:6421");
        let mut leaping = Ports::new(64);
        for n in 0..4u16 {
            let remote = SocketAddr::new(a("203.0.113.1:1").ip(), 1000 + n);
            leaping.sent(Instant::ZERO, local, remote);
            leaping.observed(local, remote, 20_000 + 100 * n);
        }
        assert_eq!(leaping.predict(Instant::ZERO, local, None, []), None, "rising by 100 a flow: random");
        let mut apart = Ports::new(64);
        sequential(&mut apart, 800, &[0, 300, 600, 799]);
        assert_eq!(apart.predict(Instant::ZERO, local, None, []), None, "300 flows between reports say too little");
        let mut after = Ports::new(64);
        sequential(&mut after, 303, &[0, 300, 301, 302]);
        assert_eq!(after.predict(Instant::ZERO, local, None, []), Some(20_303), "the run above the gap");
    }
}
