//! Where a profile keeps files: attachments it received, copies of what it
//! sends, profile photos, history transfers.
//!
//! The CLI keeps them in its directory ([`NativeFiles`]). A browser has no
//! file system the client's synchronous code can write to, but it has the
//! same SQLite pool the local store lives in, so the web app keeps files as
//! chunks in one more database ([`SqliteFiles`]). Both sit behind
//! [`FileStore`], so attachments, photos and history run the same code in
//! both, and the chunked store is tested natively.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};

/// Bytes per row of [`SqliteFiles`]: small enough that a read or write
/// never holds much in memory, big enough that a 100 MB video is 1,600
/// rows.
pub const FILE_CHUNK_BYTES: usize = 64 * 1024;
/// Longest path a [`SqliteFiles`] keeps.
pub const MAX_FILE_PATH_BYTES: usize = 1024;

/// A file opened for reading.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// A file being written: nothing is visible under its path until
/// [`FileWriter::finish`] (for [`NativeFiles`], the caller writes to a
/// temporary name and renames, as before).
pub trait FileWriter: Write + Send {
    /// Makes the file durable and visible.
    fn finish(self: Box<Self>) -> io::Result<()>;
}

/// Size and modification time of a stored file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Bytes.
    pub len: u64,
    /// Last written, nanoseconds since the Unix epoch (0 when unknown).
    pub modified_ns: i64,
}

/// The few file operations the client needs.
pub trait FileStore: Send + Sync + fmt::Debug {
    /// Opens a file to read.
    fn open(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>>;
    /// Size and modification time.
    fn metadata(&self, path: &Path) -> io::Result<FileMeta>;
    /// A name that stays the same for the same file (to resume uploads).
    fn identity(&self, path: &Path) -> io::Result<String>;
    /// Creates (or replaces) a file, with its parent folders.
    fn create(&self, path: &Path) -> io::Result<Box<dyn FileWriter>>;
    /// Renames a file, replacing any at `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file; one already gone is not an error.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Every file under `dir`, at any depth (none when it does not exist).
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;

    /// Whether a file is there.
    fn exists(&self, path: &Path) -> bool {
        self.metadata(path).is_ok()
    }

    /// A whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.open(path)?.read_to_end(&mut out)?;
        Ok(out)
    }

    /// Writes a whole file.
    fn write(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut w = self.create(path)?;
        w.write_all(bytes)?;
        w.finish()
    }

    /// Copies a file.
    fn copy(&self, from: &Path, to: &Path) -> io::Result<u64> {
        let mut r = self.open(from)?;
        let mut w = self.create(to)?;
        let n = io::copy(&mut r, &mut w)?;
        w.finish()?;
        Ok(n)
    }
}

/// Files in the file system (the CLI).
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeFiles;

impl FileWriter for std::fs::File {
    fn finish(self: Box<Self>) -> io::Result<()> {
        self.sync_all()
    }
}

impl FileStore for NativeFiles {
    fn open(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(std::fs::File::open(path)?))
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0);
        Ok(FileMeta {
            len: meta.len(),
            modified_ns,
        })
    }

    fn identity(&self, path: &Path) -> io::Result<String> {
        Ok(path.canonicalize()?.display().to_string())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FileWriter>> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(Box::new(std::fs::File::create(path)?))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(d) = dirs.pop() {
            let entries = match std::fs::read_dir(&d) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                other => other?,
            };
            for entry in entries {
                let entry = entry?;
                if entry.file_type()?.is_dir() {
                    dirs.push(entry.path());
                } else {
                    out.push(entry.path());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Files as 64 KiB chunks in a SQLite database (the web app, whose
/// databases live in the browser's origin-private file system). The
/// database opens on first use.
#[derive(Clone)]
pub struct SqliteFiles {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Option<Connection>>,
}

impl fmt::Debug for SqliteFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteFiles")
            .field("path", &self.inner.path)
            .finish()
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = TRUNCATE;
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE,
    len INTEGER NOT NULL,
    modified INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    file INTEGER NOT NULL,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file, n)
) WITHOUT ROWID;
";

fn db_error(e: rusqlite::Error) -> io::Error {
    io::Error::other(e)
}

fn key(path: &Path) -> io::Result<String> {
    let s = path.to_string_lossy().into_owned();
    if s.len() > MAX_FILE_PATH_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a stored file's path is at most {MAX_FILE_PATH_BYTES} bytes"),
        ));
    }
    Ok(s)
}

