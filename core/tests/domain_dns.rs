//! Domain verification by DNS TXT record, against a DNS server the test
//! runs on loopback (real DNS messages over UDP), and the re-check schedule
//! driven by a manual clock: verified → the record goes → lapsed → the app
//! is no longer presented as verified on the consent page.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use latchkey::clients::ClientUpdate;
use latchkey::domains::{
    DnsTxtVerifier, DomainCheckError, DomainVerifier, Failure, Method, RecheckOutcome,
    RecheckPolicy,
};
use latchkey::model::{DomainState, EventKind, Visibility};
use latchkey::AuthorizeOutcome;
use tokio::net::{TcpListener, UdpSocket};

use common::{alice, event_kinds, harness, Harness, BINDING, REDIRECT};

/// What the zone says for a name.
#[derive(Clone)]
enum Zone {
    /// These TXT records (each a list of character-strings).
    Txt(Vec<Vec<String>>),
    /// NXDOMAIN.
    Missing,
    /// No answer at all.
    Silent,
}

/// A DNS server on 127.0.0.1 (UDP, and a TCP port that never answers).
/// Names not in the zone exist without TXT records (NOERROR, empty).
struct DnsServer {
    addr: SocketAddr,
    zone: Arc<Mutex<HashMap<String, Zone>>>,
}

impl DnsServer {
    async fn start() -> Self {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        // Held open so a fallback to TCP waits rather than being refused.
        let tcp = TcpListener::bind(addr).await.unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = tcp.accept().await {
                held.push(s);
            }
        });
        let zone: Arc<Mutex<HashMap<String, Zone>>> = Arc::default();
        let z = zone.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    return;
                };
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let reply = answer(&query, &z.lock().unwrap());
                if let Some(reply) = reply {
                    let _ = udp.send_to(&reply.to_vec().unwrap(), peer).await;
                }
            }
        });
        DnsServer { addr, zone }
    }

    fn set(&self, name: &str, zone: Zone) {
        self.zone.lock().unwrap().insert(name.to_owned(), zone);
    }

    fn txt(&self, domain: &str, records: &[&[&str]]) {
        let records = records
            .iter()
            .map(|r| r.iter().map(|s| (*s).to_owned()).collect())
            .collect();
        self.set(&format!("_latchkey-challenge.{domain}"), Zone::Txt(records));
    }

    fn verifier(&self) -> DnsTxtVerifier {
        DnsTxtVerifier::builder()
            .nameservers(vec![self.addr])
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap()
    }
}

fn answer(query: &Message, zone: &HashMap<String, Zone>) -> Option<Message> {
    let q = query.queries().first()?.clone();
    let name = q
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true)
        .add_query(q.clone());
    match zone.get(&name) {
        Some(Zone::Silent) => return None,
        Some(Zone::Missing) => {
            reply.set_response_code(ResponseCode::NXDomain);
        }
        Some(Zone::Txt(records)) if q.query_type() == RecordType::TXT => {
            for r in records {
                reply.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::TXT(TXT::new(r.clone())),
                ));
            }
        }
        _ => {}
    }
    Some(reply)
}

const DOMAIN: &str = "app.example";
const VALUE: &str = "latchkey-verification=0123456789abcdef";

async fn failure(v: &DnsTxtVerifier, domain: &str) -> Failure {
    let mut e = v.check(domain, VALUE).await.expect_err("must not be found");
    assert_eq!(e.attempts.len(), 1);
    let a = e.attempts.remove(0);
    assert_eq!(a.method, Method::DnsTxt);
    a.failure
}

#[tokio::test]
async fn the_challenge_is_found_among_several_records() {
    let dns = DnsServer::start().await;
    dns.txt(
        DOMAIN,
        &[
            &["v=spf1 -all"],
            &["latchkey-verification=someone-elses"],
            &[VALUE],
        ],
    );
    let found = dns.verifier().check(DOMAIN, VALUE).await.unwrap();
    assert_eq!(found.method, Method::DnsTxt);
    // Upper case and a trailing dot name the same domain.
    assert!(dns.verifier().check("App.Example.", VALUE).await.is_ok());
}

