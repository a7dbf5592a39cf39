//! Values built from small files that are re-read every interval and rebuilt when they change.
//!
//! The current value sits behind a lock that is only held to clone an `Arc`: a user takes the
//! value and keeps it for as long as it needs (a TLS connection for its lifetime, a request
//! for its duration), so a reload never changes anything under it. Files are compared by
//! content, not mtime (mtime can miss a replacement within its granularity, and the files are
//! small). New files that cannot be used are reported once and the previous value stays.

use std::future::Future;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

/// Where a [`Watched`] value comes from: files to read, and how to build the value from them.
pub trait Source: Send + Sync + 'static {
    /// The files' contents, compared to tell whether anything changed.
    type Files: PartialEq + Send + 'static;
    /// What is built from them.
    type Value: Send + Sync + 'static;
    /// Why the files cannot be read or used.
    type Error: std::error::Error + Send + 'static;

    /// Reads the files whole (blocking).
    fn read(&self) -> Result<Self::Files, Self::Error>;

    /// Builds the value from the files' contents.
    fn build(&self, files: &Self::Files) -> Result<Self::Value, Self::Error>;
}

/// A value parsed from one small UTF-8 text file.
pub trait FromText: Sized + Send + Sync + 'static {
    /// Why the file cannot be read or used; it names the file.
    type Error: std::error::Error + Send + 'static;

    /// Parses the file's text; `origin` names the file in errors.
    fn from_text(text: &str, origin: &str) -> Result<Self, Self::Error>;

    /// The error for a file that cannot be read (`Some` I/O error) or is not UTF-8 (`None`).
    fn unusable(path: &Path, e: Option<std::io::Error>) -> Self::Error;
}

/// One file whose contents parse into a `T`.
pub struct FileSource<T> {
    path: PathBuf,
    parsed: PhantomData<fn() -> T>,
}

impl<T> FileSource<T> {
    /// The file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            parsed: PhantomData,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<T: FromText> Source for FileSource<T> {
    type Files = Vec<u8>;
    type Value = T;
    type Error = T::Error;

    fn read(&self) -> Result<Vec<u8>, T::Error> {
        std::fs::read(&self.path).map_err(|e| T::unusable(&self.path, Some(e)))
    }

    fn build(&self, files: &Vec<u8>) -> Result<T, T::Error> {
        let text = std::str::from_utf8(files).map_err(|_| T::unusable(&self.path, None))?;
        T::from_text(text, &self.path.display().to_string())
    }
}

/// A value built from files, with the files last tried.
pub struct Watched<S: Source> {
    source: S,
    current: RwLock<Arc<S::Value>>,
    /// The files last tried, so a broken file is reported once, not every interval.
    last_tried: Mutex<S::Files>,
}

/// What one reload check did.
#[derive(Debug)]
pub enum Reload<E> {
    /// The files are as last tried.
    Unchanged,
    /// A new value is in use.
    Reloaded,
    /// The files changed (or cannot be read) and cannot be used; the old value stays.
    Failed(E),
}

/// Outcome of a reload that did something, as a metric label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReloadResult {
    /// The new files are in use.
    ok,
    /// The new files are unusable; the previous value stays.
    error,
}

/// Label set carrying a reload outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// The outcome.
    pub result: ReloadResult,
}

impl<S: Source> Watched<S> {
    /// Reads the files and builds the first value; unusable files are an error.
    pub fn load(source: S) -> Result<Self, S::Error> {
        let files = source.read()?;
        let value = source.build(&files)?;
        Ok(Self {
            source,
            current: RwLock::new(Arc::new(value)),
            last_tried: Mutex::new(files),
        })
    }