/// Deletes the file at `path`, if any, with its chunks (inside the
/// caller's transaction).
fn drop_path(c: &Connection, path: &str) -> rusqlite::Result<()> {
    c.execute(
        "DELETE FROM chunks WHERE file = (SELECT id FROM files WHERE path = ?1)",
        [path],
    )?;
    c.execute("DELETE FROM files WHERE path = ?1", [path])?;
    Ok(())
}

fn not_found(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no file {path}"))
}

impl SqliteFiles {
    /// The store in the database at `path`.
    pub fn new(path: impl Into<PathBuf>) -> SqliteFiles {
        SqliteFiles {
            inner: Arc::new(Inner {
                path: path.into(),
                conn: Mutex::new(None),
            }),
        }
    }

    /// Removes every file (signing out).
    pub fn clear(&self) -> io::Result<()> {
        self.inner.with(|c| {
            c.execute_batch("BEGIN; DELETE FROM chunks; DELETE FROM files; COMMIT;")?;
            Ok(())
        })
    }

    fn find(&self, path: &Path) -> io::Result<(i64, FileMeta)> {
        let k = key(path)?;
        self.inner
            .with(|c| {
                c.query_row(
                    "SELECT id, len, modified FROM files WHERE path = ?1",
                    [&k],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            FileMeta {
                                len: r.get::<_, i64>(1)? as u64,
                                modified_ns: r.get(2)?,
                            },
                        ))
                    },
                )
                .optional()
            })?
            .ok_or_else(|| not_found(&k))
    }
}

impl Inner {
    /// Runs `f` on the connection, opening it (and dropping what an
    /// interrupted write left) the first time.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> io::Result<T> {
        let mut guard = self
            .conn
            .lock()
            .map_err(|_| io::Error::other("the file store failed earlier in this session"))?;
        if guard.is_none() {
            let conn = Connection::open(&self.path).map_err(db_error)?;
            conn.execute_batch(SCHEMA).map_err(db_error)?;
            conn.execute_batch(
                "BEGIN;
                 DELETE FROM chunks WHERE file IN (SELECT id FROM files WHERE path IS NULL);
                 DELETE FROM files WHERE path IS NULL;
                 COMMIT;",
            )
            .map_err(db_error)?;
            *guard = Some(conn);
        }
        f(guard.as_ref().expect("opened above")).map_err(db_error)
    }
}

impl FileStore for SqliteFiles {
    fn open(&self, path: &Path) -> io::Result<Box<dyn ReadSeek>> {
        let (id, meta) = self.find(path)?;
        Ok(Box::new(ChunkReader {
            inner: self.inner.clone(),
            id,
            len: meta.len,
            pos: 0,
            chunk: None,
        }))
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        Ok(self.find(path)?.1)
    }

