//! BarterCast's bounded max-flow reputation.

use crate::graph::{Graph, PeerId};
use crate::reputation::Reputation;

/// Reputation by max-flow over paths of at most two hops, as BarterCast (Tribler) computes
/// it: `arctan(flow(peer → ego) − flow(ego → peer)) / (π/2)`, in (−1, 1).
///
/// With capacities = positive walk weights, the two-hop max-flow from *a* to *b* is exact and
/// cheap: the direct relation plus, for every intermediary *x*, `min(c(a,x), c(x,b))` (those
/// paths share no relation). A Sybil region can send the ego no more flow than the capacity
/// of the relations into the ego's neighbourhood, whatever its size.
///
/// ```
/// use trust_core::{EdgeUpdate, Graph, PeerId, RelationType, Reputation, TwoHopFlow};
///
/// let mut g = Graph::new(Default::default());
/// let up = |from, to, mb| EdgeUpdate { from: PeerId(from), to: PeerId(to), kind: RelationType::TRAFFIC_EXCHANGE, strength: mb, timestamp: 1 };
/// g.apply(up(1, 0, 50.0)); // peer 1 uploaded 50 to the ego
/// g.apply(up(0, 1, 10.0));
/// assert!(TwoHopFlow.score(&g, PeerId(0), PeerId(1)) > 0.0);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TwoHopFlow;

impl TwoHopFlow {
    /// The max-flow from `a` to `b` over paths of at most two relations.
    #[must_use]
    pub fn flow(graph: &Graph, a: PeerId, b: PeerId) -> f64 {
        if a == b {
            return 0.0;
        }
        let direct = graph.capacity(a, b);
        let via: f64 = graph
            .trusted_neighbours(a)
            .filter(|(x, _, _)| *x != a && *x != b)
            .map(|(x, c_ax, _)| c_ax.min(graph.capacity(x, b)))
            .sum();
        direct + via
    }
}

impl Reputation for TwoHopFlow {
    fn score(&mut self, graph: &Graph, ego: PeerId, peer: PeerId) -> f64 {
        let net = Self::flow(graph, peer, ego) - Self::flow(graph, ego, peer);
        libm::atan(net) / core::f64::consts::FRAC_PI_2
    }
}
