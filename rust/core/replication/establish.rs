// SPDX-License-Identifier: GPL-2.0
//! Which TCP connection becomes the data socket and which the meta socket (§1.2).
//!
//! Both nodes listen and both connect. A node's first outgoing connection becomes its data
//! socket (it sends `P_INITIAL_DATA`), the next one its meta socket (`P_INITIAL_META`); an
//! accepted connection takes the role its first packet names. When both nodes connect at
//! the same time the roles cross: an accepted socket replaces one of the same role, and the
//! node then goes back to accepting with probability 1/2, so that the two nodes stop
//! replacing each other's sockets. The node that accepted the meta socket holds the
//! resolve-conflicts flag (the tie-breaker of concurrent decisions); its peer, which
//! connected the meta socket, does not.
//!
//! The engine owns the sockets and the timing (connect-int, jitter, the liveness check after
//! both exist); this value only decides roles.

use super::connection::Socket;

/// What an accepted connection becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Keep it as `role`; if `replaces` the socket of that role held so far is closed
    /// ("initial packet crossed").
    Keep {
        /// Its role.
        role: Socket,
        /// An older socket of the same role is closed.
        replaces: bool,
        /// Go back to accepting before connecting again.
        accept_again: bool,
    },
    /// Not a DRBD initial packet: close it.
    Close {
        /// Go back to accepting before connecting again.
        accept_again: bool,
    },
}

/// The role decisions of one connect attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Establish {
    data: bool,
    meta: bool,
    resolve_conflicts: bool,
}

impl Establish {
    /// No socket yet.
    pub const fn new() -> Self {
        Establish {
            data: false,
            meta: false,
            resolve_conflicts: false,
        }
    }

    /// The role an outgoing connection would get now (None: both sockets exist).
    pub const fn next_outgoing(&self) -> Option<Socket> {
        if !self.data {
            Some(Socket::Data)
        } else if !self.meta {
            Some(Socket::Meta)
        } else {
            None
        }
    }

    /// An outgoing connection succeeded: its role (send the matching initial packet on it),
    /// or None when both sockets exist already (close it).
    pub fn connected(&mut self) -> Option<Socket> {
        let role = self.next_outgoing()?;
        match role {
            Socket::Data => self.data = true,
            Socket::Meta => {
                self.meta = true;
                self.resolve_conflicts = false;
            }
        }
        Some(role)
    }

    /// An incoming connection was accepted and its first packet read: `first` is what
    /// [`super::connection::classify_first_packet`] said. `coin` is a fair random bit.
    pub fn accepted(&mut self, first: Option<Socket>, coin: bool) -> Accepted {
        match first {
            Some(role) => {
                let held = match role {
                    Socket::Data => &mut self.data,
                    Socket::Meta => &mut self.meta,
                };
                let replaces = *held;
                *held = true;
                if role == Socket::Meta {
                    self.resolve_conflicts = true;
                }
                Accepted::Keep {
                    role,
                    replaces,
                    accept_again: replaces && coin,
                }
            }
            None => Accepted::Close { accept_again: coin },
        }
    }

    /// A socket failed the liveness check (the peer closed it): it is gone.
    pub fn lost(&mut self, role: Socket) {
        match role {
            Socket::Data => self.data = false,
            Socket::Meta => self.meta = false,
        }
    }

    /// Both sockets exist.
    pub const fn complete(&self) -> bool {
        self.data && self.meta
    }

