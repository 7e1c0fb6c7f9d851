//! Leaving a far router alone until it forgets (`docs/overlay.md` §7.1).
//!
//! A punch fails for good when a full-TTL packet reaches the peer's Linux router before the
//! peer's own packet towards this node has left it: conntrack keeps the unsolicited flow
//! (30 s, refreshed by every further packet of it) and moves the peer's mapping towards
//! this node to another port, which this node's router then filters. Every retry, walk
//! step and handshake retransmission refreshes that state, so retrying cannot mend it;
//! silence can.
//!
//! A node whose punches towards an address have gone unanswered for [`GIVE_UP`] gives up
//! on it, if among them was a P2TP handshake or a puncture for a walker that asked for this
//! node by key (either means a stream is wanted there; a walk's puncture is no evidence, a
//! walker need not answer it):
//!
//! - for [`DRY`] it sends nothing there at all (no opener, puncture or walk step; its own
//!   handshake only if the give-up rested on an unsigned request alone): its own mapping
//!   there may be the moved one, and the peer's router must forget this node's flow;
//! - until [`QUIET`] it sends openers again (a fresh, unmoved mapping for the peer's next
//!   puncture to come through) but still no punch;
//! - after that it punches again, but opens a stream there only when the peer's puncture
//!   has arrived, never blind after the opening sequence.
//!
//! The peer, whose punches went unanswered too, started its clock with the same attempt (its
//! asked-for puncture answers this node's request) and gives up within a second or two of
//! this node, so the two dry spells overlap by more than the routers' 30 s; when the first
//! of them punches again the other already sends openers.
//! Messages go by relay meanwhile.

use alloc::collections::{BTreeMap, BTreeSet};
use core::net::SocketAddr;
use core::time::Duration;

use sansio_core::Instant;
use sync_core::Store;

use super::Node;

/// Punches towards an address unanswered this long have failed: longer than a stream's
/// opening sequence, its hand-over to a relay (`RELAY_AFTER`) and two direct retries (every
/// 5 s), so what a retry mends is no failure. (At 8 s, a 300-node simulation lost three
/// direct pairs in 60 s to dry spells a retry would have spared; at 20 s, none.)
pub(super) const GIVE_UP: Duration = Duration::from_secs(20);
/// After giving up, nothing goes to the address for this long: Linux conntrack forgets an
/// unreplied UDP flow after 30 s, and the peer may give up a few seconds later.
pub(super) const DRY: Duration = Duration::from_secs(35);
/// ...and no punch for this long: the peer may have given up up to `QUIET - DRY` earlier and
/// must be sending openers again when this node's first puncture comes.
pub(super) const QUIET: Duration = Duration::from_secs(50);
/// A failure is remembered this long unless the address is heard from.
pub(super) const REMEMBER: Duration = Duration::from_secs(600);

/// Addresses punched at and not heard from since, and those being left alone.
#[derive(Debug, Default)]
pub(super) struct Quiet {
    attempts: BTreeMap<SocketAddr, Attempt>,
    /// Give-up deadlines of the attempts still running, in order.
    due: BTreeSet<(Instant, SocketAddr)>,
}

/// What a punch is, as evidence that the address cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Punch {
    /// A P2TP handshake: this node wants a stream there, so one unanswered is a failure.
    Handshake,
    /// A puncture for a walker that asked for this node by key: it opens a stream the
    /// moment the puncture arrives, so one unanswered is a failure. (The request is
    /// unsigned: a failure on this evidence alone holds back punctures and openers only,
    /// never this node's own streams.)
    Asked,
    /// A puncture for a walk's introduction, or a walk step to a candidate: a walker need
    /// not answer (it may have moved on), so these are no evidence; they are only held back
    /// while the address is left alone.
    Puncture,
}

/// The strongest evidence among an attempt's punches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Evidence {
    None,
    Asked,
    Own,
}

