// SPDX-License-Identifier: GPL-2.0
//! The socket addresses in `ctx_my_addr` / `ctx_peer_addr`: raw `struct sockaddr_in` (16
//! bytes) or `struct sockaddr_in6` (28 bytes) as drbdsetup builds them — family in host order,
//! port, address and IPv6 flow info in network order, scope id in host order, padding zero.

/// `AF_INET`.
pub const AF_INET: u16 = 2;
/// `AF_INET6`.
pub const AF_INET6: u16 = 10;
/// `AF_INET_SDP` (drbdsetup's `sdp:` addresses; `sockaddr_in` layout).
pub const AF_INET_SDP: u16 = 27;
/// Size of `struct sockaddr_in`.
pub const SOCKADDR_IN_LEN: usize = 16;
/// Size of `struct sockaddr_in6`.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// drbdsetup's default port.
pub const DEFAULT_PORT: u16 = 7788;

/// A connection endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockAddr {
    /// An address in `sockaddr_in` layout: `AF_INET`, or another family using that layout
    /// (`AF_INET_SDP`).
    V4 {
        /// Address family (host order on the wire).
        family: u16,
        /// IPv4 address, in network order.
        addr: [u8; 4],
        /// Port number.
        port: u16,
    },
    /// `AF_INET6`.
    V6 {
        /// IPv6 address, in network order.
        addr: [u8; 16],
        /// Port number.
        port: u16,
        /// `sin6_flowinfo`.
        flowinfo: u32,
        /// `sin6_scope_id` (interface index for link-local addresses).
        scope_id: u32,
    },
}

impl SockAddr {
    /// An `AF_INET` address.
    pub const fn ipv4(addr: [u8; 4], port: u16) -> Self {
        SockAddr::V4 {
            family: AF_INET,
            addr,
            port,
        }
    }

    /// An `AF_INET6` address without flow info and scope.
    pub const fn ipv6(addr: [u8; 16], port: u16) -> Self {
        SockAddr::V6 {
            addr,
            port,
            flowinfo: 0,
            scope_id: 0,
        }
    }

    /// The address family.
    pub const fn family(&self) -> u16 {
        match self {
            SockAddr::V4 { family, .. } => *family,
            SockAddr::V6 { .. } => AF_INET6,
        }
    }

    /// The port.
    pub const fn port(&self) -> u16 {
        match self {
            SockAddr::V4 { port, .. } | SockAddr::V6 { port, .. } => *port,
        }
    }

    /// Encode into `buf`; returns the encoded part (16 or 28 bytes), or `None` if `buf` is
    /// too small.
    pub fn encode<'b>(&self, buf: &'b mut [u8]) -> Option<&'b [u8]> {
        let mut raw = [0u8; SOCKADDR_IN6_LEN];
        let len = match *self {
            SockAddr::V4 { family, addr, port } => {
                put(&mut raw, 0, &family.to_ne_bytes())?;
                put(&mut raw, 2, &port.to_be_bytes())?;
                put(&mut raw, 4, &addr)?;
                SOCKADDR_IN_LEN
            }
            SockAddr::V6 {
                addr,
                port,
                flowinfo,
                scope_id,
            } => {
                put(&mut raw, 0, &AF_INET6.to_ne_bytes())?;
                put(&mut raw, 2, &port.to_be_bytes())?;
                put(&mut raw, 4, &flowinfo.to_be_bytes())?;
                put(&mut raw, 8, &addr)?;
                put(&mut raw, 24, &scope_id.to_ne_bytes())?;
                SOCKADDR_IN6_LEN
            }
        };
        let out = buf.get_mut(..len)?;
        out.copy_from_slice(raw.get(..len)?);
        Some(out)
    }

    /// Decode a `sockaddr_in6` (family `AF_INET6`, at least 28 bytes) or a `sockaddr_in`
    /// layout (any other family, at least 8 bytes).
    pub fn decode(b: &[u8]) -> Option<Self> {
        let family = u16::from_ne_bytes(get(b, 0)?);
        let port = u16::from_be_bytes(get(b, 2)?);
        if family == AF_INET6 {
            Some(SockAddr::V6 {
                flowinfo: u32::from_be_bytes(get(b, 4)?),
                addr: get(b, 8)?,
                scope_id: u32::from_ne_bytes(get(b, 24)?),
                port,
            })
        } else {
            Some(SockAddr::V4 {
                family,
                addr: get(b, 4)?,
                port,
            })
        }
    }
}

fn put(dst: &mut [u8], at: usize, src: &[u8]) -> Option<()> {
    dst.get_mut(at..at.checked_add(src.len())?)?
        .copy_from_slice(src);
    Some(())
}

fn get<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_layout() {
        let mut buf = [0xffu8; 32];
        let b = SockAddr::ipv4([10, 0, 0, 1], 7789)
            .encode(&mut buf)
            .unwrap();
        let mut expected = [0u8; 16];
        expected[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        expected[2..4].copy_from_slice(&[0x1e, 0x6d]);
        expected[4..8].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(b, &expected[..]);
        assert_eq!(
            SockAddr::decode(b),
            Some(SockAddr::ipv4([10, 0, 0, 1], 7789))
        );
        assert_eq!(SockAddr::decode(&b[..7]), None);
        assert!(SockAddr::ipv4([1; 4], 1).encode(&mut [0u8; 15]).is_none());
    }

    #[test]
    fn ipv6_round_trip() {
        let a = SockAddr::V6 {
            addr: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            port: DEFAULT_PORT,
            flowinfo: 5,
            scope_id: 3,
        };
        let mut buf = [0u8; 28];
        let b = a.encode(&mut buf).unwrap();
        assert_eq!(b.len(), 28);
        assert_eq!(SockAddr::decode(b), Some(a));
        assert_eq!(SockAddr::decode(&b[..27]), None);
        assert_eq!(a.family(), AF_INET6);
        assert_eq!(a.port(), 7788);
    }
}