#[tokio::test]
async fn a_value_split_into_character_strings_is_one_value() {
    let dns = DnsServer::start().await;
    let (a, b) = VALUE.split_at(10);
    dns.txt(DOMAIN, &[&[a, b]]);
    assert!(dns.verifier().check(DOMAIN, VALUE).await.is_ok());
}

#[tokio::test]
async fn misses_say_why() {
    let dns = DnsServer::start().await;
    let v = dns.verifier();
    // The name exists, without TXT records.
    assert!(matches!(failure(&v, DOMAIN).await, Failure::NotPublished));
    dns.txt(
        DOMAIN,
        &[
            &["latchkey-verification=0123456789abcdeX"],
            &[&format!("{VALUE}x")],
        ],
    );
    assert!(matches!(failure(&v, DOMAIN).await, Failure::WrongValue));
    dns.set("_latchkey-challenge.gone.example", Zone::Missing);
    let nx = failure(&v, "gone.example").await;
    assert!(matches!(nx, Failure::NoSuchDomain), "{nx:?}");
    assert!(nx.is_definitive());
    dns.set("_latchkey-challenge.slow.example", Zone::Silent);
    let slow = failure(&v, "slow.example").await;
    assert!(matches!(slow, Failure::Timeout), "{slow:?}");
    assert!(!slow.is_definitive());
}

