//! Who a request comes from: the socket's peer, or — only when the peer is a proxy the
//! settings trust — the client the proxies forwarded for.
//!
//! Forwarding headers are read right to left, as proxies append to them: the rightmost hop
//! that is not a trusted proxy is the client. Anything to its left was written by the client
//! itself and proves nothing, so a spoofed header from an untrusted peer changes nothing.

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

/// A block of addresses, `10.0.0.0/8` or `fd00::/8` (a bare address is a block of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this block; an IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = s.split_once('/').unwrap_or((s, ""));
        let network: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let network = canonical(network);
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = if prefix.is_empty() {
            max
        } else {
            prefix
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?
        };
        Ok(Cidr { network, prefix })
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what a dual-stack socket reports) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The header trusted proxies write the client's address into. Only this one header is
/// read: a proxy that appends to `X-Forwarded-For` passes any `Forwarded` header the client
/// sent through untouched, so reading "whichever is present" would let the client choose its
/// own address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyHeader {
    /// RFC 7239 `Forwarded: for=...` elements, as Envoy, HAProxy or nginx can be set to send.
    Forwarded,
    /// A comma-separated list of addresses, one appended per hop: `X-Forwarded-For` (nginx,
    /// AWS ALB, Google's and Azure's load balancers), or a one-address header such as
    /// `X-Real-IP` or `CF-Connecting-IP`.
    List(http::HeaderName),
}

impl Default for ProxyHeader {
    fn default() -> Self {
        ProxyHeader::List(http::HeaderName::from_static("x-forwarded-for"))
    }
}

impl FromStr for ProxyHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim();
        if name.eq_ignore_ascii_case("forwarded") {
            return Ok(ProxyHeader::Forwarded);
        }
        http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map(ProxyHeader::List)
            .map_err(|_| format!("`{s}` is not a header name"))
    }
}

impl std::fmt::Display for ProxyHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyHeader::Forwarded => f.write_str("forwarded"),
            ProxyHeader::List(name) => f.write_str(name.as_str()),
        }
    }
}

/// The client's address of a request from `peer` with these headers: the peer itself unless
/// it is a trusted proxy, and then the rightmost hop of `header` that no trusted proxy could
/// have added.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[Cidr],
    header: &ProxyHeader,
) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|cidr| cidr.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops = forwarded_hops(headers, header);
    // Right to left: the first hop no trusted proxy could have added is the client. When
    // every hop is trusted, the leftmost is as far as the chain goes.
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = hop else {
            // An unreadable hop ends what can be believed: stop at the last good one.
            return client;
        };
        client = canonical(ip);
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

/// The block of addresses a client is counted by: its /64 for IPv6 by default, since one
/// subscriber is routinely given a whole /64 (or more) and picks addresses in it at will;
/// its own address for IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientBlocks {
    /// Prefix length IPv4 clients are counted by (32: each address).
    pub ipv4_prefix: u8,
    /// Prefix length IPv6 clients are counted by (64: each subscriber's usual allocation).
    pub ipv6_prefix: u8,
}

impl Default for ClientBlocks {
    fn default() -> Self {
        Self {
            ipv4_prefix: 32,
            ipv6_prefix: 64,
        }
    }
}

impl ClientBlocks {
    /// The block `ip` belongs to, as text for a limiter key: `192.0.2.7` for a whole
    /// address, `2001:db8:1:2::/64` for a block.
    pub fn key(&self, ip: IpAddr) -> String {
        match canonical(ip) {
            IpAddr::V4(v4) if self.ipv4_prefix >= 32 => v4.to_string(),
            IpAddr::V4(v4) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.ipv4_prefix))
                    .unwrap_or(0);
                format!(
                    "{}/{}",
                    std::net::Ipv4Addr::from(u32::from(v4) & mask),
                    self.ipv4_prefix
                )
            }
            IpAddr::V6(v6) if self.ipv6_prefix >= 128 => v6.to_string(),
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix))
                    .unwrap_or(0);
                format!(
                    "{}/{}",
                    std::net::Ipv6Addr::from(u128::from(v6) & mask),
                    self.ipv6_prefix
                )
            }
        }
    }
}

