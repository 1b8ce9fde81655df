//! Pages a host mounts next to the OAuth routes, written once for every
//! framework: the ready account pages (feature `ui`), or the host's own.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::http::{HttpRequest, HttpResponse};

/// A framework-free request handler. Closures
/// `Fn(HttpRequest) -> impl Future<Output = HttpResponse>` are handlers.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Answers `req` (every method reaches here).
    async fn handle(&self, req: HttpRequest) -> HttpResponse;
}

#[async_trait]
impl<F, Fut> Handler for F
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    async fn handle(&self, req: HttpRequest) -> HttpResponse {
        self(req).await
    }
}

/// A shared [`Handler`], as a route table entry holds it.
#[derive(Clone)]
pub struct Page(pub Arc<dyn Handler>);

impl Page {
    /// `handler`, shared.
    #[must_use]
    pub fn new(handler: impl Handler) -> Self {
        Page(Arc::new(handler))
    }
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Page(..)")
    }
}
