//! The engine's client lookup: stored clients as they are, URL client ids
//! through their metadata document and the stored copy that caches it.

use crate::audit::{Actor, Audit, Source};
use crate::engine::Engine;
use crate::error::{Description, Error};
use crate::model::{ClientRecord, EventKind, MetadataDocument, Visibility};
use crate::storage::{Storage, StorageError};

use super::document::{check_document, DocumentClient};
use super::url::{check_client_id_url, looks_like_url};
use super::MetadataDocumentConfig;

/// Why a client could not be looked up.
#[derive(Debug)]
pub(crate) enum LookupError {
    /// The client's metadata document is unusable: a URL, fetch or content
    /// problem the client must fix. Each endpoint words it its own way.
    Document(Description),
    /// Storage or another internal failure, reported as it is.
    Internal(Error),
}

impl From<StorageError> for LookupError {
    fn from(e: StorageError) -> Self {
        LookupError::Internal(e.into())
    }
}

impl LookupError {
    /// The endpoint's error: `document` words a document problem.
    pub(crate) fn into_error(self, document: impl FnOnce(Description) -> Error) -> Error {
        match self {
            LookupError::Document(d) => document(d),
            LookupError::Internal(e) => e,
        }
    }
}

fn document_error(e: Error) -> LookupError {
    // Storage failing during the check is ours, not the document's.
    if matches!(e, Error::ServerError(_) | Error::TemporarilyUnavailable(_)) {
        return LookupError::Internal(e);
    }
    LookupError::Document(
        format!(
            "the client's metadata document is not acceptable: {}",
            e.description()
        )
        .into(),
    )
}

impl<S: Storage + ?Sized> Engine<S> {
    /// The client named `id`, or `None` when there is none. With metadata
    /// documents enabled, a URL id that is not stored, or whose stored copy
    /// is stale, is fetched, checked and stored first (draft §4; §4.3: any
    /// failure aborts the request; §4.4: nothing unusable is cached).
    pub(crate) async fn lookup_client(
        &self,
        id: &str,
    ) -> Result<Option<ClientRecord>, LookupError> {
        let stored = self.store.get_client(id).await?;
        let Some(policy) = &self.config.client_id_metadata_documents else {
            // Turned off: stored copies can no longer be refreshed, so
            // they stop counting as clients (fail closed).
            return Ok(stored.filter(|c| c.metadata_document.is_none()));
        };
        match &stored {
            // A client registered under this id by other means wins.
            Some(c) if c.metadata_document.is_none() => return Ok(stored),
            Some(c) if c.metadata_document.is_some_and(|m| self.now() < m.stale_at) => {
                return Ok(stored)
            }
            None if !looks_like_url(id) => return Ok(None),
            _ => {}
        }
        check_client_id_url(id).map_err(|why| LookupError::Document(why.into()))?;
        let fetched = policy.fetcher.fetch(id).await.map_err(|e| {
            LookupError::Document(
                format!("the client's metadata document could not be fetched: {e}").into(),
            )
        })?;
        let doc =
            check_document(id, &fetched.body, &policy.allowed_scopes).map_err(document_error)?;
        let now = self.now();
        let freshness = MetadataDocument {
            fetched_at: now,
            stale_at: now.plus(policy.cache.ttl(fetched.max_age)),
        };
        match stored {
            None => self.store_document_client(id, policy, doc, freshness).await,
            Some(old) => {
                self.refresh_document_client(old, policy, doc, freshness)
                    .await
            }
        }
        .map(Some)
    }

    /// First use of a URL: stores the client its document describes.
    async fn store_document_client(
        &self,
        id: &str,
        policy: &MetadataDocumentConfig,
        doc: DocumentClient,
        freshness: MetadataDocument,
    ) -> Result<ClientRecord, LookupError> {
        if self.store.list_clients(&policy.owner).await?.len() >= policy.max_clients {
            return Err(LookupError::Document(
                "this server holds as many clients described by metadata documents as it allows; try again later".into(),
            ));
        }
        let now = freshness.fetched_at;
        let mut client = ClientRecord {
            id: id.to_owned(),
            owner: policy.owner.clone(),
            created_by: Some(Actor::Client {
                client_id: id.to_owned(),
            }),
            name: String::new(),
            redirect_uris: vec![],
            grant_types: vec![],
            scopes: crate::scope::ScopeSet::new(),
            resources: vec![],
            served_resources: vec![],
            auth_method: crate::model::AuthMethod::None,
            secret: None,
            visibility: Visibility::Unvetted,
            domains: vec![],
            lifetimes: Default::default(),
            access_token_format: None,
            registration: None,
            metadata_document: Some(freshness),
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        apply(&mut client, doc, policy);
        self.validate_write(&client, None)
            .await
            .map_err(document_error)?;
        let ev = self.event(
            EventKind::ClientCreated {
                client_id: client.id.clone(),
            },
            &document_actor(&client.id),
        );
        match self.store.insert_client(&client, &[ev]).await {
            Ok(()) => Ok(client),
            // Someone stored it first (a concurrent first use): theirs is
            // as fresh as ours.
            Err(StorageError::Conflict) => self.reread(id).await,
            Err(e) => Err(e.into()),
        }
    }

    /// A stale copy: updates it from the document just fetched. An event
    /// is recorded only when something besides freshness changed.
    async fn refresh_document_client(
        &self,
        old: ClientRecord,
        policy: &MetadataDocumentConfig,
        doc: DocumentClient,
        freshness: MetadataDocument,
    ) -> Result<ClientRecord, LookupError> {
        let mut client = old.clone();
        apply(&mut client, doc, policy);
        self.validate_write(&client, Some(&old))
            .await
            .map_err(document_error)?;
        let changed = client != old;
        client.metadata_document = Some(freshness);
        client.revision += 1;
        let mut events = vec![];
        if changed {
            client.updated_at = freshness.fetched_at;
            events.push(self.event(
                EventKind::ClientUpdated {
                    client_id: client.id.clone(),
                },
                &document_actor(&client.id),
            ));
        }
        match self
            .store
            .update_client(&client, old.revision, &events)
            .await
        {
            Ok(()) => Ok(client),
            // A concurrent refresh won, or the host deleted the client
            // meanwhile: go by what storage holds now.
            Err(StorageError::Conflict | StorageError::NotFound) => self.reread(&old.id).await,
            Err(e) => Err(e.into()),
        }
    }

    async fn reread(&self, id: &str) -> Result<ClientRecord, LookupError> {
        self.store.get_client(id).await?.ok_or_else(|| {
            LookupError::Document(
                "the client was removed while its metadata document was being read; retry".into(),
            )
        })
    }
}

/// What the document and the host's policy decide about the record.
fn apply(client: &mut ClientRecord, doc: DocumentClient, policy: &MetadataDocumentConfig) {
    client.name = doc.name;
    client.redirect_uris = doc.redirect_uris;
    client.grant_types = doc.grant_types;
    client.scopes = doc.scopes;
    client.resources = policy.resources.clone();
}

/// What a change made from a client's own metadata document records: the
/// client described itself. The fetch is the server's, on first use or when
/// the copy went stale, so there is no request source to name.
fn document_actor(client_id: &str) -> Audit {
    Audit::client(client_id, Source::default())
}
