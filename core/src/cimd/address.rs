//! Which addresses a metadata fetch may connect to (draft §6.5: avoid
//! private and loopback addresses). A pure check, so every fetcher can use
//! it on the address it actually connects to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a globally reachable unicast address: not private,
/// loopback, link-local, multicast, unspecified, broadcast, documentation,
/// benchmarking, shared (CGNAT), reserved, unique-local or site-local, and
/// not an IPv6 form that embeds such an IPv4 address (IPv4-mapped, 6to4,
/// NAT64). Deprecated or tunnelled IPv6 forms (IPv4-compatible, Teredo and
/// the rest of the IETF protocol block, local-use NAT64) are refused
/// outright: no public document needs them.
#[must_use]
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// IANA IPv4 special-purpose registry entries that are not globally
/// reachable (RFC 6890 and later).
const V4_BLOCKED: [([u8; 4], u32); 16] = [
    ([0, 0, 0, 0], 8),       // "this network" (RFC 791)
    ([10, 0, 0, 0], 8),      // private (RFC 1918)
    ([100, 64, 0, 0], 10),   // shared address space, CGNAT (RFC 6598)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (RFC 3927), cloud metadata
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments (RFC 6890)
    ([192, 0, 2, 0], 24),    // TEST-NET-1 (RFC 5737)
    ([192, 31, 196, 0], 24), // AS112-v4 (RFC 7535)
    ([192, 52, 193, 0], 24), // AMT (RFC 7450)
    ([192, 88, 99, 0], 24),  // 6to4 relay anycast (RFC 7526)
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking (RFC 2544)
    ([198, 51, 100, 0], 24), // TEST-NET-2
    ([203, 0, 113, 0], 24),  // TEST-NET-3
    ([224, 0, 0, 0], 3),     // multicast 224/4 and reserved 240/4 with broadcast
];

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !V4_BLOCKED.iter().any(|(net, p)| in_v4(ip, *net, *p))
}

fn in_v6(ip: Ipv6Addr, net: [u16; 8], prefix: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// The IPv4 address in the low 32 bits.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    Ipv4Addr::from((u128::from(ip) & 0xffff_ffff) as u32)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // IPv4-mapped (::ffff:0:0/96): the socket talks IPv4 to the embedded
    // address.
    if in_v6(ip, [0, 0, 0, 0, 0, 0xffff, 0, 0], 96) {
        return is_public_v4(low_v4(ip));
    }
    // Well-known NAT64 prefix (RFC 6052): the translator reaches the
    // embedded IPv4 address.
    if in_v6(ip, [0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96) {
        return is_public_v4(low_v4(ip));
    }
    // 6to4 (RFC 3056): 2002:V4ADDR::/48 routes to the embedded address.
    if in_v6(ip, [0x2002, 0, 0, 0, 0, 0, 0, 0], 16) {
        let v4 = ((u128::from(ip) >> 80) & 0xffff_ffff) as u32;
        return is_public_v4(Ipv4Addr::from(v4));
    }
    // Everything else must be global unicast (2000::/3). That alone
    // excludes ::, ::1, IPv4-compatible ::/96, discard-only 100::/64,
    // local-use NAT64 64:ff9b:1::/48, unique-local fc00::/7, link-local
    // fe80::/10, site-local fec0::/10 and multicast ff00::/8.
    if !in_v6(ip, [0x2000, 0, 0, 0, 0, 0, 0, 0], 3) {
        return false;
    }
    const BLOCKED: [([u16; 8], u32); 3] = [
        ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol block, Teredo
        ([0x2001, 0x0db8, 0, 0, 0, 0, 0, 0], 32), // documentation (RFC 3849)
        ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
    ];
    !BLOCKED.iter().any(|(net, p)| in_v6(ip, *net, *p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_in_every_form() {
        for bad in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:100.64.1.1",
            "::ffff:0.0.0.0",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::8.8.8.8",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::1:3",
            "4000::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(!is_public_address(ip), "{bad} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ok in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "2001:200::1",
        ] {
            let ip: IpAddr = ok.parse().unwrap();
            assert!(is_public_address(ip), "{ok} must pass");
        }
    }
}