    /// This node accepted the meta socket (the flag `sockets_established` takes).
    pub const fn resolve_conflicts(&self) -> bool {
        self.resolve_conflicts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_order_gives_the_meta_acceptor_resolve_conflicts() {
        // Observed: node-a connected data (a→b), node-b connected meta (b→a).
        let (mut a, mut b) = (Establish::new(), Establish::new());
        assert_eq!(a.connected(), Some(Socket::Data));
        assert_eq!(
            b.accepted(Some(Socket::Data), true),
            Accepted::Keep {
                role: Socket::Data,
                replaces: false,
                accept_again: false
            }
        );
        assert_eq!(b.connected(), Some(Socket::Meta));
        assert!(matches!(
            a.accepted(Some(Socket::Meta), false),
            Accepted::Keep {
                role: Socket::Meta,
                replaces: false,
                ..
            }
        ));
        assert!(a.complete() && b.complete());
        assert!(a.resolve_conflicts());
        assert!(!b.resolve_conflicts());
        assert_eq!(a.connected(), None, "a third connection is closed");
    }

    #[test]
    fn crossed_initial_packets_replace_and_sometimes_wait() {
        // Both connected their data socket at once; each then accepts the other's.
        let mut a = Establish::new();
        assert_eq!(a.connected(), Some(Socket::Data));
        assert_eq!(
            a.accepted(Some(Socket::Data), true),
            Accepted::Keep {
                role: Socket::Data,
                replaces: true,
                accept_again: true
            }
        );
        assert_eq!(
            a.accepted(Some(Socket::Data), false),
            Accepted::Keep {
                role: Socket::Data,
                replaces: true,
                accept_again: false
            }
        );
        assert!(!a.complete());
        assert_eq!(a.next_outgoing(), Some(Socket::Meta));
    }

    #[test]
    fn connecting_the_meta_socket_clears_the_flag_accepting_sets_it() {
        let mut n = Establish::new();
        let _ = n.accepted(Some(Socket::Meta), false);
        assert!(n.resolve_conflicts());
        let _ = n.connected(); // data
        n.lost(Socket::Meta);
        assert_eq!(n.connected(), Some(Socket::Meta));
        assert!(!n.resolve_conflicts());
    }

    #[test]
    fn anything_else_is_closed() {
        let mut n = Establish::new();
        assert_eq!(
            n.accepted(None, true),
            Accepted::Close { accept_again: true }
        );
        assert!(!n.complete());
        assert_eq!(n.next_outgoing(), Some(Socket::Data));
    }

    /// Two nodes running the loop with random interleavings always end with one data and one
    /// meta socket each, exactly one of them resolving conflicts, when each socket pair's
    /// ends agree on the role.
    #[test]
    fn random_interleavings_converge() {
        use proptest::prelude::*;
        proptest!(|(steps in proptest::collection::vec((0u8..2, any::<bool>(), any::<bool>()), 1..60))| {
            let mut nodes = [Establish::new(), Establish::new()];
            // Connections in flight: (from, role the connector chose).
            let mut pending: std::vec::Vec<(usize, Socket)> = std::vec::Vec::new();
            // Live sockets: (owner, role) pairs per TCP connection.
            let mut links: std::vec::Vec<[(usize, Socket); 2]> = std::vec::Vec::new();
            for (who, connect, coin) in steps {
                let who = usize::from(who);
                if nodes[0].complete() && nodes[1].complete() {
                    break;
                }
                if connect {
                    if let Some(role) = nodes[who].connected() {
                        pending.push((who, role));
                    }
                } else if let Some(pos) = pending.iter().position(|(from, _)| *from != who) {
                    let (from, role) = pending.remove(pos);
                    match nodes[who].accepted(Some(role), coin) {
                        Accepted::Keep { role: kept, replaces, .. } => {
                            if replaces {
                                // The older socket of that role at `who` closes; its other
                                // end notices at the liveness check.
                                if let Some(i) = links.iter().position(|l| l.contains(&(who, kept))) {
                                    let l = links.remove(i);
                                    for (owner, r) in l {
                                        if owner != who {
                                            nodes[owner].lost(r);
                                        }
                                    }
                                }
                            }
                            links.push([(from, role), (who, kept)]);
                        }
                        Accepted::Close { .. } => nodes[from].lost(role),
                    }
                }
            }
            for l in &links {
                prop_assert_eq!(l[0].1, l[1].1, "both ends of a connection agree on its role");
            }
            if nodes[0].complete() && nodes[1].complete() && links.len() == 2 {
                prop_assert!(nodes[0].resolve_conflicts() != nodes[1].resolve_conflicts());
            }
        });
    }
}