    /// The value in force now.
    pub fn current(&self) -> Arc<S::Value> {
        // A poisoned lock still holds a complete value: the writer only swaps an Arc.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Where the value comes from.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Re-reads the files and swaps in a new value if they changed and are usable (blocking).
    pub fn reload_if_changed(&self) -> Reload<S::Error> {
        let files = match self.source.read() {
            Ok(f) => f,
            // A file mid-replacement may be missing for a moment; retried next interval.
            Err(e) => return Reload::Failed(e),
        };
        let mut last = self
            .last_tried
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *last == files {
            return Reload::Unchanged;
        }
        let built = self.source.build(&files);
        *last = files;
        match built {
            Ok(value) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }
}

/// Checks `watched` every `interval` until `shutdown` completes, handing every reload that did
/// something ([`Reload::Reloaded`] or [`Reload::Failed`]) to `report`, which logs it under the
/// caller's own target and counts it.
pub async fn run<S: Source>(
    watched: Arc<Watched<S>>,
    interval: Duration,
    report: impl Fn(Reload<S::Error>) + Send,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = &mut shutdown => return,
        }
        let check = watched.clone();
        // Reading files and parsing keys or hashes is blocking work; keep it off the network
        // threads.
        let Ok(outcome) = tokio::task::spawn_blocking(move || check.reload_if_changed()).await
        else {
            continue;
        };
        if !matches!(outcome, Reload::Unchanged) {
            report(outcome);
        }
    }
}

impl<E> Reload<E> {
    /// The metric label of a reload that did something (`Unchanged` counts as `ok`).
    pub fn result(&self) -> ReloadResult {
        match self {
            Reload::Failed(_) => ReloadResult::error,
            _ => ReloadResult::ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number in a file.
    struct NumberFile(PathBuf);

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Bad(String);

    impl Source for NumberFile {
        type Files = Vec<u8>;
        type Value = u32;
        type Error = Bad;

        fn read(&self) -> Result<Vec<u8>, Bad> {
            std::fs::read(&self.0).map_err(|e| Bad(e.to_string()))
        }

        fn build(&self, files: &Vec<u8>) -> Result<u32, Bad> {
            let text = std::str::from_utf8(files).map_err(|e| Bad(e.to_string()))?;
            text.trim().parse().map_err(|_| Bad(format!("{text:?}")))
        }
    }

    #[test]
    fn changes_are_taken_broken_files_keep_the_old_value_and_are_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        std::fs::write(&path, "1").unwrap();
        let w = Watched::load(NumberFile(path.clone())).unwrap();
        assert_eq!(*w.current(), 1);
        assert!(matches!(w.reload_if_changed(), Reload::Unchanged));

        std::fs::write(&path, "2").unwrap();
        assert!(matches!(w.reload_if_changed(), Reload::Reloaded));
        assert_eq!(*w.current(), 2);

        std::fs::write(&path, "two").unwrap();
        assert!(matches!(w.reload_if_changed(), Reload::Failed(_)));
        assert_eq!(*w.current(), 2, "the old value stays");
        assert!(matches!(w.reload_if_changed(), Reload::Unchanged));

        std::fs::remove_file(&path).unwrap();
        assert!(matches!(w.reload_if_changed(), Reload::Failed(_)));
        std::fs::write(&path, "3").unwrap();
        assert!(matches!(w.reload_if_changed(), Reload::Reloaded));
        assert_eq!(*w.current(), 3);
    }

    #[test]
    fn unusable_files_refuse_the_first_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        assert!(Watched::load(NumberFile(path.clone())).is_err());
        std::fs::write(&path, "x").unwrap();
        assert!(Watched::load(NumberFile(path)).is_err());
    }

    #[tokio::test]
    async fn the_loop_counts_reloads_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        std::fs::write(&path, "1").unwrap();
        let w = Arc::new(Watched::load(NumberFile(path.clone())).unwrap());
        let counted = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sink = counted.clone();
        let task = tokio::spawn(run(
            w.clone(),
            Duration::from_millis(20),
            move |r: Reload<Bad>| sink.lock().unwrap().push(r.result()),
            async move {
                let _ = stop_rx.await;
            },
        ));
        std::fs::write(&path, "5").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while *w.current() != 5 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(*w.current(), 5);
        stop_tx.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(*counted.lock().unwrap(), vec![ReloadResult::ok]);
    }
}
