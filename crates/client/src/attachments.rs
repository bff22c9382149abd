//! Photos, videos and files: encrypted on this device with a fresh key,
//! uploaded in resumable chunks, and downloaded, checked and decrypted by
//! the recipients. A file is streamed chunk by chunk in both directions, so
//! a large video never sits in memory.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;
use tidings_core::attachment::{
    chunk_count, ciphertext_len, sanitise_name, sniff_content_type, AttachmentPointer, Decryptor,
    Digester, Encryptor, CHUNK_SIZE,
};
use tidings_proto::api::BLOB_CHUNK_BYTES;

use crate::api::ApiError;
use crate::client::{Client, ClientError};

/// Attempts per chunk before an upload or download gives up.
pub const CHUNK_ATTEMPTS: u32 = 5;
/// Folder inside the profile where received attachments are saved.
pub const ATTACHMENTS_DIR: &str = "attachments";

/// Progress of a transfer: bytes done and total.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

async fn with_retries<T, F, Fut>(mut f: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 0;
    loop {
        match f().await {
            Err(ApiError::Network { .. }) if attempt + 1 < CHUNK_ATTEMPTS => {
                attempt += 1;
                crate::rt::sleep(Duration::from_millis(200 << attempt)).await;
            }
            other => return other,
        }
    }
}

