//! Reading the small files a configuration names (passwords, certificates, the
//! configuration itself) without letting a wrong path hang or exhaust the exporter.

use std::path::Path;

/// Reads a small file the configuration names (a password, a certificate, the
/// configuration itself): a regular file only, at most `limit` bytes. Opened
/// without blocking, so a FIFO cannot hang the start, and checked with `fstat`
/// after opening, so what is checked is what is read; `/dev/zero` is refused
/// instead of read until memory runs out.
pub fn read_small_file(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "{} is not a regular file (a {what} must be one)",
            path.display()
        ));
    }
    let too_big = || {
        format!(
            "{} is larger than {limit} bytes, the limit for a {what}",
            path.display()
        )
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_read_and_others_refused() {
        let dir = std::env::temp_dir().join(format!("dbconn-dsn-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok");
        std::fs::write(&ok, "secret\n").unwrap();
        assert_eq!(
            read_small_file(&ok, 7, "password file").unwrap(),
            b"secret\n"
        );
        let err = read_small_file(&ok, 6, "password file").unwrap_err();
        assert!(err.contains("larger than 6 bytes"), "{err}");
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        for path in [
            fifo.as_path(),
            std::path::Path::new("/dev/zero"),
            dir.as_path(),
        ] {
            let err = read_small_file(path, 4096, "password file").unwrap_err();
            assert!(err.contains("not a regular file"), "{err}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let err = read_small_file(&dir.join("missing"), 10, "password file").unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