#[tokio::test]
async fn addresses_and_junk_are_refused_before_any_query() {
    let dns = DnsServer::start().await;
    let v = dns.verifier();
    for bad in [
        "127.0.0.1",
        "localhost",
        "a..example",
        "x_y.example",
        "[::1]",
    ] {
        assert!(
            matches!(failure(&v, bad).await, Failure::InvalidDomain),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn verify_domain_checks_then_confirms_and_a_miss_changes_nothing() {
    let h = harness().await;
    let dns = DnsServer::start().await;
    let v = dns.verifier();
    let id = h.app.client.id.clone();
    let d = h
        .engine
        .start_domain_verification(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            DOMAIN,
        )
        .await
        .unwrap();
    let before = h.engine.get_client(&id).await.unwrap();
    match h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            DOMAIN,
            &v,
        )
        .await
    {
        Err(DomainCheckError::NotProven(e)) => assert!(
            e.explain(DOMAIN)
                .contains("_latchkey-challenge.app.example: no challenge is published"),
            "{}",
            e.explain(DOMAIN)
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(h.engine.get_client(&id).await.unwrap(), before);

    dns.txt(DOMAIN, &[&[&d.challenge]]);
    let c = h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            DOMAIN,
            &v,
        )
        .await
        .unwrap();
    assert!(c.domains[0].is_verified());
    assert!(c.domains[0].checked_at.is_some());
    assert!(event_kinds(&h.engine, "t")
        .await
        .contains(&EventKind::DomainVerified {
            client_id: id.clone(),
            domain: DOMAIN.into()
        }));
    // Only a pending domain is verified this way.
    assert!(h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            DOMAIN,
            &v
        )
        .await
        .is_err());
}

#[tokio::test]
async fn an_expired_challenge_is_not_looked_up() {
    let h = harness().await;
    let dns = DnsServer::start().await;
    let id = h.app.client.id.clone();
    let d = h
        .engine
        .start_domain_verification(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            DOMAIN,
        )
        .await
        .unwrap();
    dns.txt(DOMAIN, &[&[&d.challenge]]);
    h.clock
        .advance(h.engine.config().domain_verification_ttl + 1);
    let e = h
        .engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            DOMAIN,
            &dns.verifier(),
        )
        .await;
    assert!(matches!(e, Err(DomainCheckError::Manage(_))), "{e:?}");
    let c = h.engine.get_client(&id).await.unwrap();
    assert_eq!(c.domains[0].state, DomainState::Expired);
}

/// Starts verifying `DOMAIN` for the harness's app, publishes the
/// challenge on `dns` and verifies it; returns the challenge.
async fn verified(h: &Harness, dns: &DnsServer, v: &dyn DomainVerifier) -> String {
    let id = &h.app.client.id;
    let d = h
        .engine
        .start_domain_verification(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            id,
            DOMAIN,
        )
        .await
        .unwrap();
    dns.txt(DOMAIN, &[&[&d.challenge]]);
    h.engine
        .verify_domain(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            id,
            DOMAIN,
            v,
        )
        .await
        .unwrap();
    d.challenge
}

/// The consent prompt for the app, as a signed-in user of another account
/// would get it.
async fn prompt(h: &Harness) -> latchkey::ConsentPrompt {
    let req = h.authorize_request(
        &h.app.client.id,
        &[("redirect_uri", REDIRECT), ("scope", "profile:read")],
    );
    let mut stranger = alice();
    stranger.account = "globex".into();
    match h.engine.authorize(&req, Some(&stranger), BINDING).await {
        AuthorizeOutcome::ConsentRequired(p) => *p,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rechecks_lapse_a_domain_whose_record_went_and_restore_it_when_back() {
    let h = harness().await;
    let dns = DnsServer::start().await;
    let v: Arc<dyn DomainVerifier> = Arc::new(dns.verifier());
    let policy = RecheckPolicy {
        interval: 3_600,
        grace: 86_400,
    };
    let id = h.app.client.id.clone();
    let challenge = verified(&h, &dns, &*v).await;
    h.engine
        .update_client(
            &latchkey::Acting::operator("tests", latchkey::Source::default()),
            &id,
            ClientUpdate {
                visibility: Some(Visibility::Public),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(prompt(&h).await.verified_domains, vec![DOMAIN.to_owned()]);

    // Not due yet: nothing is checked.
    let r = h.engine.recheck_due_domains(&*v, &policy, 1).await.unwrap();
    assert_eq!(r.checked, 0);
    assert!(r.clients_scanned >= 2, "pages of one client each: {r:?}");

    // Due, still published.
    h.clock.advance(3_600);
    let r = h.engine.recheck_due_domains(&*v, &policy, 1).await.unwrap();
    assert_eq!((r.checked, r.confirmed), (1, 1));

    // The record goes: the next due re-check lapses the domain.
    dns.set(&format!("_latchkey-challenge.{DOMAIN}"), Zone::Missing);
    h.clock.advance(3_600);
    let r = h.engine.recheck_due_domains(&*v, &policy, 1).await.unwrap();
    assert_eq!((r.checked, r.lapsed), (1, 1));
    let c = h.engine.get_client(&id).await.unwrap();
    assert!(matches!(c.domains[0].state, DomainState::Lapsed { .. }));
    assert!(c.domains[0]
        .last_failure
        .as_ref()
        .unwrap()
        .reason
        .contains("NXDOMAIN"));
    assert!(!c.publisher_verified());
    let p = prompt(&h).await;
    assert!(
        p.verified_domains.is_empty(),
        "no longer offered as verified"
    );
    assert_eq!(p.lapsed_domains, vec![DOMAIN.to_owned()]);
    assert!(event_kinds(&h.engine, "lapse")
        .await
        .contains(&EventKind::DomainLapsed {
            client_id: id.clone(),
            domain: DOMAIN.into()
        }));

    // Published again: restored on the next due re-check.
    dns.txt(DOMAIN, &[&[&challenge]]);
    h.clock.advance(3_600);
    let o = h
        .engine
        .recheck_domain(&id, DOMAIN, &*v, &policy)
        .await
        .unwrap();
    assert_eq!(o, RecheckOutcome::Restored);
    assert_eq!(prompt(&h).await.verified_domains, vec![DOMAIN.to_owned()]);
}

#[tokio::test]
async fn no_answer_keeps_the_domain_within_the_grace_period() {
    let h = harness().await;
    let dns = DnsServer::start().await;
    let v = dns.verifier();
    let policy = RecheckPolicy {
        interval: 3_600,
        grace: 7_200,
    };
    let id = h.app.client.id.clone();
    verified(&h, &dns, &v).await;
    dns.set(&format!("_latchkey-challenge.{DOMAIN}"), Zone::Silent);
    h.clock.advance(3_600);
    let r = h.engine.recheck_due_domains(&v, &policy, 10).await.unwrap();
    assert_eq!(r.failing, 1);
    assert!(h.engine.get_client(&id).await.unwrap().domains[0].is_verified());
    h.clock.advance(3_600);
    let r = h.engine.recheck_due_domains(&v, &policy, 10).await.unwrap();
    assert_eq!(r.lapsed, 1);
}