fn read_full(f: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

impl Client {
    /// Encrypts and uploads a file; returns the pointer to send.
    pub async fn upload_attachment(
        &self,
        path: &Path,
        progress: Progress<'_>,
    ) -> Result<AttachmentPointer, ClientError> {
        let io =
            |e: std::io::Error| ClientError::Usage(format!("cannot read {}: {e}", path.display()));
        let files = self.profile().files();
        let meta = files.metadata(path).map_err(io)?;
        let size = meta.len;
        let limits = self.api().limits().await?;
        if limits.max_attachment_bytes > 0 && size > limits.max_attachment_bytes {
            return Err(ClientError::Usage(format!(
                "{} is {size} bytes; this server accepts attachments up to {} bytes",
                path.display(),
                limits.max_attachment_bytes
            )));
        }
        let mut file = files.open(path).map_err(io)?;
        let mut head = vec![0u8; 64];
        let n = read_full(&mut file, &mut head).map_err(io)?;
        head.truncate(n);
        let name = sanitise_name(
            &path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let content_type = sniff_content_type(&head, &name).to_string();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let media = crate::media::inspect(&mut file, &content_type, size);

        let total = ciphertext_len(size);
        // Resume an interrupted upload of this very file: same blob, same
        // key, so the chunks already on the server are still valid.
        let canonical = files.identity(path).map_err(io)?;
        let modified = meta.modified_ns;
        let mut resumed = None;
        if let Some((blob, key)) = self.local().upload_for(&canonical, size, modified)? {
            match self.api().blob_status(&blob).await {
                Ok(info) if info.size == total => {
                    use base64::Engine;
                    let k = base64::engine::general_purpose::STANDARD
                        .decode(&key)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok());
                    match k {
                        Some(k) => resumed = Some((info, k)),
                        None => self.local().end_upload(&blob)?,
                    }
                }
                _ => self.local().end_upload(&blob)?,
            }
        }
        let (blob, key) = match resumed {
            Some(r) => r,
            None => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let blob = self.api().create_blob(total).await?;
                self.local().start_upload(
                    &canonical,
                    size,
                    modified,
                    &blob.id,
                    &AttachmentPointer::encode_key(&key),
                )?;
                (blob, key)
            }
        };
        let missing: std::collections::BTreeSet<u64> = blob.missing.iter().copied().collect();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut encryptor = Encryptor::new(&key);
        let mut digester = Digester::new();
        let chunks = chunk_count(size);
        let mut buf = vec![0u8; CHUNK_SIZE];
        let mut done = 0u64;
        for index in 0..chunks {
            let n = read_full(&mut file, &mut buf).map_err(io)?;
            let last = index + 1 == chunks;
            let ciphertext = encryptor.encrypt_chunk(&buf[..n], last).map_err(|e| {
                ClientError::Usage(format!(
                    "{} changed while it was being sent: {e}",
                    path.display()
                ))
            })?;
            digester.update(&ciphertext);
            done += ciphertext.len() as u64;
            if missing.contains(&index) {
                let id = blob.id.clone();
                with_retries(|| self.api().put_chunk(&id, index, ciphertext.clone())).await?;
            }
            progress(done, total);
        }
        if !blob.complete {
            self.api().complete_blob(&blob.id).await?;
        }
        self.local().end_upload(&blob.id)?;
        Ok(AttachmentPointer {
            blob: blob.id,
            key: AttachmentPointer::encode_key(&key),
            digest: digester.finish(),
            size,
            name,
            content_type,
            thumbnail: media.thumbnail,
            width: media.width,
            height: media.height,
            duration_ms: media.duration_ms,
        })
    }

    /// Downloads, checks and decrypts an attachment into `dir`; returns the
    /// saved file's path.
    pub async fn download_attachment(
        &self,
        pointer: &AttachmentPointer,
        dir: &Path,
        prefix: &str,
        progress: Progress<'_>,
    ) -> Result<PathBuf, ClientError> {
        let key = pointer
            .key_bytes()
            .map_err(|e| ClientError::Usage(format!("damaged attachment pointer: {e}")))?;
        let io = |e: std::io::Error| {
            ClientError::Usage(format!("cannot save into {}: {e}", dir.display()))
        };
        let files = self.profile().files();
        let name = sanitise_name(&pointer.name);
        let dest = dir.join(format!("{prefix}-{name}"));
        let tmp = dir.join(format!("{prefix}-{name}.part"));
        let mut out = files.create(&tmp).map_err(io)?;
        let total = ciphertext_len(pointer.size);
        let chunks = total.div_ceil(BLOB_CHUNK_BYTES);
        let mut decryptor = Decryptor::new(&key);
        let mut digester = Digester::new();
        let mut done = 0u64;
        let result: Result<(), ClientError> = async {
            for index in 0..chunks {
                let bytes = with_retries(|| self.api().get_chunk(&pointer.blob, index)).await?;
                digester.update(&bytes);
                let plain = decryptor
                    .decrypt_chunk(&bytes, index + 1 == chunks)
                    .map_err(|e| ClientError::Usage(e.to_string()))?;
                out.write_all(&plain).map_err(io)?;
                done += bytes.len() as u64;
                progress(done, total);
            }
            decryptor
                .finish()
                .map_err(|e| ClientError::Usage(e.to_string()))?;
            if digester.finish() != pointer.digest {
                return Err(ClientError::Usage(format!(
                    "attachment {name} does not match its digest: it was altered; not saved"
                )));
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            drop(out);
            let _ = files.remove(&tmp);
            return Err(e);
        }
        out.finish().map_err(io)?;
        files.rename(&tmp, &dest).map_err(io)?;
        Ok(dest)
    }

    /// Removes the files under `dir` that no message and no waiting draft
    /// refers to and that are older than `keep` (a file picked and then
    /// abandoned in the web app); returns how many went.
    pub fn forget_unsent(&self, dir: &Path, keep: Duration) -> Result<usize, ClientError> {
        let files = self.profile().files();
        let listed = files
            .list(dir)
            .map_err(|e| ClientError::Usage(format!("cannot list {}: {e}", dir.display())))?;
        if listed.is_empty() {
            return Ok(0);
        }
        let mut used: std::collections::HashSet<PathBuf> = self
            .local()
            .attachment_paths()?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        for (_, _, draft) in self.local().outbox()? {
            if let Ok(d) = serde_json::from_str::<crate::client::outbox::Draft>(&draft) {
                used.extend(d.files);
            }
        }
        let now_ns = (crate::rt::now_ms() as i64).saturating_mul(1_000_000);
        let keep_ns = keep.as_nanos() as i64;
        let mut gone = 0;
        for path in listed {
            let old = files
                .metadata(&path)
                .is_ok_and(|m| now_ns.saturating_sub(m.modified_ns) > keep_ns);
            if old && !used.contains(&path) && files.remove(&path).is_ok() {
                gone += 1;
            }
        }
        Ok(gone)
    }

    /// Downloads every attachment still pending, reporting progress per
    /// file as `(name, done, total)`; returns how many were saved.
    pub async fn download_pending(
        &self,
        progress: &mut dyn FnMut(&str, u64, u64),
    ) -> Result<usize, ClientError> {
        let dir = self.profile().dir().join(ATTACHMENTS_DIR);
        let mut saved = 0;
        for (row, pointer) in self.local().pending_attachments()? {
            let name = pointer.name.clone();
            let mut p = |d: u64, t: u64| progress(&name, d, t);
            match self
                .download_attachment(&pointer, &dir, &row.to_string(), &mut p)
                .await
            {
                Ok(path) => {
                    self.local()
                        .attachment_saved(row, &path.display().to_string())?;
                    saved += 1;
                }
                Err(ClientError::Api(ApiError::Server { status: 404, .. })) => {
                    self.local()
                        .attachment_failed(row, "expired on the server")?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(saved)
    }
}
