//! A bounded folder of signed artifacts on the executor's own disk.
//!
//! Reading an artifact from the JetStream object store costs an info
//! request, an ordered consumer created and torn down, and the chunks'
//! delivery: a few milliseconds and a consumer on the server per read, and
//! a burst of misses (many functions, more than the memory cache holds)
//! runs into the server's consumer limit. An executor evicts and reloads
//! the same artifacts over and over in that case, so it keeps a copy of
//! each artifact it read or made in a local folder, bounded in bytes
//! (least recently used files deleted), and reads it from there first.
//!
//! A file holds the artifact exactly as the store does (tag, then the
//! serialized component) and is checked on every read like one from the
//! store: the folder is a cache, never trusted. It is read into memory,
//! checked, and deserialized from those checked bytes (not mapped from the
//! file, which could change between the check and the mapping). Files are
//! written to a temporary name and renamed, so a reader never sees half of
//! one, and several executors may share a folder (each bounds only what it
//! wrote or found at start).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lru::LruCache;

/// A temporary file older than this is a write a crash cut short.
const STALE_WRITE: std::time::Duration = std::time::Duration::from_secs(600);

/// The local copies, by object name (`<fingerprint>-<digest>`).
pub struct LocalArtifacts {
    dir: PathBuf,
    max_bytes: u64,
    files: Mutex<Files>,
}

struct Files {
    lru: LruCache<String, u64>,
    bytes: u64,
}

impl std::fmt::Debug for LocalArtifacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalArtifacts").field("dir", &self.dir).field("max_bytes", &self.max_bytes).finish()
    }
}

impl LocalArtifacts {
    /// The folder `dir` (created if missing, private to this user), holding
    /// at most `max_bytes`; files already there count, oldest first.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            // Another executor sharing the folder may delete a file meanwhile.
            let Ok((entry, meta)) = entry.and_then(|e| e.metadata().map(|m| (e, m))) else { continue };
            let name = entry.file_name().to_string_lossy().into_owned();
            if !meta.is_file() {
                continue;
            }
            if name.starts_with('.') {
                // A write cut short by a crash, unless another executor is
                // writing it now.
                let stale = meta
                    .modified()
                    .ok()
                    .and_then(|at| at.elapsed().ok())
                    .is_some_and(|age| age > STALE_WRITE);
                if stale {
                    let _ = std::fs::remove_file(entry.path());
                }
                continue;
            }
            found.push((meta.modified().ok(), name, meta.len()));
        }
        found.sort();
        let local = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            files: Mutex::new(Files { lru: LruCache::unbounded(), bytes: 0 }),
        };
        for (_, name, len) in found {
            local.admit(name, len);
        }
        Ok(local)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.files.lock().expect("local artifacts lock").bytes
    }

    /// The stored form of `name`, if there is a copy of at most
    /// `max_len` bytes (blocking IO). A longer file is not ours: deleted.
    pub fn read(&self, name: &str, max_len: u64) -> Option<Vec<u8>> {
        use std::io::Read as _;
        let path = self.dir.join(name);
        let mut sealed = Vec::new();
        let read =
            std::fs::File::open(&path).and_then(|file| file.take(max_len + 1).read_to_end(&mut sealed));
        match read {
            Ok(len) if len as u64 <= max_len => {
                self.files.lock().expect("local artifacts lock").lru.get(name);
                Some(sealed)
            }
            Ok(_) => {
                self.remove(name);
                None
            }
            Err(_) => {
                // Deleted by another executor sharing the folder, say.
                self.forget(name);
                None
            }
        }
    }

    /// Keeps a copy of `sealed` as `name`, deleting the least recently used
    /// copies past the budget (blocking IO). Failures only cost a later
    /// read from the store, so they are logged, not returned.
    pub fn write(&self, name: &str, sealed: &[u8]) {
        let len = sealed.len() as u64;
        if len > self.max_bytes {
            return;
        }
        let temp = self.dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
        let written =
            std::fs::write(&temp, sealed).and_then(|()| std::fs::rename(&temp, self.dir.join(name)));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temp);
            tracing::warn!(%err, dir = %self.dir.display(), "could not keep a local copy of an artifact");
            return;
        }
        self.admit(name.to_owned(), len);
    }

    /// Drops the copy of `name` (refused, or gone).
    pub fn remove(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir.join(name));
        self.forget(name);
    }

    fn forget(&self, name: &str) {
        let mut files = self.files.lock().expect("local artifacts lock");
        if let Some(len) = files.lru.pop(name) {
            files.bytes -= len;
        }
    }

    fn admit(&self, name: String, len: u64) {
        let mut doomed = Vec::new();
        {
            let mut files = self.files.lock().expect("local artifacts lock");
            if let Some(old) = files.lru.put(name, len) {
                files.bytes -= old;
            }
            files.bytes += len;
            while files.bytes > self.max_bytes {
                let Some((old, old_len)) = files.lru.pop_lru() else { break };
                files.bytes -= old_len;
                doomed.push(old);
            }
        }
        for old in doomed {
            let _ = std::fs::remove_file(self.dir.join(old));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Longer than any copy these tests write.
    const MAX: u64 = 1 << 20;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir() -> Dir {
        Dir(std::env::temp_dir().join(format!("faas-local-artifacts-{}", uuid::Uuid::new_v4().simple())))
    }

    #[test]
    fn copies_are_bounded_in_bytes_least_recently_used_first_and_survive_a_reopen() {
        let dir = dir();
        let local = LocalArtifacts::open(&dir.0, 250).unwrap();
        for name in ["a", "b"] {
            local.write(name, &[1; 100]);
        }
        assert_eq!(local.read("a", MAX).as_deref(), Some(&[1u8; 100][..]), "a is now the most recently used");
        local.write("c", &[2; 100]);
        assert!(local.read("b", MAX).is_none(), "b was the least recently used and its file went");
        assert!(!dir.0.join("b").exists());
        assert_eq!(local.bytes(), 200);
        local.write("too-big", &[3; 251]);
        assert!(local.read("too-big", MAX).is_none(), "a copy larger than the folder's budget is not kept");

        // A file longer than a read allows is not ours: refused and deleted.
        assert!(local.read("c", 99).is_none());
        assert!(!dir.0.join("c").exists() && local.bytes() == 100);
        local.write("c", &[2; 100]);

        // A temporary file left by a crash goes; one another executor is
        // writing now stays; the copies count again.
        std::fs::write(dir.0.join(".c.half"), b"x").unwrap();
        let old = std::time::SystemTime::now() - 2 * STALE_WRITE;
        std::fs::File::options().write(true).open(dir.0.join(".c.half")).unwrap().set_modified(old).unwrap();
        std::fs::write(dir.0.join(".d.writing"), b"x").unwrap();
        let reopened = LocalArtifacts::open(&dir.0, 250).unwrap();
        assert_eq!(reopened.bytes(), 200);
        assert!(!dir.0.join(".c.half").exists());
        assert!(dir.0.join(".d.writing").exists());
        reopened.remove("a");
        assert!(reopened.read("a", MAX).is_none() && reopened.bytes() == 100);
    }
}
