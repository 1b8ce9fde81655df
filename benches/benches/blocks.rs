//! The building blocks every request pays for: minting a credential,
//! hashing a presented one (the lookup key), PKCE S256 verification, form
//! parsing and sealing a refresh successor.
//!
//! `cargo bench -p latchkey-benches --bench blocks`

use criterion::{criterion_group, criterion_main, Criterion};
use latchkey::entropy::SystemEntropy;
use latchkey::http::Params;
use latchkey::token::{Secret, TokenKind};
use latchkey_benches::{keyring, CHALLENGE, VERIFIER};
use std::hint::black_box;

fn blocks(c: &mut Criterion) {
    let keys = keyring();
    let entropy = SystemEntropy::new();
    let (token, _) = keys
        .mint(TokenKind::AccessToken, &entropy)
        .expect("system randomness");
    let (refresh, _) = keys
        .mint(TokenKind::RefreshToken, &entropy)
        .expect("system randomness");

    c.bench_function("token/mint", |b| {
        b.iter(|| keys.mint(black_box(TokenKind::AccessToken), &entropy))
    });
    c.bench_function("token/hash (lookup key)", |b| {
        b.iter(|| keys.hash(TokenKind::AccessToken, black_box(token.expose())))
    });
    c.bench_function("pkce/verify S256", |b| {
        b.iter(|| latchkey::pkce::verify(black_box(VERIFIER), black_box(CHALLENGE)))
    });
    let body = format!(
        "grant_type=refresh_token&refresh_token={}&scope=profile%3Aread+dns%3Aread&resource=https%3A%2F%2Fapi.example%2F",
        refresh.expose()
    );
    c.bench_function("form/parse token request", |b| {
        b.iter(|| Params::parse(black_box(&body)))
    });
    // A successor as the refresh grant seals it: two tokens, expiry, scope.
    let plain = format!(
        r#"{{"access_token":"{}","refresh_token":"{}","access_expires_at":1800000000,"scope":"profile:read dns:read"}}"#,
        token.expose(),
        refresh.expose()
    );
    let under = Secret::new(refresh.expose());
    c.bench_function("seal/seal successor", |b| {
        b.iter(|| keys.seal(TokenKind::RefreshToken, &under, plain.as_bytes(), &entropy))
    });
    let sealed = keys
        .seal(TokenKind::RefreshToken, &under, plain.as_bytes(), &entropy)
        .expect("seal");
    c.bench_function("seal/open successor", |b| {
        b.iter(|| keys.open(TokenKind::RefreshToken, &under, black_box(&sealed)))
    });
}

criterion_group!(benches, blocks);
criterion_main!(benches);