/// The hops of the configured header, left to right (several header lines are one list, in
/// order); `None` for a hop that is not an address (`unknown`, an obfuscated name, garbage).
fn forwarded_hops(headers: &HeaderMap, header: &ProxyHeader) -> Vec<Option<IpAddr>> {
    let name = match header {
        ProxyHeader::Forwarded => &http::header::FORWARDED,
        ProxyHeader::List(name) => name,
    };
    let elements = headers
        .get_all(name)
        .iter()
        // A line that is not visible ASCII cannot be read: it is one unreadable hop.
        .flat_map(|v| v.to_str().unwrap_or("\u{fffd}").split(','));
    match header {
        ProxyHeader::Forwarded => elements
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (name, value) = pair.split_once('=')?;
                    name.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(value.trim().trim_matches('"')))
                        .flatten()
                })
            })
            .collect(),
        ProxyHeader::List(_) => elements.map(|hop| parse_node(hop.trim())).collect(),
    }
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`,
/// `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                value.parse().expect("value"),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn trusted() -> Vec<Cidr> {
        ["10.0.0.0/8", "fd00::/8"]
            .iter()
            .map(|c| c.parse().expect("cidr"))
            .collect()
    }

    #[test]
    fn blocks_contain_their_addresses() {
        let block: Cidr = "192.168.1.0/24".parse().expect("cidr");
        assert!(block.contains(ip("192.168.1.77")));
        assert!(!block.contains(ip("192.168.2.1")));
        assert!(block.contains(ip("::ffff:192.168.1.5")));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .expect("cidr")
                .contains(ip("8.8.8.8"))
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("ten".parse::<Cidr>().is_err());
    }

    fn xff() -> ProxyHeader {
        ProxyHeader::default()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        for header in [xff(), ProxyHeader::Forwarded] {
            assert_eq!(
                client_ip(ip("203.0.113.9"), &spoofed, &trusted(), &header),
                ip("203.0.113.9")
            );
        }
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client claims to be 1.1.1.1; the first trusted proxy saw 198.51.100.7.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &chain, &trusted(), &xff()),
            ip("198.51.100.7")
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=1.1.1.1, for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.5",
        )]);
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &forwarded,
                &trusted(),
                &ProxyHeader::Forwarded
            ),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // Behind a proxy that appends to X-Forwarded-For, a client sends its own `Forwarded`:
        // reading it would let the client pick any address.
        let spoofed = headers(&[
            ("forwarded", "for=192.0.2.66"),
            ("x-forwarded-for", "198.51.100.7"),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &spoofed, &trusted(), &xff()),
            ip("198.51.100.7")
        );
        // And the other way round.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &spoofed,
                &trusted(),
                &ProxyHeader::Forwarded
            ),
            ip("192.0.2.66")
        );
        let only_forwarded = headers(&[("forwarded", "for=192.0.2.66")]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &only_forwarded, &trusted(), &xff()),
            ip("10.0.0.2")
        );
        let real_ip: ProxyHeader = "X-Real-IP".parse().expect("header");
        let single = headers(&[("x-real-ip", "203.0.113.4"), ("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &single, &trusted(), &real_ip),
            ip("203.0.113.4")
        );
        assert!("not a header".parse::<ProxyHeader>().is_err());
        assert_eq!(
            "Forwarded".parse::<ProxyHeader>(),
            Ok(ProxyHeader::Forwarded)
        );
    }

    #[test]
    fn garbage_hops_stop_the_walk() {
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, garbage, 10.0.0.5")]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &chain, &trusted(), &xff()),
            ip("10.0.0.5")
        );
        let none = headers(&[]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), &none, &trusted(), &xff()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_block() {
        let blocks = ClientBlocks::default();
        assert_eq!(
            blocks.key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            blocks.key(ip("2001:db8:1:2::1")),
            blocks.key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            blocks.key(ip("2001:db8:1:2::1")),
            blocks.key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(blocks.key(ip("192.0.2.7")), "192.0.2.7");
        assert_eq!(blocks.key(ip("::ffff:192.0.2.7")), "192.0.2.7");
        let wide = ClientBlocks {
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        };
        assert_eq!(wide.key(ip("192.0.2.7")), "192.0.2.0/24");
        assert_eq!(wide.key(ip("2001:db8:1:2::1")), "2001:db8:1::/48");
        let exact = ClientBlocks {
            ipv4_prefix: 32,
            ipv6_prefix: 128,
        };
        assert_eq!(exact.key(ip("2001:db8::1")), "2001:db8::1");
    }
}