    fn identity(&self, path: &Path) -> io::Result<String> {
        self.find(path)?;
        key(path)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn FileWriter>> {
        let k = key(path)?;
        // The new file has no path until it is finished, so a reader of
        // the old one, or a crash, never sees half of it.
        let id = self.inner.with(|c| {
            c.execute(
                "INSERT INTO files (path, len, modified) VALUES (NULL, 0, 0)",
                [],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        Ok(Box::new(ChunkWriter {
            inner: self.inner.clone(),
            id,
            path: k,
            buf: Vec::with_capacity(FILE_CHUNK_BYTES),
            n: 0,
            len: 0,
            finished: false,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (key(from)?, key(to)?);
        let moved = self.inner.with(|c| {
            let tx = c.unchecked_transaction()?;
            drop_path(&tx, &to)?;
            let n = tx.execute("UPDATE files SET path = ?2 WHERE path = ?1", [&from, &to])?;
            tx.commit()?;
            Ok(n)
        })?;
        if moved == 0 {
            return Err(not_found(&from));
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut prefix = key(dir)?;
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        // Paths between `prefix` and the next string after it: an index
        // range, no LIKE escaping.
        let mut end = prefix.clone();
        end.pop();
        end.push('0');
        self.inner.with(|c| {
            let mut st =
                c.prepare("SELECT path FROM files WHERE path >= ?1 AND path < ?2 ORDER BY path")?;
            let rows = st.query_map([&prefix, &end], |r| r.get::<_, String>(0))?;
            rows.map(|r| r.map(PathBuf::from)).collect()
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let k = key(path)?;
        self.inner.with(|c| {
            let tx = c.unchecked_transaction()?;
            drop_path(&tx, &k)?;
            tx.commit()
        })
    }
}

struct ChunkReader {
    inner: Arc<Inner>,
    id: i64,
    len: u64,
    pos: u64,
    /// The chunk last read: its number and bytes.
    chunk: Option<(u64, Vec<u8>)>,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        let size = FILE_CHUNK_BYTES as u64;
        let n = self.pos / size;
        if self.chunk.as_ref().map(|(k, _)| *k) != Some(n) {
            let data: Vec<u8> = self
                .inner
                .with(|c| {
                    c.query_row(
                        "SELECT data FROM chunks WHERE file = ?1 AND n = ?2",
                        params![self.id, n as i64],
                        |r| r.get(0),
                    )
                    .optional()
                })?
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file was removed or replaced while it was read",
                    )
                })?;
            self.chunk = Some((n, data));
        }
        let (_, data) = self.chunk.as_ref().expect("loaded above");
        let at = (self.pos - n * size) as usize;
        let available = data.len().saturating_sub(at);
        if available == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "a stored file is shorter than its recorded length",
            ));
        }
        let k = available.min(out.len());
        out[..k].copy_from_slice(&data[at..at + k]);
        self.pos += k as u64;
        Ok(k)
    }
}

impl Seek for ChunkReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

struct ChunkWriter {
    inner: Arc<Inner>,
    id: i64,
    path: String,
    buf: Vec<u8>,
    /// Chunks written.
    n: i64,
    len: u64,
    finished: bool,
}

impl ChunkWriter {
    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let (id, n) = (self.id, self.n);
        let buf = &self.buf;
        self.inner.with(|c| {
            c.execute(
                "INSERT INTO chunks (file, n, data) VALUES (?1, ?2, ?3)",
                params![id, n, buf],
            )
        })?;
        self.n += 1;
        self.buf.clear();
        Ok(())
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let k = (FILE_CHUNK_BYTES - self.buf.len()).min(bytes.len());
        self.buf.extend_from_slice(&bytes[..k]);
        self.len += k as u64;
        if self.buf.len() == FILE_CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for ChunkWriter {
    fn finish(mut self: Box<Self>) -> io::Result<()> {
        self.flush_chunk()?;
        let (id, len, path) = (self.id, self.len as i64, self.path.clone());
        let modified = crate::rt::now_ms() as i64 * 1_000_000;
        self.inner.with(|c| {
            let tx = c.unchecked_transaction()?;
            drop_path(&tx, &path)?;
            tx.execute(
                "UPDATE files SET path = ?2, len = ?3, modified = ?4 WHERE id = ?1",
                params![id, path, len, modified],
            )?;
            tx.commit()
        })?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for ChunkWriter {
    /// An unfinished file goes (and if this fails, the next open drops it).
    fn drop(&mut self) {
        if !self.finished {
            let id = self.id;
            let _ = self.inner.with(|c| {
                c.execute("DELETE FROM chunks WHERE file = ?1", [id])?;
                c.execute("DELETE FROM files WHERE id = ?1", [id])
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stores() -> (tempfile::TempDir, Vec<Box<dyn FileStore>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let stores: Vec<Box<dyn FileStore>> = vec![
            Box::new(NativeFiles),
            Box::new(SqliteFiles::new(dir.path().join("files.sqlite3"))),
        ];
        (dir, stores)
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// One behaviour, both stores: what the web app does to files is what
    /// the CLI's tests already prove.
    #[test]
    fn both_stores_write_read_seek_rename_and_remove_alike() {
        let (dir, stores) = stores();
        for (i, files) in stores.iter().enumerate() {
            let base = dir.path().join(format!("s{i}"));
            let a = base.join("sub/a.bin");
            let b = base.join("b.bin");
            let bytes = pattern(3 * FILE_CHUNK_BYTES + 1234);
            assert_eq!(
                files.metadata(&a).map_err(|e| e.kind()).err(),
                Some(io::ErrorKind::NotFound),
                "store {i}"
            );
            let mut w = files.create(&a).expect("create");
            for piece in bytes.chunks(100_000) {
                w.write_all(piece).expect("write");
            }
            w.finish().expect("finish");
            assert_eq!(files.metadata(&a).expect("meta").len, bytes.len() as u64);
            assert_eq!(files.read(&a).expect("read"), bytes, "store {i}");

            let mut r = files.open(&a).expect("open");
            let at = FILE_CHUNK_BYTES as u64 - 3;
            r.seek(SeekFrom::Start(at)).expect("seek");
            let mut six = [0u8; 6];
            r.read_exact(&mut six).expect("across a chunk boundary");
            assert_eq!(&six[..], &bytes[at as usize..at as usize + 6]);
            r.seek(SeekFrom::End(-4)).expect("seek end");
            let mut tail = Vec::new();
            r.read_to_end(&mut tail).expect("tail");
            assert_eq!(tail, &bytes[bytes.len() - 4..]);

            files.write(&b, b"old").expect("write b");
            files.rename(&a, &b).expect("rename replaces");
            assert!(!files.exists(&a));
            assert_eq!(files.read(&b).expect("read b"), bytes);
            assert_eq!(files.copy(&b, &a).expect("copy"), bytes.len() as u64);
            assert_eq!(files.read(&a).expect("copy read"), bytes);
            files.remove(&b).expect("remove");
            files.remove(&b).expect("removing twice is fine");
            assert!(!files.exists(&b));
            files.write(&b, b"").expect("empty file");
            assert_eq!(files.read(&b).expect("empty"), b"");
            files
                .write(&base.join("sub/deeper/c"), b"c")
                .expect("deeper");
            files
                .write(&base.join("sub2/x"), b"beside")
                .expect("beside");
            assert_eq!(
                files.list(&base.join("sub")).expect("list"),
                vec![base.join("sub/a.bin"), base.join("sub/deeper/c")],
                "store {i}"
            );
            assert!(files.list(&base.join("none")).expect("none").is_empty());
        }
    }

    #[test]
    fn an_unfinished_file_is_never_seen_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("files.sqlite3");
        let files = SqliteFiles::new(&db);
        let path = Path::new("/p/x");
        files.write(path, b"first").expect("write");
        let mut w = files.create(path).expect("create");
        w.write_all(&pattern(FILE_CHUNK_BYTES * 2)).expect("write");
        assert_eq!(
            files.read(path).expect("old"),
            b"first",
            "replaced on finish only"
        );
        drop(w);
        assert_eq!(files.read(path).expect("old"), b"first");
        let left: i64 = Connection::open(&db)
            .expect("open")
            .query_row("SELECT count(*) FROM chunks", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 1, "only the finished file's chunk");

        // A crash mid-write: the next session drops the half file.
        let w = files.create(Path::new("/p/y")).expect("create");
        std::mem::forget(w);
        let again = SqliteFiles::new(&db);
        assert!(!again.exists(Path::new("/p/y")));
        let rows: i64 = Connection::open(&db)
            .expect("open")
            .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 1);
        again.clear().expect("clear");
        assert!(!again.exists(path));
    }

    #[test]
    fn a_path_longer_than_the_limit_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = SqliteFiles::new(dir.path().join("f.sqlite3"));
        let long = "x".repeat(MAX_FILE_PATH_BYTES + 1);
        let err = files.write(Path::new(&long), b"x").expect_err("too long");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