impl Punch {
    fn evidence(self) -> Evidence {
        match self {
            Punch::Handshake => Evidence::Own,
            Punch::Asked => Evidence::Asked,
            Punch::Puncture => Evidence::None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    /// When the first unanswered punch (with the evidence below) went there.
    since: Instant,
    evidence: Evidence,
    /// When this node gave up on it, and on what evidence.
    gave_up: Option<(Instant, Evidence)>,
    /// When this node's own handshakes there failed before (not heard from since).
    failed: Option<Instant>,
}

impl Attempt {
    fn within(&self, now: Instant, d: Duration) -> bool {
        self.gave_up.is_some_and(|(g, _)| now < g + d)
    }

    /// Whether this node's own handshakes there failed within [`REMEMBER`].
    fn remembers(&self, now: Instant) -> bool {
        let own = self.gave_up.and_then(|(g, e)| (e == Evidence::Own).then_some(g));
        own.or(self.failed).is_some_and(|g| now < g + REMEMBER)
    }
}

impl Quiet {
    /// Whether no puncture, walk step or opener-led stream may go to `to` at `now`.
    pub(super) fn holds(&self, now: Instant, to: &SocketAddr) -> bool {
        self.attempts.get(to).is_some_and(|a| a.within(now, QUIET))
    }

    /// Whether this node's own streams to `to` wait (its handshakes there failed lately).
    pub(super) fn holds_streams(&self, now: Instant, to: &SocketAddr) -> bool {
        self.attempts
            .get(to)
            .is_some_and(|a| a.within(now, QUIET) && a.gave_up.is_some_and(|(_, e)| e == Evidence::Own))
    }

    /// Whether nothing at all, not even an opener, may go to `to` at `now`.
    pub(super) fn dry(&self, now: Instant, to: &SocketAddr) -> bool {
        self.attempts.get(to).is_some_and(|a| a.within(now, DRY))
    }

    /// Whether this node's handshakes towards `to` failed within [`REMEMBER`], and it was
    /// not heard from since.
    pub(super) fn failed_before(&self, now: Instant, to: &SocketAddr) -> bool {
        self.attempts.get(to).is_some_and(|a| a.remembers(now))
    }

    /// The next give-up due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.due.first().map(|(t, _)| *t)
    }
}

impl<S: Store> Node<S> {
    /// A punch is about to go to `to`: false if `to` is being left alone, so it must not.
    /// Otherwise the give-up clock starts, unless it runs.
    pub(super) fn may_punch(&mut self, now: Instant, to: SocketAddr, punch: Punch) -> bool {
        if !self.config.punch_silence {
            return true;
        }
        let evidence = punch.evidence();
        let mut failed = None;
        if let Some(a) = self.quiet.attempts.get_mut(&to) {
            if a.within(now, QUIET) {
                // A quiet spell on an unsigned request's evidence alone does not stop this
                // node's own streams.
                if punch == Punch::Handshake && a.gave_up.is_some_and(|(_, e)| e != Evidence::Own) {
                    return true;
                }
                self.stats.punches_held_back += 1;
                return false;
            }
            if a.gave_up.is_none() {
                if evidence > a.evidence {
                    if a.evidence == Evidence::None {
                        // The first evidence: the clock starts from it, not from the walk's
                        // punctures before it.
                        self.quiet.due.remove(&(a.since + GIVE_UP, to));
                        a.since = now;
                        self.quiet.due.insert((now + GIVE_UP, to));
                    }
                    a.evidence = evidence;
                }
                return true;
            }
            // Quiet is over: a fresh attempt, remembering an own failure.
            let own = a.gave_up.and_then(|(g, e)| (e == Evidence::Own).then_some(g)).or(a.failed);
            failed = own.filter(|g| now < *g + REMEMBER);
        } else if self.quiet.attempts.len() >= self.config.max_peers && !self.make_room(now) {
            // Full of live attempts and quiet spells: this punch goes unrecorded.
            return true;
        }
        self.quiet.attempts.insert(to, Attempt { since: now, evidence, gave_up: None, failed });
        self.quiet.due.insert((now + GIVE_UP, to));
        true
    }

    /// Room for one more attempt: failures past remembering go first, then the oldest
    /// running attempt without evidence. Never a quiet spell or a remembered failure (an
    /// outsider's throw-away attempts must not push those out).
    fn make_room(&mut self, now: Instant) -> bool {
        self.quiet.attempts.retain(|_, a| a.gave_up.is_none() || a.within(now, QUIET) || a.remembers(now));
        if self.quiet.attempts.len() < self.config.max_peers {
            return true;
        }
        let oldest = self
            .quiet
            .attempts
            .iter()
            .filter(|(_, a)| a.gave_up.is_none() && a.evidence == Evidence::None)
            .min_by_key(|(addr, a)| (a.since, **addr))
            .map(|(addr, a)| (*addr, a.since));
        let Some((addr, since)) = oldest else { return false };
        self.quiet.attempts.remove(&addr);
        self.quiet.due.remove(&(since + GIVE_UP, addr));
        true
    }

    /// A datagram came from `from`: punches there work.
    pub(super) fn heard_at(&mut self, from: &SocketAddr) {
        if self.quiet.attempts.is_empty() {
            return;
        }
        if let Some(a) = self.quiet.attempts.remove(from)
            && a.gave_up.is_none()
        {
            self.quiet.due.remove(&(a.since + GIVE_UP, *from));
        }
    }

    /// Punches unanswered for [`GIVE_UP`]: their addresses are left alone, and a stream
    /// of this node's still opening there is closed (its handshake retransmissions would
    /// keep the far router's state alive; its messages went by relay if one was known).
    pub(super) fn quiet_timeout(&mut self, now: Instant) {
        while let Some(&(at, address)) = self.quiet.due.first() {
            if at > now {
                break;
            }
            self.quiet.due.pop_first();
            let Some(a) = self.quiet.attempts.get_mut(&address) else { continue };
            if a.evidence == Evidence::None {
                // Only walk punctures: no telling a failure from a walker that moved on.
                // Forgotten, but an own failure stays on record.
                match a.failed {
                    Some(g) => a.gave_up = Some((g, Evidence::Own)),
                    None => {
                        self.quiet.attempts.remove(&address);
                    }
                }
                continue;
            }
            a.gave_up = Some((now, a.evidence));
            self.stats.punches_failed += 1;
            if a.evidence == Evidence::Own && self.sessions.get(&address).is_some_and(|s| !s.verified) {
                self.end_session(address, super::SendFailure::NoRoute);
                self.endpoint.close(now, address);
            }
        }
    }
}
