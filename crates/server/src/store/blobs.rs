//! Where attachment bytes live: a local directory (the default) or an
//! S3-compatible object store. Only ciphertext ever reaches a [`BlobStore`];
//! the metadata (owner, chunks received, expiry) is in the [`super::Store`].

use std::path::PathBuf;

use async_trait::async_trait;
use axum::body::Bytes;

/// Why the blob store failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Disk or object store IO failed.
    #[error("blob storage failed: {0}")]
    Io(String),
}

/// Where blob bytes live: one object per chunk.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores (or replaces) one chunk.
    async fn put(&self, blob: &str, index: u64, bytes: Bytes) -> Result<(), BlobError>;
    /// Reads one chunk.
    async fn get(&self, blob: &str, index: u64) -> Result<Option<Bytes>, BlobError>;
    /// Deletes every chunk of a blob.
    async fn delete(&self, blob: &str) -> Result<(), BlobError>;
}

/// Blobs as files under a directory: `DIR/ID/INDEX`.
pub struct LocalBlobStore {
    dir: PathBuf,
}

impl LocalBlobStore {
    /// A store rooted at `dir` (created when needed).
    pub fn new(dir: PathBuf) -> Self {
        LocalBlobStore { dir }
    }

    fn path(&self, blob: &str, index: u64) -> PathBuf {
        self.dir.join(blob).join(format!("{index:08}"))
    }
}

fn io(e: std::io::Error) -> BlobError {
    BlobError::Io(e.to_string())
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, blob: &str, index: u64, bytes: Bytes) -> Result<(), BlobError> {
        let path = self.path(blob, index);
        let dir = path
            .parent()
            .expect("a chunk path has a parent")
            .to_path_buf();
        tokio::fs::create_dir_all(&dir).await.map_err(io)?;
        let tmp = dir.join(format!("{index:08}.part"));
        let mut f = tokio::fs::File::create(&tmp).await.map_err(io)?;
        tokio::io::AsyncWriteExt::write_all(&mut f, &bytes)
            .await
            .map_err(io)?;
        f.sync_all().await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)
    }

    async fn get(&self, blob: &str, index: u64) -> Result<Option<Bytes>, BlobError> {
        match tokio::fs::read(self.path(blob, index)).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn delete(&self, blob: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_dir_all(self.dir.join(blob)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}

/// Blobs in an S3-compatible object store (production): `blobs/ID/INDEX`.
pub struct S3BlobStore {
    store: Box<dyn object_store::ObjectStore>,
}

impl S3BlobStore {
    /// A store for the bucket and endpoint of the configuration.
    pub fn new(c: &crate::Config) -> Result<S3BlobStore, BlobError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&c.storage.s3_bucket)
            .with_region(&c.storage.s3_region)
            .with_access_key_id(&c.storage.s3_access_key_id)
            .with_secret_access_key(&c.storage.s3_secret_access_key)
            .with_allow_http(c.storage.s3_allow_http);
        if !c.storage.s3_endpoint.is_empty() {
            b = b.with_endpoint(&c.storage.s3_endpoint);
        }
        let store = b
            .build()
            .map_err(|e| BlobError::Io(format!("S3 configuration: {e}")))?;
        Ok(S3BlobStore {
            store: Box::new(store),
        })
    }

    fn path(blob: &str, index: u64) -> object_store::path::Path {
        object_store::path::Path::from(format!("blobs/{blob}/{index:08}"))
    }
}

fn s3(e: object_store::Error) -> BlobError {
    BlobError::Io(e.to_string())
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, blob: &str, index: u64, bytes: Bytes) -> Result<(), BlobError> {
        use object_store::ObjectStoreExt;
        self.store
            .put(
                &Self::path(blob, index),
                object_store::PutPayload::from_bytes(bytes),
            )
            .await
            .map(|_| ())
            .map_err(s3)
    }

    async fn get(&self, blob: &str, index: u64) -> Result<Option<Bytes>, BlobError> {
        use object_store::ObjectStoreExt;
        match self.store.get(&Self::path(blob, index)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(s3)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3(e)),
        }
    }

    async fn delete(&self, blob: &str) -> Result<(), BlobError> {
        use futures_util::StreamExt;
        use object_store::ObjectStoreExt;
        let prefix = object_store::path::Path::from(format!("blobs/{blob}"));
        let mut listing = self.store.list(Some(&prefix));
        let mut paths = Vec::new();
        while let Some(meta) = listing.next().await {
            paths.push(meta.map_err(s3)?.location);
        }
        drop(listing);
        for p in paths {
            match self.store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3(e)),
            }
        }
        Ok(())
    }
}
